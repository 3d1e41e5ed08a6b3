/**
 * The bounds the pure protocol core enforces, in one place with their units.
 * `src/limits.ts` includes them in LIMITS, so operators still find every
 * bound there; they live here because the core imports nothing outside
 * `src/core/`.
 */
export const CORE_LIMITS = {
  /** Most entries the sequencer puts in one multicast batch. */
  maxBatchEntries: 2048,
  /** Most entry bytes the sequencer puts in one multicast batch; with one largest entry beyond it, a batch still fits a frame. */
  maxBatchBytes: 1024 * 1024,
  /** Most entries appended but not yet committed; proposals beyond it wait (backpressure). */
  maxUncommittedEntries: 65_536,
  /** Most entries one retransmission (answer to a NACK or a probe) carries. */
  maxRetransmitEntries: 4096,
  /** Widest seq range one NACK asks for. */
  maxNackRangeEntries: 4096,
  /** Most out-of-order multicast entries a follower holds while it repairs a gap. */
  maxBufferedFutureEntries: 65_536,
  /** Most producers whose dedup state a node remembers (least recently used are forgotten). */
  maxProducers: 100_000,
  /** Most (producerSeq, seq) pairs remembered per producer, for answering retries with the original seq. */
  maxProducerHistoryEntries: 1024,
  /** Most read index requests a sequencer holds while a majority confirms it is still in office. */
  maxPendingReadIndexes: 4096,
  /**
   * Most entries a witness holds beyond the point every data voter holds
   * (its tail). When a data voter stays away longer than the tail lasts, the
   * witness stops acknowledging and commits wait for that voter: nothing is
   * acknowledged that only one data node holds for longer than this tail.
   */
  witnessTailMaxEntries: 65_536,
  /** Most epoch boundaries a node keeps (one per epoch that wrote entries). */
  maxEpochBoundaries: 100_000,
  /**
   * Highest epoch any message, record or snapshot may carry. An election
   * takes at least a round trip, so a cluster electing a thousand times a
   * second would need 35 years to reach it; a larger value can only be a
   * bug or a forgery and is refused where it is decoded. It stays far below
   * 2^53, where integer arithmetic on JavaScript numbers stops being exact.
   */
  maxEpoch: 2 ** 40,
  /**
   * Highest seq any message, record or snapshot may carry: 89 years of a
   * hundred thousand messages a second, and a factor of eight below 2^53.
   */
  maxSeq: 2 ** 50,
} as const;
