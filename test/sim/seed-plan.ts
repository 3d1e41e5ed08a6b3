import { type CoreConfig, DEFAULT_TIMING, type PlantedDefect } from '../../src/core/index.js';
import { LIMITS } from '../../src/limits.js';
import type { HostTiming } from '../../src/node/broker-node.js';
import type { Prng } from './prng.js';
import { CALM_NETWORK, type NetworkFaults } from './sim-network.js';

/** Each tick is cut into this many sub-steps; packet delays are counted in sub-steps. */
export const SUB_STEPS_PER_TICK = 4;
/** The wall-clock length of one tick, for the log timestamps the sequencer assigns. */
export const TICK_MS = 10;

export interface PublisherPlan {
  readonly count: number;
  readonly windowMessages: number;
  /** Chance per tick, during the fault phase, that a publisher with room in its window publishes one more message. */
  readonly publishChancePerTick: number;
  /** A publisher gives up on a node after waiting this long for the oldest reply, and resends to the next one. */
  readonly requestTimeoutTicks: number;
  readonly requestTimeoutMs: number;
  /** A message unacknowledged for this long fails with a TimeoutError. */
  readonly publishTimeoutMs: number;
  /** Fresh messages each publisher sends after the heal, to show publishing resumes. */
  readonly messagesAfterHeal: number;
  /** Hard cap per publisher, kept below the core's per-producer dedup history. */
  readonly maxMessages: number;
  /**
   * Share of publishing turns that publish several messages with one
   * publishManySettled() call (as many as the window has room for, up to 8)
   * instead of one publish(): a batch the sequencer takes in one step.
   */
  readonly publishManyShare: number;
}

/** Which faults a seed turns on and how hard (swarm testing: each seed draws its own mix). */
export interface FaultPlan {
  readonly network: NetworkFaults;
  readonly crashChancePerTick: number;
  /** At most this many nodes are down at once; a whole-cluster crash is allowed in some seeds. */
  readonly maxNodesDown: number;
  readonly restartAfterTicks: readonly [number, number];
  /** Share of crashes that strike in the middle of carrying out a Ready. */
  readonly midReadyCrashShare: number;
  readonly pauseChancePerTick: number;
  readonly pauseTicks: readonly [number, number];
  readonly partitionChancePerTick: number;
  readonly partitionTicks: readonly [number, number];
  /** Share of partitions that cut links one way only. */
  readonly oneWayPartitionShare: number;
  readonly transferChancePerTick: number;
  /** Node clocks are off by up to this much, and jump on restart. */
  readonly clockSkewMaxMs: number;
  /**
   * Scenario seeds: a node that becomes sequencer is crashed this many ticks
   * later (drawn from the range), so that new sequencers often die with
   * their log half replicated. Null in the other seeds.
   */
  readonly huntLeadersAfterTicks: readonly [number, number] | null;
  /**
   * Chance per tick that every running node crashes in the same instant (a
   * power loss): what each had not synced is lost everywhere at once.
   */
  readonly powerLossChancePerTick: number;
  /**
   * Chance per tick that a faulty member sends a message the fencing rules
   * refuse: an append or timeoutNow in an epoch whose sequencer is another
   * node, a timeoutNow from a later epoch, a transfer campaign nobody
   * announced.
   */
  readonly forgedFrameChancePerTick: number;
}

/** Retention: each node's log keeps only its newest committed segments, as a store with a size limit does. */
export interface RetentionPlan {
  /** Node i (in member order) keeps about `segmentsByNode[i]` segments' worth of bytes. */
  readonly segmentsByNode: readonly number[];
}

/**
 * Membership changes during the fault phase: spare nodes (not in the seed
 * config) are added as learners and promoted once caught up, voters are
 * removed (the sequencer too: it hands its role over first) and stopped.
 */
