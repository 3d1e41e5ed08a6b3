import test from 'ava';
import { Histogram, Registry } from 'prom-client';
import { WeightedHistogram } from '../../src/node/weighted-histogram.js';
import { Prng } from '../sim/prng.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
const SEED = 17;

test(`a weighted histogram scrapes exactly as prom-client's histogram given one call per observation (seed ${SEED})`, async (t) => {
  const reference = new Registry();
  const weighted = new Registry();
  const one = new Histogram({
    name: 'latency_seconds',
    help: 'h',
    buckets: BOUNDS,
    registers: [reference],
  });
  const many = new WeightedHistogram('latency_seconds', 'h', BOUNDS, [weighted]);
  const prng = new Prng(SEED);
  const random = () => prng.next();
  for (let batch = 0; batch < 200; batch++) {
    // Values on bucket bounds, between them and past the last one.
    const value =
      random() < 0.2 ? BOUNDS[Math.floor(random() * BOUNDS.length)]! : random() ** 3 * 2;
    const times = 1 + Math.floor(random() * 50);
    for (let i = 0; i < times; i++) one.observe(value);
    many.observe(value, times);
  }
  // The sum is one product per batch rather than a long run of additions,
  // so it may differ in the last digits; every other line is the same.
  const sumOf = (text: string) => Number(/latency_seconds_sum (\S+)/.exec(text)![1]);
  const withoutSum = (text: string) => text.replace(/latency_seconds_sum \S+/, '');
  const text = await weighted.metrics();
  const expected = await reference.metrics();
  t.is(withoutSum(text), withoutSum(expected));
  t.true(Math.abs(sumOf(text) - sumOf(expected)) <= 1e-9 * sumOf(expected));
  t.regex(text, /latency_seconds_bucket\{le="\+Inf"\} [1-9]/);
  weighted.resetMetrics();
  t.regex(await weighted.metrics(), /latency_seconds_count 0\n/);
});

test('a weighted histogram refuses bounds that do not increase and observations that are not numbers', (t) => {
  t.throws(() => new WeightedHistogram('x', 'h', [1, 1], []));
  const histogram = new WeightedHistogram('y', 'h', BOUNDS, []);
  t.throws(() => histogram.observe(Number.NaN));
  t.throws(() => histogram.observe(1, -1));
});
