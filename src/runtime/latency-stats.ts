/**
 * Latency statistics for the benchmarks. Latencies go into a log-bucketed
 * histogram rather than a sample array, so that a publisher process can
 * record millions of acknowledgements in fixed memory and send its whole
 * distribution to the driver in one small message, where histograms of
 * several processes are merged before percentiles are read.
 */

/** Each bucket is 1% wider than the previous one, so any percentile is off by at most about 0.5%. */
const bucketGrowth = 1.01;
const logGrowth = Math.log(bucketGrowth);
/** Values below this (1 µs) share the first bucket; nothing we measure is that fast. */
const minValueMs = 0.001;

/** A histogram as sent between processes: [bucket index, count] pairs plus exact extremes. */
export interface HistogramData {
  readonly buckets: [number, number][];
  readonly count: number;
  readonly sumMs: number;
  readonly maxMs: number;
}

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;
  private sumMs = 0;
  private maxMs = 0;
  /**
   * Observations of one value not yet put in their bucket: a saturating
   * publisher's acks of one batch settle in one turn with one latency, and
   * recording them as one run spares a logarithm and a map update each.
   */
  private runValueMs = Number.NaN;
  private runTimes = 0;

  static from(data: HistogramData): LatencyHistogram {
    const histogram = new LatencyHistogram();
    histogram.merge(data);
    return histogram;
  }

  get count(): number {
    this.settleRun();
    return this.total;
  }

  get meanMs(): number {
    this.settleRun();
    return this.total === 0 ? Number.NaN : this.sumMs / this.total;
  }

  get max(): number {
    this.settleRun();
    return this.total === 0 ? Number.NaN : this.maxMs;
  }

  record(valueMs: number): void {
    this.recordTimes(valueMs, 1);
  }

  /** Records `valueMs` as `times` observations (messages of one batch share one latency). */
  recordTimes(valueMs: number, times: number): void {
    if (valueMs === this.runValueMs) {
      this.runTimes += times;
      return;
    }
    this.settleRun();
    this.runValueMs = valueMs;
    this.runTimes = times;
  }

  private settleRun(): void {
    if (this.runTimes === 0) return;
    const valueMs = this.runValueMs;
    const times = this.runTimes;
    this.runValueMs = Number.NaN;
    this.runTimes = 0;
    const index = bucketOf(valueMs);
    this.counts.set(index, (this.counts.get(index) ?? 0) + times);
    this.total += times;
    this.sumMs += valueMs * times;
    if (valueMs > this.maxMs) this.maxMs = valueMs;
  }

  merge(data: HistogramData): void {
    this.settleRun();
    for (const [index, count] of data.buckets)
      this.counts.set(index, (this.counts.get(index) ?? 0) + count);
    this.total += data.count;
    this.sumMs += data.sumMs;
    if (data.maxMs > this.maxMs) this.maxMs = data.maxMs;
  }

  /** The value below which a fraction `q` (0..1) of the recorded values lie; NaN when empty. */
  percentile(q: number): number {
    this.settleRun();
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    const indices = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const index of indices) {
      seen += this.counts.get(index)!;
      // The exact maximum is known, so the top bucket never reports more than it.
      if (seen >= rank) return Math.min(bucketMidMs(index), this.maxMs);
    }
    return this.maxMs;
  }

  toData(): HistogramData {
    this.settleRun();
    return {
      buckets: [...this.counts.entries()],
      count: this.total,
      sumMs: this.sumMs,
      maxMs: this.maxMs,
    };
  }
}

function bucketOf(valueMs: number): number {
  if (!(valueMs > minValueMs)) return 0;
  return Math.floor(Math.log(valueMs / minValueMs) / logGrowth);
}

function bucketMidMs(index: number): number {
  return minValueMs * bucketGrowth ** (index + 0.5);
}

/** Percentile of a plain list of values (for small lists such as failover trials), nearest-rank. */
export function percentileOf(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

export function summarize(histogram: LatencyHistogram): LatencySummary {
  return {
    count: histogram.count,
    p50Ms: round(histogram.percentile(0.5), 3),
    p99Ms: round(histogram.percentile(0.99), 3),
    p999Ms: round(histogram.percentile(0.999), 3),
    maxMs: round(histogram.max, 3),
    meanMs: round(histogram.meanMs, 3),
  };
}

export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