export interface MembershipPlan {
  /** Nodes outside the seed config that may be added. */
  readonly spareNodes: number;
  /** Chance per tick that a membership change is asked for. */
  readonly changeChancePerTick: number;
  /** Voters are removed only while more than this many remain. */
  readonly minVoters: number;
}

/** How each node's simulated disk behaves. */
export interface DiskPlan {
  /** Longest a disk operation takes, in ms (a crash can strike in between). */
  readonly latencyMaxMs: number;
  /** Chance that an fsync fails with EIO (the node then stops as if it crashed). */
  readonly fsyncErrorChance: number;
  /** Log segment size: small, so that logs have closed segments to damage and drop. */
  readonly segmentBytes: number;
  /** Chance per tick that a stored bit of a down node's closed segment flips. */
  readonly bitFlipChancePerTick: number;
  /**
   * Chance that a copy a peer serves for a repair arrives with one payload
   * bit flipped (the peer's memory or the link damaged it). Only the check
   * against the hash chain tells such a copy from a good one.
   */
  readonly damagedCopyChance: number;
}

export interface SeedPlan {
  readonly seed: number;
  readonly nodeCount: number;
  readonly core: Pick<
    CoreConfig,
    | 'electionTimeoutTicks'
    | 'heartbeatIntervalTicks'
    | 'nackRetryTicks'
    | 'preVote'
    | 'checkQuorum'
    | 'maxBatchEntries'
    | 'maxUncommittedEntries'
    | 'maxRetransmitEntries'
    | 'maxNackRangeEntries'
    | 'maxBufferedFutureEntries'
    | 'witnessTailMaxEntries'
  >;
  /** Housekeeping intervals of the node host (retention, dedup checkpoints, lazy commit saves). */
  readonly hostTiming: HostTiming;
  readonly disk: DiskPlan;
  /** Deliberate bugs planted by the simulator's own tests; empty in every normal run. */
  readonly plantedDefects: ReadonlySet<PlantedDefect>;
  readonly faults: FaultPlan;
  readonly publishers: PublisherPlan;
  readonly faultTicks: number;
  /** Null when nodes keep their whole log. */
  readonly retention: RetentionPlan | null;
  /** Null in seeds without membership changes. */
  readonly membership: MembershipPlan | null;
  /**
   * Two data nodes and a witness: the last seed node (n3) is a witness. Its
   * tail bound (core.witnessTailMaxEntries) is small in most of these seeds,
   * so that a data node down for long makes the witness refuse more entries.
   */
  readonly witness: boolean;
}

export interface PlanOverrides {
  readonly faultTicks?: number;
  readonly plantedDefects?: ReadonlySet<PlantedDefect>;
  readonly nodeCount?: 3 | 5;
  /** Force membership changes on (true) or off (false); drawn when absent. */
  readonly membershipChanges?: boolean;
  /** Force 2 data nodes + a witness (true: 3 nodes) or no witness (false); drawn when absent. */
  readonly witness?: boolean;
}

