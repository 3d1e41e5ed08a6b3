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
 * What the table knows of one producer. Its recent messages are two parallel
 * arrays (producerSeq, seq), oldest first, of which only the part from
 * `head` on is live: dropping the oldest is `head++`, and the dead prefix is
 * cut off in one splice once it is long, so recording a message costs O(1)
 * and allocates nothing on this path, which runs for every entry on every node.
 */
class ProducerState {
  producerSeqs: number[] = [];
  seqs: number[] = [];
  head = 0;
  /** The newest pair dropped from the history (null while none was), for exact truncation. */
  evictedProducerSeq: number | null = null;
  evictedSeq: number | null = null;

  constructor(
    public lastProducerSeq: number,
    /** The identity this producer id belongs to ('' when none). */
    public owner: string,
  ) {}

  get length(): number {
    return this.seqs.length - this.head;
  }

  push(producerSeq: number, seq: number, maxEntries: number): void {
    this.producerSeqs.push(producerSeq);
    this.seqs.push(seq);
    if (this.length > maxEntries) {
      this.evictedProducerSeq = this.producerSeqs[this.head]!;
      this.evictedSeq = this.seqs[this.head]!;
      this.head++;
    }
    if (this.head > maxEntries) {
      this.producerSeqs.splice(0, this.head);
      this.seqs.splice(0, this.head);
      this.head = 0;
    }
  }

  seqOf(producerSeq: number): number | null {
    for (let i = this.seqs.length - 1; i >= this.head; i--) {
      if (this.producerSeqs[i] === producerSeq) return this.seqs[i]!;
    }
    return null;
  }

  /** Keeps the first `count` live pairs only. */
  keep(count: number): void {
    this.producerSeqs.length = this.head + count;
    this.seqs.length = this.head + count;
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
   * insecure cluster). The first non-empty owner of a producer id stays its
   * owner: the sequencer refuses entries of another identity under it.
   */
  record(producerId: string, producerSeq: number, seq: number, owner = ''): void {
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
    state.lastProducerSeq = producerSeq;
    state.push(producerSeq, seq, this.maxHistoryEntries);
  }

  /**
   * The table as plain data, least recently used first, with at most
   * `maxPairs` recent pairs per producer (the pair just before them is kept
   * as the evicted one, so a later truncation stays exact or forgets).
   */
  snapshot(maxPairs: number): ProducerSnapshot[] {
    const out: ProducerSnapshot[] = [];
    for (const [producerId, state] of this.producers) {
      const from = Math.max(state.head, state.seqs.length - maxPairs);
      const cut = from > state.head;
      out.push({
        producerId,
        lastProducerSeq: state.lastProducerSeq,
        producerSeqs: state.producerSeqs.slice(from),
        seqs: state.seqs.slice(from),
        evictedProducerSeq: cut ? state.producerSeqs[from - 1]! : state.evictedProducerSeq,
        evictedSeq: cut ? state.seqs[from - 1]! : state.evictedSeq,
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
      state.producerSeqs = [...saved.producerSeqs];
      state.seqs = [...saved.seqs];
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
      let kept = 0;
      while (kept < state.length && state.seqs[state.head + kept]! <= seq) kept++;
      if (kept === state.length) continue;
      if (kept > 0) {
        // The last pair that stays is exactly where this producer now ends.
        state.lastProducerSeq = state.producerSeqs[state.head + kept - 1]!;
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
