import { invariant } from './assert.js';

/** One producer as saved in a dedup checkpoint (plain data). */
export interface ProducerSnapshot {
  readonly producerId: string;
  readonly lastProducerSeq: number;
  /** Its most recent (producerSeq, seq) pairs, oldest first. */
  readonly producerSeqs: readonly number[];
  readonly seqs: readonly number[];
  /** The newest pair not in the lists above, if any was dropped. */
  readonly evictedProducerSeq: number | null;
  readonly evictedSeq: number | null;
  /** The identity its producer id belongs to ('' when none: an insecure cluster, an older checkpoint). */
  readonly owner: string;
}

export type DedupVerdict =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly seq: number | null }
  | { readonly kind: 'outOfOrder'; readonly expectedProducerSeq: number };

/**
 * What the table knows of one producer. Its recent messages are (producerSeq,
 * seq) pairs, oldest first, kept as runs: a run from (p, s) of n pairs holds
 * (p + k, s + k) for k < n. A publisher's batch is sequenced as consecutive
 * seqs, so a run grows by one per message of it and a history of a thousand
 * pairs is a few runs. Recording a message allocates nothing: a history of
 * pairs in growing arrays cost every node tens of bytes per message in array
 * growth and cuts, on this path that runs for every entry it appends.
 * Both producerSeqs and seqs rise strictly along the history (a producer
 * recorded again from a lower producerSeq gets a new state).
 */
class ProducerState {
  /** Run i: first producerSeq, first seq, pairs; live from `head` on. */
  private runProducerSeqs: number[] = [];
  private runSeqs: number[] = [];
  private runCounts: number[] = [];
  private head = 0;
  private pairs = 0;
  /** The newest pair dropped from the history (null while none was), for exact truncation. */
  evictedProducerSeq: number | null = null;
  evictedSeq: number | null = null;

  constructor(
    public lastProducerSeq: number,
    /** The identity this producer id belongs to ('' when none). */
    public owner: string,
  ) {}

  /** Pairs remembered. */
  get length(): number {
    return this.pairs;
  }

  /**
   * Adds the `added` pairs (producerSeq + k, seq + k) after the newest; past
   * `maxEntries` pairs the oldest are dropped.
   */
  push(producerSeq: number, seq: number, maxEntries: number, added = 1): void {
    const last = this.runCounts.length - 1;
    const count = last >= this.head ? this.runCounts[last]! : 0;
    if (
      count > 0 &&
      producerSeq === this.runProducerSeqs[last]! + count &&
      seq === this.runSeqs[last]! + count
    ) {
      this.runCounts[last] = count + added;
    } else {
      this.runProducerSeqs.push(producerSeq);
      this.runSeqs.push(seq);
      this.runCounts.push(added);
    }
    this.pairs += added;
    if (this.pairs > maxEntries) this.dropOldest(this.pairs - maxEntries);
  }

  /** The seq of the remembered message `producerSeq`, or null when it is not remembered. */
  seqOf(producerSeq: number): number | null {
    for (let i = this.runCounts.length - 1; i >= this.head; i--) {
      const first = this.runProducerSeqs[i]!;
      if (producerSeq >= first) {
        return producerSeq - first < this.runCounts[i]!
          ? this.runSeqs[i]! + (producerSeq - first)
          : null;
      }
    }
    return null;
  }

  /** Pairs whose seq is at most `seq` (a prefix of the history: seqs rise along it). */
  pairsThroughSeq(seq: number): number {
    let pairs = 0;
    for (let i = this.head; i < this.runCounts.length; i++) {
      const first = this.runSeqs[i]!;
      const count = this.runCounts[i]!;
      if (seq < first + count - 1) return pairs + Math.max(0, seq - first + 1);
      pairs += count;
    }
    return pairs;
  }

  /** The pair at `index` (0: the oldest remembered), which must exist. */
  pairAt(index: number): { readonly producerSeq: number; readonly seq: number } {
    let left = index;
    for (let i = this.head; i < this.runCounts.length; i++) {
      const count = this.runCounts[i]!;
      if (left < count)
        return { producerSeq: this.runProducerSeqs[i]! + left, seq: this.runSeqs[i]! + left };
      left -= count;
    }
    invariant(false, `no pair ${index} in a history of ${this.pairs}`);
  }