/** Draws everything about a seed's run from its own stream. */
export function drawSeedPlan(seed: number, prng: Prng, overrides: PlanOverrides = {}): SeedPlan {
  const drawnNodeCount = prng.chance(0.5) ? 3 : 5;
  const nodeCount = overrides.witness === true ? 3 : (overrides.nodeCount ?? drawnNodeCount);
  const electionTimeoutTicks = prng.int(6, 20);
  const heartbeatIntervalTicks = prng.int(1, Math.min(4, Math.floor(electionTimeoutTicks / 3)));
  // Election churn seeds: new sequencers are muted and crashed soon after
  // their election, over and over, with old entries repaired one at a time.
  // That builds the histories where a sequencer must not commit an entry of
  // an earlier epoch by counting replicas (Raft §5.4.2), which random faults
  // alone reach too rarely.
  const electionChurn = prng.chance(0.2);
  const tightLimits = electionChurn || prng.chance(0.7);
  const core: SeedPlan['core'] = {
    electionTimeoutTicks,
    heartbeatIntervalTicks,
    nackRetryTicks: prng.int(1, 4),
    preVote: prng.chance(0.8) ? DEFAULT_TIMING.preVote : !DEFAULT_TIMING.preVote,
    checkQuorum: prng.chance(0.8) ? DEFAULT_TIMING.checkQuorum : !DEFAULT_TIMING.checkQuorum,
    // Tight limits make batching, backpressure, bounded NACKs and the future buffer matter.
    maxBatchEntries: tightLimits ? prng.int(1, 8) : LIMITS.maxBatchEntries,
    maxUncommittedEntries: tightLimits ? prng.int(2, 48) : LIMITS.maxUncommittedEntries,
    // One entry per retransmission splits an old entry from the epoch-start entry after it.
    maxRetransmitEntries: electionChurn
      ? 1
      : tightLimits
        ? prng.chance(0.3)
          ? 1
          : prng.int(1, 16)
        : LIMITS.maxRetransmitEntries,
    maxNackRangeEntries: tightLimits ? prng.int(1, 16) : LIMITS.maxNackRangeEntries,
    // Without a buffer for entries past a gap, a follower acknowledges an old
    // entry before it has the new sequencer's own: the window §5.4.2 guards.
    maxBufferedFutureEntries: electionChurn
      ? 0
      : tightLimits
        ? prng.int(0, 32)
        : LIMITS.maxBufferedFutureEntries,
    witnessTailMaxEntries: LIMITS.witnessTailMaxEntries,
  };
  const faults = electionChurn
    ? drawElectionChurn(prng, nodeCount, electionTimeoutTicks)
    : drawFaults(prng, nodeCount, electionTimeoutTicks);
  const requestTimeoutTicks = prng.int(electionTimeoutTicks, 3 * electionTimeoutTicks);
  const publishers: PublisherPlan = {
    count: prng.int(1, 4),
    windowMessages: prng.int(1, 6),
    publishChancePerTick: prng.float(0.1, 0.9),
    requestTimeoutTicks,
    requestTimeoutMs: requestTimeoutTicks * TICK_MS,
    // Long enough that publishing resumes after the heal without giving up.
    publishTimeoutMs: 600_000,
    messagesAfterHeal: prng.int(1, 5),
    maxMessages: 900,
    publishManyShare: 0,
  };
  // Log-uniform: many short runs and some long ones, so that a fixed budget of
  // time covers more schedules (swarm testing) while long histories still occur.
  const faultTicks =
    overrides.faultTicks ?? Math.round(Math.exp(prng.float(Math.log(100), Math.log(1500))));
  const retention: RetentionPlan | null = prng.chance(0.4)
    ? { segmentsByNode: Array.from({ length: nodeCount }, () => prng.int(4, 16)) }
    : null;
  const disk: DiskPlan = {
    // Log-uniform from a fast disk to a slow fsync: a slow disk lets replies
    // and acks overtake writes. An fsync stays well inside an election
    // timeout (a vote costs two), as any deployment must keep it: with fsyncs
    // near the timeout, elections never end.
    latencyMaxMs: Math.exp(
      prng.float(Math.log(0.05), Math.log(Math.min(30, (electionTimeoutTicks * TICK_MS) / 8))),
    ),
    fsyncErrorChance: prng.chance(0.3) ? prng.float(0.0005, 0.01) : 0,
    // Retention keeps whole segments: with it, segments are larger, so that a
    // node keeps more than its subscriber can fall behind while it restarts.
    segmentBytes: Math.round(
      Math.exp(prng.float(Math.log(retention === null ? 256 : 2048), Math.log(16_384))),
    ),
    bitFlipChancePerTick: prng.chance(0.4) ? prng.float(0.002, 0.02) : 0,
    damagedCopyChance: 0,
  };
  // Housekeeping intervals are log-uniform from one tick to four seconds
  // (production: retention every 1 s, checkpoints every 2 s, commit saves every 1 s).
  const logUniformMs = (): number =>
    TICK_MS * Math.max(1, Math.round(Math.exp(prng.float(0, Math.log(400)))));
  const hostTiming: Omit<HostTiming, 'commitNoticeHoldMs'> = {
    retentionCheckIntervalMs: logUniformMs(),
    dedupCheckpointIntervalMs: logUniformMs(),
    commitSaveIntervalMs: logUniformMs(),
  };
  // Drawn last, so that the rest of each seed's plan is what it was before.
  const membershipDrawn = prng.chance(0.5);
  const membership: MembershipPlan | null =
    (overrides.membershipChanges ?? membershipDrawn)
      ? {
          spareNodes: prng.int(1, 3),
          changeChancePerTick: Math.exp(prng.float(Math.log(0.002), Math.log(0.03))),
          minVoters: prng.chance(0.3) ? 2 : 3,
        }
      : null;
  const damagedCopyChance = disk.bitFlipChancePerTick > 0 ? prng.float(0.3, 0.9) : 0;
  const powerLossChancePerTick = !electionChurn && prng.chance(0.3) ? prng.float(0.001, 0.006) : 0;
  const forgedFrameChancePerTick = prng.chance(0.2) ? prng.float(0.01, 0.1) : 0;
  // Drawn after everything else, so that the other seeds' plans stay as they
  // were: 2 data nodes + a witness in 40% of the 3-node seeds (20% of all).
  const witnessDrawn = prng.chance(0.4);
  const witness = nodeCount === 3 && (overrides.witness ?? witnessDrawn);
  const witnessTailMaxEntries = prng.chance(0.7) ? prng.int(4, 64) : LIMITS.witnessTailMaxEntries;
  // Drawn last for the same reason: half the seeds publish some batches with publishManySettled().
  const publishManyShare = prng.chance(0.5) ? prng.float(0.2, 0.8) : 0;
  // Drawn last too: how long the sequencer holds a commit notice. A fifth of
  // the seeds send each at once; the others hold it from 1 ms (production: 2)
  // to four ticks, log-uniform, so that notices are left out for appends and
  // sent when their hold ends, around ticks, heartbeats and elections.
  const commitNoticeHoldMs = prng.chance(0.2)
    ? 0
    : Math.max(1, Math.round(Math.exp(prng.float(0, Math.log(4 * TICK_MS)))));
  return {
    seed,
    nodeCount,
    core: witness ? { ...core, witnessTailMaxEntries } : core,
    hostTiming: { ...hostTiming, commitNoticeHoldMs },
    disk: { ...disk, damagedCopyChance },
    plantedDefects: overrides.plantedDefects ?? new Set(),
    faults: { ...faults, powerLossChancePerTick, forgedFrameChancePerTick },
    publishers: { ...publishers, publishManyShare },
    faultTicks,
    retention,
    membership,
    witness,
  };
}

