export type DedupVerdict =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly seq: number | null }
  | { readonly kind: 'outOfOrder'; readonly expectedProducerSeq: number };

interface ProducerState {
  lastProducerSeq: number;
  /** (producerSeq, seq) pairs for the most recent messages, oldest first. */
  history: { producerSeq: number; seq: number }[];
}

/**
 * The dedup table: for each producer, the last producerSeq in the log and
 * the seqs of its recent messages. It is derived from the log alone (every
 * node records what it appends), so a new sequencer already knows what the
 * old one sequenced. Producers are forgotten least recently used first.
 */
export class ProducerTable {
  private readonly producers = new Map<string, ProducerState>();

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
    const found = state.history.find((h) => h.producerSeq === producerSeq);
    return { kind: 'duplicate', seq: found === undefined ? null : found.seq };
  }

  record(producerId: string, producerSeq: number, seq: number): void {
    let state = this.producers.get(producerId);
    if (state === undefined) {
      if (this.producers.size >= this.maxProducers) {
        const oldest = this.producers.keys().next().value as string;
        this.producers.delete(oldest);
      }
      state = { lastProducerSeq: producerSeq - 1, history: [] };
    } else {
      // Re-insert so that the map's order is least recently used first.
      this.producers.delete(producerId);
      // The log is the authority: a sequencer whose bounded table had forgotten
      // this producer started it afresh, so this node follows rather than stops.
      if (producerSeq <= state.lastProducerSeq)
        state = { lastProducerSeq: producerSeq - 1, history: [] };
    }
    state.lastProducerSeq = producerSeq;
    state.history.push({ producerSeq, seq });
    if (state.history.length > this.maxHistoryEntries) state.history.shift();
    this.producers.set(producerId, state);
  }

  /** Forgets what was recorded for entries above `seq` (their log suffix was truncated). */
  truncateAfter(seq: number): void {
    for (const [producerId, state] of this.producers) {
      const keep = state.history.filter((h) => h.seq <= seq);
      if (keep.length === state.history.length) continue;
      const firstRemoved = state.history[keep.length]!;
      if (keep.length === 0 && state.history[0]!.producerSeq === firstRemoved.producerSeq) {
        // Everything we knew of this producer was in the truncated suffix.
        if (firstRemoved.producerSeq <= 1) {
          this.producers.delete(producerId);
          continue;
        }
      }
      state.history = keep;
      state.lastProducerSeq = firstRemoved.producerSeq - 1;
    }
  }
}
