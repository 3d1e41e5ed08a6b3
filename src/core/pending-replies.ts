import { invariant } from './assert.js';

export interface SettledReply<T> {
  readonly token: T;
  readonly seq: number;
  /** True when the entry committed as sequenced; false when it was truncated and must be retried. */
  readonly committed: boolean;
}

/**
 * Publishers waiting for their entry to commit, keyed by seq. A reply is good
 * only if the committed entry at that seq is still the one it was given (same
 * epoch): a divergent suffix can be truncated and replaced by a new
 * sequencer, and then the publisher must retry (dedup makes that safe).
 * Any node keeps these, so a deposed sequencer still answers the publishes it
 * took once the new sequencer commits them.
 */
export class PendingReplies<T> {
  private readonly bySeq = new Map<number, { epoch: number; tokens: T[] }>();
  /**
   * The pending seqs in ascending order, so that settling a commit touches
   * only what it settles. Seqs almost always arrive in ascending order (they
   * are appended in order); a retry of an older seq is inserted in place.
   */
  private seqs: number[] = [];
  private head = 0;
  private count = 0;

  constructor(private readonly maxPending: number) {}

  get size(): number {
    return this.count;
  }

  /** Returns false when the limit is reached (the caller answers busy). */
  add(seq: number, epoch: number, token: T): boolean {
    if (this.count >= this.maxPending) return false;
    const waiting = this.bySeq.get(seq);
    if (waiting === undefined) {
      this.bySeq.set(seq, { epoch, tokens: [token] });
      this.insertSeq(seq);
    } else {
      invariant(
        waiting.epoch === epoch,
        `seq ${seq} pending in epochs ${waiting.epoch} and ${epoch}`,
      );
      waiting.tokens.push(token);
    }
    this.count++;
    return true;
  }

  /** Settles every reply at or below `commitSeq`, in seq order; `epochAt` reads the epoch of the committed entry. */
  settleCommitted(
    commitSeq: number,
    epochAt: (seq: number) => number | undefined,
  ): SettledReply<T>[] {
    const settled: SettledReply<T>[] = [];
    while (this.head < this.seqs.length && this.seqs[this.head]! <= commitSeq) {
      const seq = this.seqs[this.head++]!;
      const waiting = this.bySeq.get(seq)!;
      this.bySeq.delete(seq);
      const committed = epochAt(seq) === waiting.epoch;
      for (const token of waiting.tokens) settled.push({ token, seq, committed });
      this.count -= waiting.tokens.length;
    }
    this.compact();
    return settled;
  }

  /** Fails every reply above `seq`: those entries were removed from the log. */
  settleTruncated(seq: number): SettledReply<T>[] {
    const settled: SettledReply<T>[] = [];
    while (this.seqs.length > this.head && this.seqs[this.seqs.length - 1]! > seq) {
      const pendingSeq = this.seqs.pop()!;
      const waiting = this.bySeq.get(pendingSeq)!;
      this.bySeq.delete(pendingSeq);
      for (const token of waiting.tokens) {
        settled.push({ token, seq: pendingSeq, committed: false });
      }
      this.count -= waiting.tokens.length;
    }
    return settled.reverse();
  }

  /** Removes and returns everything (node shutting down). */
  drain(): T[] {
    const tokens: T[] = [];
    for (let i = this.head; i < this.seqs.length; i++) {
      tokens.push(...this.bySeq.get(this.seqs[i]!)!.tokens);
    }
    this.bySeq.clear();
    this.seqs = [];
    this.head = 0;
    this.count = 0;
    return tokens;
  }

  private insertSeq(seq: number): void {
    const last = this.seqs.length > this.head ? this.seqs[this.seqs.length - 1]! : -1;
    if (seq > last) {
      this.seqs.push(seq);
      return;
    }
    let low = this.head;
    let high = this.seqs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.seqs[middle]! < seq) low = middle + 1;
      else high = middle;
    }
    this.seqs.splice(low, 0, seq);
  }

  /** Drops the settled prefix of `seqs` once it is large, so the array stays bounded. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.seqs.length) {
      this.seqs = this.seqs.slice(this.head);
      this.head = 0;
    }
  }
}
