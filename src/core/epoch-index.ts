import { invariant } from './assert.js';

export interface EpochStart {
  readonly epoch: number;
  readonly startSeq: number;
}

/**
 * Knows the epoch of every seq in the log without holding the entries: the
 * log is a run of epochs, each starting at some seq, so a short list of
 * boundaries answers `epochAt(seq)` (the leader epoch cache of Kafka).
 */
export class EpochIndex {
  private starts: EpochStart[];
  private first: number;
  private last: number;
  private epochBefore: number;

  constructor(
    firstSeq: number,
    lastSeq: number,
    epochBeforeFirst: number,
    starts: readonly EpochStart[],
    private readonly maxBoundaries: number,
  ) {
    invariant(lastSeq >= firstSeq - 1, `log range [${firstSeq}, ${lastSeq}] is inverted`);
    this.first = firstSeq;
    this.last = lastSeq;
    this.epochBefore = epochBeforeFirst;
    this.starts = starts.filter((s) => s.startSeq <= lastSeq).map((s) => ({ ...s }));
    for (let i = 1; i < this.starts.length; i++) {
      const previous = this.starts[i - 1]!;
      const current = this.starts[i]!;
      invariant(
        current.epoch > previous.epoch && current.startSeq > previous.startSeq,
        'epoch boundaries must ascend',
      );
    }
  }

  get firstSeq(): number {
    return this.first;
  }

  get lastSeq(): number {
    return this.last;
  }

  get lastEpoch(): number {
    return this.last >= this.first ? this.starts[this.starts.length - 1]!.epoch : this.epochBefore;
  }

  get boundaries(): readonly EpochStart[] {
    return this.starts;
  }

  /** The epoch of the entry at `seq`; 0 for seq 0; undefined when compacted away or not yet written. */
  epochAt(seq: number): number | undefined {
    if (seq === 0) return 0;
    if (seq === this.first - 1) return this.epochBefore;
    if (seq < this.first || seq > this.last) return undefined;
    for (let i = this.starts.length - 1; i >= 0; i--) {
      const start = this.starts[i]!;
      if (start.startSeq <= seq) return start.epoch;
    }
    invariant(false, `no epoch boundary covers seq ${seq}`);
  }

  /** Appends `count` entries of `epoch` from `seq` on. */
  append(seq: number, epoch: number, count = 1): void {
    // Checked before building the messages: this runs for every entry or run.
    if (seq !== this.last + 1)
      invariant(false, `append of seq ${seq} after ${this.last} leaves a gap`);
    if (!(count >= 1)) invariant(false, `append of ${count} entries`);
    const lastEpoch = this.lastEpoch;
    if (epoch < lastEpoch)
      invariant(false, `epoch ${epoch} at seq ${seq} is older than ${lastEpoch}`);
    if (this.starts.length === 0 || epoch > lastEpoch || this.last < this.first) {
      if (this.starts.length >= this.maxBoundaries) this.starts.shift();
      this.starts.push({ epoch, startSeq: seq });
    }
    this.last = seq + count - 1;
  }

  /** Forgets every entry above `seq`. */
  truncateAfter(seq: number): void {
    invariant(
      seq >= this.first - 1,
      `cannot truncate to ${seq}, below the log start ${this.first}`,
    );
    if (seq >= this.last) return;
    this.last = seq;
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]!.startSeq > seq) {
      this.starts.pop();
    }
  }

  /** Forgets every entry: the log starts empty after `seq`, whose epoch was `epoch`. */
  resetAfter(seq: number, epoch: number): void {
    this.first = seq + 1;
    this.last = seq;
    this.epochBefore = epoch;
    this.starts = [];
  }

  /** Forgets every entry below `seq` (retention). */
  compactBefore(seq: number): void {
    if (seq <= this.first) return;
    const newFirst = Math.min(seq, this.last + 1);
    this.epochBefore = this.epochAt(newFirst - 1) ?? this.epochBefore;
    while (this.starts.length > 1 && this.starts[1]!.startSeq <= newFirst) this.starts.shift();
    if (newFirst > this.last) this.starts = [];
    else if (this.starts.length > 0) {
      this.starts[0] = { epoch: this.starts[0]!.epoch, startSeq: newFirst };
    }
    this.first = newFirst;
  }

  /**
   * The largest seq at or below `seq` whose epoch is at most `epoch`, with
   * its epoch: the point from which two logs that disagree may agree again.
   */
  lastAtOrBefore(seq: number, epoch: number): { seq: number; epoch: number } {
    let candidate = Math.min(seq, this.last);
    for (let i = this.starts.length - 1; i >= 0 && candidate >= this.first; i--) {
      const start = this.starts[i]!;
      if (start.startSeq > candidate) continue;
      if (start.epoch <= epoch) return { seq: candidate, epoch: start.epoch };
      candidate = start.startSeq - 1;
    }
    if (candidate >= this.first - 1 && this.epochBefore <= epoch) {
      return { seq: Math.min(candidate, this.first - 1), epoch: this.epochBefore };
    }
    return { seq: 0, epoch: 0 };
  }
}
