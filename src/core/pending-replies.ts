import { invariant } from './assert.js';

/** A part of a run of replies settled together: seqs [firstSeq, firstSeq + count). */
export interface SettledReply<T> {
  readonly token: T;
  readonly firstSeq: number;
  readonly count: number;
  /** How many seqs of this token's run were settled before this part (0 for its first part). */
  readonly offset: number;
  /** True when the entries committed as sequenced; false when they were replaced and must be retried. */
  readonly committed: boolean;
}

interface Run<T> {
  readonly token: T;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly epoch: number;
  readonly offset: number;
}

/**
 * Publishers waiting for their entries to commit, as runs of consecutive
 * seqs: a publish of many messages that all got new seqs waits as one run,
 * settled with two epoch lookups rather than one map entry per message. A
 * reply is good only if the committed entry at its seq is still the one it
 * was given (same epoch): a divergent suffix can be truncated and replaced
 * by a new sequencer, and then the publisher must retry (dedup makes that
 * safe). Any node keeps these, so a deposed sequencer still answers the
 * publishes it took once the new sequencer commits them.
 */
export class PendingReplies<T> {
  /**
   * The waiting runs, ordered by first seq. Runs almost always arrive in
   * ascending order (seqs are given in order); a retry waiting on an older
   * seq is inserted in place. Two runs may cover the same seq (a duplicate
   * waiting on its original), never in two epochs.
   */
  private runs: (Run<T> | undefined)[] = [];
  private head = 0;
  private count = 0;

  constructor(private readonly maxPending: number) {}

  /** Seqs waiting, counted once per run that waits on them. */
  get size(): number {
    return this.count;
  }

  /**
   * `count` replies wait for seqs [firstSeq, firstSeq + count), all given in
   * `epoch`. Returns false when they would pass the limit (the caller
   * answers busy).
   */
  add(firstSeq: number, count: number, epoch: number, token: T): boolean {
    if (count < 1) invariant(false, `a run of ${count} replies`);
    if (this.count + count > this.maxPending) return false;
    this.insert({ token, firstSeq, lastSeq: firstSeq + count - 1, epoch, offset: 0 });
    this.count += count;
    return true;
  }

  /**
   * Settles every reply at or below `commitSeq`, in seq order; `epochAt`
   * reads the epoch of a committed entry. Epochs never decrease along the
   * log, so a run whose first and last entries have its epoch committed
   * whole.
   */
  settleCommitted(
    commitSeq: number,
    epochAt: (seq: number) => number | undefined,
  ): SettledReply<T>[] {
    const settled: SettledReply<T>[] = [];
    const rest: Run<T>[] = [];
    while (this.head < this.runs.length && this.runs[this.head]!.firstSeq <= commitSeq) {
      const run = this.runs[this.head]!;
      this.runs[this.head++] = undefined;
      const upTo = Math.min(run.lastSeq, commitSeq);
      settleSpan(run, upTo, epochAt, settled);
      this.count -= upTo - run.firstSeq + 1;
      if (upTo < run.lastSeq) {
        rest.push({
          token: run.token,
          firstSeq: upTo + 1,
          lastSeq: run.lastSeq,
          epoch: run.epoch,
          offset: run.offset + (upTo - run.firstSeq + 1),
        });
      }
    }
    // What is left of the runs settled in part starts at commitSeq + 1, before
    // every run still waiting: it goes back into the slots just freed.
    for (let i = rest.length - 1; i >= 0; i--) this.runs[--this.head] = rest[i]!;
    this.compact();
    return settled;
  }

  /** Fails every reply above `seq`: those entries were removed from the log. */
  settleTruncated(seq: number): SettledReply<T>[] {
    const settled: SettledReply<T>[] = [];
    const kept: Run<T>[] = [];
    for (let i = this.head; i < this.runs.length; i++) {
      const run = this.runs[i]!;
      if (run.lastSeq <= seq) {
        kept.push(run);
        continue;
      }
      const from = Math.max(run.firstSeq, seq + 1);
      const count = run.lastSeq - from + 1;
      settled.push({
        token: run.token,
        firstSeq: from,
        count,
        offset: run.offset + (from - run.firstSeq),
        committed: false,
      });
      this.count -= count;
      if (run.firstSeq <= seq) {
        kept.push({
          token: run.token,
          firstSeq: run.firstSeq,
          lastSeq: seq,
          epoch: run.epoch,
          offset: run.offset,
        });
      }
    }
    this.runs = kept;
    this.head = 0;
    return settled.sort((a, b) => a.firstSeq - b.firstSeq);
  }

  /** Removes and returns every waiting token (node shutting down). */
  drain(): T[] {
    const tokens: T[] = [];
    for (let i = this.head; i < this.runs.length; i++) tokens.push(this.runs[i]!.token);
    this.runs = [];
    this.head = 0;
    this.count = 0;
    return tokens;
  }

  private insert(run: Run<T>): void {
    const last = this.runs.length > this.head ? this.runs[this.runs.length - 1]! : null;
    if (last === null || run.firstSeq >= last.firstSeq) {
      if (last !== null) requireSameEpoch(last, run);
      this.runs.push(run);
      return;
    }
    let low = this.head;
    let high = this.runs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.runs[middle]!.firstSeq <= run.firstSeq) low = middle + 1;
      else high = middle;
    }
    if (low > this.head) requireSameEpoch(this.runs[low - 1]!, run);
    if (low < this.runs.length) requireSameEpoch(this.runs[low]!, run);
    this.runs.splice(low, 0, run);
  }

  /** Drops the settled prefix of `runs` once it is large, so the array stays bounded. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.runs.length) {
      this.runs = this.runs.slice(this.head);
      this.head = 0;
    }
  }
}

/** Two runs that share a seq wait for the same entry: they must name the same epoch. */
function requireSameEpoch<T>(a: Run<T>, b: Run<T>): void {
  const overlap = a.firstSeq <= b.lastSeq && b.firstSeq <= a.lastSeq;
  if (overlap && a.epoch !== b.epoch)
    invariant(
      false,
      `seqs ${Math.max(a.firstSeq, b.firstSeq)}.. pending in epochs ${a.epoch} and ${b.epoch}`,
    );
}

/** Settles `run` from its first seq up to `upTo`, in parts of one outcome each. */
function settleSpan<T>(
  run: Run<T>,
  upTo: number,
  epochAt: (seq: number) => number | undefined,
  out: SettledReply<T>[],
): void {
  const part = (from: number, to: number, committed: boolean) =>
    out.push({
      token: run.token,
      firstSeq: from,
      count: to - from + 1,
      offset: run.offset + (from - run.firstSeq),
      committed,
    });
  if (epochAt(run.firstSeq) === run.epoch && epochAt(upTo) === run.epoch) {
    part(run.firstSeq, upTo, true);
    return;
  }
  // Part of the run was replaced by a new sequencer: settled seq by seq.
  let from = run.firstSeq;
  let committed = epochAt(from) === run.epoch;
  for (let seq = run.firstSeq + 1; seq <= upTo; seq++) {
    const now = epochAt(seq) === run.epoch;
    if (now === committed) continue;
    part(from, seq - 1, committed);
    from = seq;
    committed = now;
  }
  part(from, upTo, committed);
}
