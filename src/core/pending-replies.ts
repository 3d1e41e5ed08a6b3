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
  private count = 0;

  constructor(private readonly maxPending: number) {}

  get size(): number {
    return this.count;
  }

  /** Returns false when the limit is reached (the caller answers busy). */
  add(seq: number, epoch: number, token: T): boolean {
    if (this.count >= this.maxPending) return false;
    const waiting = this.bySeq.get(seq);
    if (waiting === undefined) this.bySeq.set(seq, { epoch, tokens: [token] });
    else {
      invariant(
        waiting.epoch === epoch,
        `seq ${seq} pending in epochs ${waiting.epoch} and ${epoch}`,
      );
      waiting.tokens.push(token);
    }
    this.count++;
    return true;
  }

  /** Settles every reply at or below `commitSeq`; `epochAt` reads the epoch of the committed entry. */
  settleCommitted(
    commitSeq: number,
    epochAt: (seq: number) => number | undefined,
  ): SettledReply<T>[] {
    const settled: SettledReply<T>[] = [];
    for (const [seq, waiting] of this.bySeq) {
      if (seq > commitSeq) continue;
      this.bySeq.delete(seq);
      const committed = epochAt(seq) === waiting.epoch;
      for (const token of waiting.tokens) settled.push({ token, seq, committed });
      this.count -= waiting.tokens.length;
    }
    return settled.sort((a, b) => a.seq - b.seq);
  }

  /** Fails every reply above `seq`: those entries were removed from the log. */
  settleTruncated(seq: number): SettledReply<T>[] {
    const settled: SettledReply<T>[] = [];
    for (const [pendingSeq, waiting] of this.bySeq) {
      if (pendingSeq <= seq) continue;
      this.bySeq.delete(pendingSeq);
      for (const token of waiting.tokens)
        settled.push({ token, seq: pendingSeq, committed: false });
      this.count -= waiting.tokens.length;
    }
    return settled;
  }

  /** Removes and returns everything (node shutting down). */
  drain(): T[] {
    const tokens: T[] = [];
    for (const waiting of this.bySeq.values()) tokens.push(...waiting.tokens);
    this.bySeq.clear();
    this.count = 0;
    return tokens;
  }
}
