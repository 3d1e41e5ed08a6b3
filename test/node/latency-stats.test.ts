import test from 'ava';
import { type HistogramData, LatencyHistogram } from '../../src/runtime/latency-stats.js';
import { seededRandom } from '../core/fixtures.js';

const SEED = 23;

function sorted(data: HistogramData): HistogramData {
  return { ...data, buckets: [...data.buckets].sort((a, b) => a[0] - b[0]) };
}

test(`values recorded in runs of one value give the histogram they give one by one, also when read between (seed ${SEED})`, (t) => {
  const random = seededRandom(SEED);
  const values: number[] = [];
  for (let i = 0; i < 2000; i++) {
    // Runs of repeated values, as the acks of one batch have, among singles.
    const value = Math.round(random() * 5000) / 100;
    const repeat = random() < 0.5 ? 1 : 1 + Math.floor(random() * 50);
    for (let k = 0; k < repeat; k++) values.push(value);
  }
  // The reference: every value in a histogram of its own, merged (no run spans two values).
  const reference = new LatencyHistogram();
  for (const value of values) {
    const single = new LatencyHistogram();
    single.record(value);
    reference.merge(single.toData());
  }
  const subject = new LatencyHistogram();
  let readsBetween = 0;
  values.forEach((value, i) => {
    subject.record(value);
    if (random() < 0.01) {
      // A read settles the run so far; the run goes on afterwards.
      t.is(subject.count, i + 1);
      readsBetween++;
    }
  });
  t.true(readsBetween > 0);
  const got = sorted(subject.toData());
  const expected = sorted(reference.toData());
  t.deepEqual(got.buckets, expected.buckets);
  t.is(got.count, expected.count);
  t.is(got.maxMs, expected.maxMs);
  // Summed in another order: equal up to rounding.
  t.true(Math.abs(got.sumMs - expected.sumMs) < 1e-9 * expected.sumMs);
  t.is(subject.count, values.length);
  t.is(subject.max, Math.max(...values));
  for (const q of [0.5, 0.99]) t.is(subject.percentile(q), reference.percentile(q));
});