/** A NACK round trip once the network is calm: at most 3 sub-steps each way, plus a tick to notice. */
export const REPAIR_ROUND_TRIP_TICKS = 3;

/**
 * How long after the heal every publish must have completed and every node
 * delivered everything. Enough for: packets still in flight from the fault
 * phase to land; ten election rounds (each at most two election timeouts,
 * split votes included); four publisher timeouts while they find the
 * sequencer; the repair of the most lagging log; and 100 ticks of slack.
 *
 * Repair gains one answered NACK per round: min(maxNackRangeEntries,
 * maxRetransmitEntries) entries. When the answer is shorter than the range
 * asked for, the follower asks for the rest only when its NACK retry timer
 * fires (nackRetryTicks plus up to as much jitter), so a round lasts that long.
 */
export function livenessBoundTicks(plan: SeedPlan, lagEntries: number): number {
  const c = plan.core;
  const inFlightTicks = Math.ceil(plan.faults.network.spikeMaxDelaySubSteps / SUB_STEPS_PER_TICK);
  const electionTicks = 10 * 2 * c.electionTimeoutTicks;
  const publisherTicks = 4 * plan.publishers.requestTimeoutTicks;
  const entriesPerRound = Math.min(c.maxNackRangeEntries, c.maxRetransmitEntries);
  const roundTicks =
    c.maxRetransmitEntries < c.maxNackRangeEntries
      ? 2 * c.nackRetryTicks + REPAIR_ROUND_TRIP_TICKS
      : REPAIR_ROUND_TRIP_TICKS;
  const repairTicks = Math.ceil(lagEntries / entriesPerRound) * roundTicks;
  return inFlightTicks + electionTicks + publisherTicks + repairTicks + 100;
}

