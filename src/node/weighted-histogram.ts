import type { Registry } from 'prom-client';
import { invariant } from '../core/assert.js';

/** One exported sample, in the shape prom-client's registry formats. */
interface Sample {
  readonly metricName: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/**
 * A Prometheus histogram without labels that takes many equal observations
 * in one call. The sequencer times a whole batch at once (every message of
 * it was appended and committed at the same moments), and prom-client's
 * histogram takes one observation per call: a batch of 1,000 messages cost
 * 1,000 calls. Scraped like any other metric of the registry.
 */
export class WeightedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    registers: readonly Registry[],
  ) {
    for (let i = 1; i < upperBounds.length; i++)
      invariant(upperBounds[i - 1]! < upperBounds[i]!, `${name}: bucket bounds must increase`);
    this.counts = new Array<number>(upperBounds.length + 1).fill(0);
    for (const registry of registers)
      registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Records `times` observations of `value` (seconds, say). */
  observe(value: number, times = 1): void {
    invariant(Number.isFinite(value) && times >= 0, `${this.name}: bad observation`);
    let bucket = 0;
    while (bucket < this.upperBounds.length && value > this.upperBounds[bucket]!) bucket++;
    this.counts[bucket]! += times;
    this.sum += value * times;
    this.count += times;
  }

  /** Cumulative buckets, then +Inf, sum and count, as the text format lists them. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.upperBounds.length; i++) {
      cumulative += this.counts[i]!;
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { le: this.upperBounds[i]! },
        value: cumulative,
      });
    }
    values.push(
      { metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.count },
      { metricName: `${this.name}_sum`, labels: {}, value: this.sum },
      { metricName: `${this.name}_count`, labels: {}, value: this.count },
    );
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  /** Back to no observations: prom-client's `Registry.resetMetrics()` calls this on every metric. */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}