  /** The pairs from `index` on, as two parallel arrays (for a snapshot). */
  pairsFrom(index: number): { producerSeqs: number[]; seqs: number[] } {
    const producerSeqs: number[] = [];
    const seqs: number[] = [];
    let skip = index;
    for (let i = this.head; i < this.runCounts.length; i++) {
      const count = this.runCounts[i]!;
      for (let k = Math.min(skip, count); k < count; k++) {
        producerSeqs.push(this.runProducerSeqs[i]! + k);
        seqs.push(this.runSeqs[i]! + k);
      }
      skip = Math.max(0, skip - count);
    }
    return { producerSeqs, seqs };
  }

  /** Keeps the first `count` pairs only. */
  keep(count: number): void {
    let left = count;
    let i = this.head;
    while (i < this.runCounts.length && left >= this.runCounts[i]!) left -= this.runCounts[i++]!;
    if (left > 0) this.runCounts[i++] = left;
    this.runProducerSeqs.length = i;
    this.runSeqs.length = i;
    this.runCounts.length = i;
    this.pairs = count;
  }

  /** Drops the `dropped` oldest pairs (at most all it holds), remembering the newest of them. */
  private dropOldest(dropped: number): void {
    let left = dropped;
    let h = this.head;
    // Whole runs first, then part of the next.
    while (left >= this.runCounts[h]!) {
      left -= this.runCounts[h]!;
      this.evictedProducerSeq = this.runProducerSeqs[h]! + this.runCounts[h]! - 1;
      this.evictedSeq = this.runSeqs[h]! + this.runCounts[h]! - 1;
      h++;
    }
    if (left > 0) {
      this.evictedProducerSeq = this.runProducerSeqs[h]! + left - 1;
      this.evictedSeq = this.runSeqs[h]! + left - 1;
      this.runProducerSeqs[h] = this.runProducerSeqs[h]! + left;
      this.runSeqs[h] = this.runSeqs[h]! + left;
      this.runCounts[h] = this.runCounts[h]! - left;
    }
    this.pairs -= dropped;
    if (h === this.head) return;
    this.head = h;
    // The dead runs are cut off in place once they are half the arrays, which
    // keeps the cut O(1) per run and allocates nothing.
    if (this.head >= 64 && this.head * 2 >= this.runCounts.length) {
      const live = this.runCounts.length - this.head;
      for (let k = 0; k < live; k++) {
        this.runProducerSeqs[k] = this.runProducerSeqs[this.head + k]!;
        this.runSeqs[k] = this.runSeqs[this.head + k]!;
        this.runCounts[k] = this.runCounts[this.head + k]!;
      }
      this.runProducerSeqs.length = live;
      this.runSeqs.length = live;
      this.runCounts.length = live;
      this.head = 0;
    }
  }
}

/**
 * The dedup table: for each producer, the last producerSeq in the log and
 * the seqs of its recent messages. It is derived from the log alone (every
 * node records what it appends), so a new sequencer already knows what the
 * old one sequenced, and which identity each producer id belongs to (the
 * owner its entries carry). Producers are forgotten least recently used
 * first; a forgotten producer id has no owner until it is used again.
 */
export class ProducerTable {
  private readonly producers = new Map<string, ProducerState>();
  /** The producer recorded last: consecutive entries of one producer skip the LRU bookkeeping. */
  private lastRecorded: string | null = null;

  constructor(
    private readonly maxProducers: number,
    private readonly maxHistoryEntries: number,
  ) {}

  get size(): number {
    return this.producers.size;
  }

  /**
   * A producer's messages must arrive in producerSeq order (FIFO per
   * publisher), and a producer this table does not know must start at 1.
   * Letting an unknown producer start anywhere broke FIFO and lost messages:
   * when its first messages were reordered, or lost with a deposed
   * sequencer, a later one was appended first and the earlier ones, retried,
   * were taken for duplicates and acknowledged without ever being in the log.
   * A producer the table forgot is told to expect 1 and must start afresh.
   */
  check(producerId: string, producerSeq: number): DedupVerdict {
    const state = this.producers.get(producerId);
    if (state === undefined) {
      return producerSeq === 1 ? { kind: 'new' } : { kind: 'outOfOrder', expectedProducerSeq: 1 };
    }
    if (producerSeq === state.lastProducerSeq + 1) return { kind: 'new' };
    if (producerSeq > state.lastProducerSeq) {
      return { kind: 'outOfOrder', expectedProducerSeq: state.lastProducerSeq + 1 };
    }
    return { kind: 'duplicate', seq: state.seqOf(producerSeq) };
  }