/** Only the churn of short-lived sequencers, on a calm network. */
function drawElectionChurn(prng: Prng, nodeCount: number, electionTimeoutTicks: number): FaultPlan {
  return {
    network: { ...CALM_NETWORK, maxDelaySubSteps: prng.int(1, SUB_STEPS_PER_TICK) },
    crashChancePerTick: 0,
    maxNodesDown: Math.floor((nodeCount - 1) / 2),
    restartAfterTicks: [1, prng.int(2, 3 * electionTimeoutTicks)],
    midReadyCrashShare: 0,
    pauseChancePerTick: 0,
    pauseTicks: [1, 1],
    partitionChancePerTick: 0,
    partitionTicks: [1, 1],
    oneWayPartitionShare: 0,
    transferChancePerTick: 0,
    clockSkewMaxMs: 0,
    huntLeadersAfterTicks: [0, prng.int(1, electionTimeoutTicks)],
    powerLossChancePerTick: 0,
    forgedFrameChancePerTick: 0,
  };
}

function drawFaults(prng: Prng, nodeCount: number, electionTimeoutTicks: number): FaultPlan {
  const minority = Math.floor((nodeCount - 1) / 2);
  const on = (chance: number): boolean => prng.chance(chance);
  const maxDelaySubSteps = prng.int(1, 3 * SUB_STEPS_PER_TICK);
  const network: NetworkFaults = {
    lossRate: on(0.6) ? prng.float(0, 0.25) : 0,
    duplicateRate: on(0.5) ? prng.float(0, 0.15) : 0,
    minDelaySubSteps: 1,
    maxDelaySubSteps,
    spikeRate: on(0.5) ? prng.float(0, 0.05) : 0,
    spikeMaxDelaySubSteps:
      maxDelaySubSteps + prng.int(1, 4 * electionTimeoutTicks * SUB_STEPS_PER_TICK),
  };
  return {
    network,
    crashChancePerTick: on(0.7) ? prng.float(0.002, 0.03) : 0,
    maxNodesDown: on(0.25) ? nodeCount : minority,
    restartAfterTicks: [1, prng.int(2, 6 * electionTimeoutTicks)],
    midReadyCrashShare: prng.float(0.3, 1),
    pauseChancePerTick: on(0.5) ? prng.float(0.002, 0.02) : 0,
    pauseTicks: [1, prng.int(2, 4 * electionTimeoutTicks)],
    partitionChancePerTick: on(0.6) ? prng.float(0.003, 0.03) : 0,
    partitionTicks: [1, prng.int(electionTimeoutTicks, 10 * electionTimeoutTicks)],
    oneWayPartitionShare: prng.float(0, 0.6),
    transferChancePerTick: on(0.4) ? prng.float(0.002, 0.02) : 0,
    clockSkewMaxMs: on(0.5) ? prng.int(1, 2000) : 0,
    huntLeadersAfterTicks: on(0.3) ? [0, prng.int(1, 3 * electionTimeoutTicks)] : null,
    powerLossChancePerTick: 0,
    forgedFrameChancePerTick: 0,
  };
}
