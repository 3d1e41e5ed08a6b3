import { CORE_LIMITS } from './core-limits.js';
import type { PlantedDefect } from './planted-defect.js';
import type { NodeId } from './types.js';

/**
 * Everything the core needs from outside, including its only sources of
 * time (ticks, counted by the host) and chance (`random`, supplied by the
 * host), so that a seeded host replays the same run exactly.
 */
export interface CoreConfig {
  readonly id: NodeId;
  /**
   * The seed voters of a new cluster, used only when the node recovered no
   * saved membership; empty for a node joining a running cluster (it learns
   * the membership from the sequencer's log).
   */
  readonly members: readonly NodeId[];
  /** Which of the seed `members` are witnesses (see membership.ts); empty for none. */
  readonly witnesses?: readonly NodeId[];
  /** A follower that hears nothing from a sequencer for this many ticks (randomised up to twice as many) campaigns. */
  readonly electionTimeoutTicks: number;
  /** The sequencer sends a heartbeat every this many ticks when it has nothing else to send. */
  readonly heartbeatIntervalTicks: number;
  /** A follower waits at least this many ticks (plus jitter up to as many again) before repeating a NACK. */
  readonly nackRetryTicks: number;
  /** Ask for a vote only after a pre-vote shows the candidate could win (keeps rejoining nodes from disrupting). */
  readonly preVote: boolean;
  /** A sequencer that has not heard from a majority within an election timeout steps down. */
  readonly checkQuorum: boolean;
  readonly maxBatchEntries: number;
  /** Most bytes of entries in one multicast batch (at least one entry is always sent). */
  readonly maxBatchBytes: number;
  readonly maxUncommittedEntries: number;
  readonly maxRetransmitEntries: number;
  readonly maxNackRangeEntries: number;
  readonly maxBufferedFutureEntries: number;
  readonly maxProducers: number;
  readonly maxProducerHistoryEntries: number;
  readonly maxEpochBoundaries: number;
  /**
   * A witness holds at most this many entries beyond the point every data
   * voter holds; past it, it stops taking entries (and acknowledging them),
   * so commits wait for a data voter instead of resting on one data copy.
   */
  readonly witnessTailMaxEntries: number;
  /** A number in [0, 1); the host decides where it comes from. */
  readonly random: () => number;
  /** Deliberate bugs, planted only by the simulator's own tests (see planted-defect.ts). */
  readonly plantedDefects?: ReadonlySet<PlantedDefect>;
}

export type CoreTimingDefaults = Pick<
  CoreConfig,
  'electionTimeoutTicks' | 'heartbeatIntervalTicks' | 'nackRetryTicks' | 'preVote' | 'checkQuorum'
>;

/** With a 10 ms tick: heartbeats every 50 ms, elections after 300 to 600 ms of silence. */
export const DEFAULT_TIMING: CoreTimingDefaults = {
  electionTimeoutTicks: 30,
  heartbeatIntervalTicks: 5,
  nackRetryTicks: 3,
  preVote: true,
  checkQuorum: true,
};

export function makeCoreConfig(
  id: NodeId,
  members: readonly NodeId[],
  random: () => number,
  overrides: Partial<CoreConfig> = {},
): CoreConfig {
  return {
    id,
    members,
    random,
    ...DEFAULT_TIMING,
    maxBatchEntries: CORE_LIMITS.maxBatchEntries,
    maxBatchBytes: CORE_LIMITS.maxBatchBytes,
    maxUncommittedEntries: CORE_LIMITS.maxUncommittedEntries,
    maxRetransmitEntries: CORE_LIMITS.maxRetransmitEntries,
    maxNackRangeEntries: CORE_LIMITS.maxNackRangeEntries,
    maxBufferedFutureEntries: CORE_LIMITS.maxBufferedFutureEntries,
    maxProducers: CORE_LIMITS.maxProducers,
    maxProducerHistoryEntries: CORE_LIMITS.maxProducerHistoryEntries,
    maxEpochBoundaries: CORE_LIMITS.maxEpochBoundaries,
    witnessTailMaxEntries: CORE_LIMITS.witnessTailMaxEntries,
    ...overrides,
  };
}