  /**
   * The identity that `producerId` belongs to, or '' when no identity owns
   * it (unknown here, first used on an insecure cluster, or forgotten).
   */
  ownerOf(producerId: string): string {
    return this.producers.get(producerId)?.owner ?? '';
  }

  /**
   * Records an entry of `producerId`, published by `owner` ('' on an
   * insecure cluster), or `count` of them: producerSeqs and seqs consecutive
   * from the given ones (a run of a publisher's batch, recorded at once).
   * The first non-empty owner of a producer id stays its owner: the
   * sequencer refuses entries of another identity under it.
   */
  record(producerId: string, producerSeq: number, seq: number, owner = '', count = 1): void {
    let state = this.producers.get(producerId);
    if (state === undefined) {
      if (this.producers.size >= this.maxProducers) {
        const oldest = this.producers.keys().next().value as string;
        this.producers.delete(oldest);
      }
      state = new ProducerState(producerSeq - 1, owner);
      this.producers.set(producerId, state);
    } else {
      if (producerId !== this.lastRecorded) {
        // Re-insert so that the map's order is least recently used first.
        this.producers.delete(producerId);
        this.producers.set(producerId, state);
      }
      // The log is the authority: a sequencer whose bounded table had forgotten
      // this producer started it afresh, so this node follows rather than stops.
      if (producerSeq <= state.lastProducerSeq) {
        state = new ProducerState(producerSeq - 1, state.owner);
        this.producers.set(producerId, state);
      }
      if (state.owner === '') state.owner = owner;
    }
    this.lastRecorded = producerId;
    state.lastProducerSeq = producerSeq + count - 1;
    state.push(producerSeq, seq, this.maxHistoryEntries, count);
  }

  /**
   * The table as plain data, least recently used first, with at most
   * `maxPairs` recent pairs per producer (the pair just before them is kept
   * as the evicted one, so a later truncation stays exact or forgets).
   */
  snapshot(maxPairs: number): ProducerSnapshot[] {
    const out: ProducerSnapshot[] = [];
    for (const [producerId, state] of this.producers) {
      const from = Math.max(0, state.length - maxPairs);
      const before = from > 0 ? state.pairAt(from - 1) : null;
      const { producerSeqs, seqs } = state.pairsFrom(from);
      out.push({
        producerId,
        lastProducerSeq: state.lastProducerSeq,
        producerSeqs,
        seqs,
        evictedProducerSeq: before !== null ? before.producerSeq : state.evictedProducerSeq,
        evictedSeq: before !== null ? before.seq : state.evictedSeq,
        owner: state.owner,
      });
    }
    return out;
  }

  /** Replaces the table with a snapshot's contents. */
  restore(snapshot: readonly ProducerSnapshot[]): void {
    this.clear();
    for (const saved of snapshot) {
      if (this.producers.size >= this.maxProducers) break;
      const state = new ProducerState(saved.lastProducerSeq, saved.owner);
      for (let i = 0; i < saved.seqs.length; i++)
        state.push(saved.producerSeqs[i]!, saved.seqs[i]!, Number.POSITIVE_INFINITY);
      state.evictedProducerSeq = saved.evictedProducerSeq;
      state.evictedSeq = saved.evictedSeq;
      this.producers.set(saved.producerId, state);
    }
  }

  /** Forgets every producer: the log the table was derived from is gone (a log reset). */
  clear(): void {
    this.producers.clear();
    this.lastRecorded = null;
  }

  /** Forgets what was recorded for entries above `seq` (their log suffix was truncated). */
  truncateAfter(seq: number): void {
    this.lastRecorded = null;
    for (const [producerId, state] of this.producers) {
      const kept = state.pairsThroughSeq(seq);
      if (kept === state.length) continue;
      if (kept > 0) {
        // The last pair that stays is exactly where this producer now ends.
        state.lastProducerSeq = state.pairAt(kept - 1).producerSeq;
      } else if (state.evictedSeq !== null && state.evictedSeq <= seq) {
        // Everything remembered went, but the newest forgotten pair stays in the log.
        state.lastProducerSeq = state.evictedProducerSeq!;
      } else {
        // Where this producer now ends is unknown. Guessing high would take a
        // retry of a removed message for a duplicate and acknowledge it
        // without a log entry; forgetting it makes it start a new session.
        this.producers.delete(producerId);
        continue;
      }
      state.keep(kept);
    }
  }
}
