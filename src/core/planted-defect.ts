/**
 * Deliberate protocol bugs that the simulator's own tests plant, one at a
 * time, to show that the simulator catches each of them: a simulator that
 * cannot fail on these proves nothing. Production never sets any (the
 * default set is empty), and each one is read in exactly one place.
 */
export const PlantedDefect = {
  /** A node sends every message of a Ready (acks included) before its write is durable. */
  ackBeforePersist: 'ack-before-persist',
  /** The sequencer appends a retry again instead of recognising it as a duplicate. */
  skipDedup: 'skip-dedup',
  /** The sequencer commits what it alone holds, without a majority. */
  commitWithoutMajority: 'commit-without-majority',
  /** The sequencer commits an entry of an earlier epoch by counting replicas (Raft §5.4.2). */
  commitOldEpochByCount: 'commit-old-epoch-by-count',
  /** A node accepts a record fetched from a peer for repair without checking it against the chain. */
  uncheckedRepair: 'unchecked-repair',
  /** A voter in its lease grants a transfer campaign its sequencer never announced. */
  honourUnannouncedTransfer: 'honour-unannounced-transfer',
} as const;
export type PlantedDefect = (typeof PlantedDefect)[keyof typeof PlantedDefect];

export const NO_DEFECTS: ReadonlySet<PlantedDefect> = new Set();
