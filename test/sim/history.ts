import type { Entry, NodeId } from '../../src/core/index.js';
import type { DeliveryAnomaly, SkippedRange } from './delivered-stream.js';

export interface LeaderRecord {
  readonly epoch: number;
  readonly nodeId: NodeId;
  readonly tick: number;
}

/** An acknowledgement a publisher received: its message (a unique payload) committed at `seq`. */
export interface AckRecord {
  readonly publisherId: string;
  /** The message's payload in hex; every payload the simulator publishes is unique. */
  readonly payload: string;
  /** Null when the node answered a duplicate whose original seq it no longer knew. */
  readonly seq: number | null;
  readonly tick: number;
}

/** A read index the real admin client obtained: asked at `startTick`, answered `seq`. */
export interface ReadIndexRecord {
  readonly startTick: number;
  readonly seq: number;
}

export interface LivenessRecord {
  readonly healedAtTick: number;
  /** The tick by which every publish completed and every node delivered everything; null if never. */
  readonly completedAtTick: number | null;
  readonly boundTicks: number;
  /** What was still unfinished when the bound ran out. */
  readonly outstanding: readonly string[];
}

export interface CoreFailure {
  readonly nodeId: NodeId;
  readonly tick: number;
  readonly message: string;
}

/**
 * A rule the simulator sees broken as it happens: an ack or granted vote
 * sent before its storage made durable what it claims (`persistBeforeSend`),
 * or a sequencer committing an earlier epoch's entry by counting replicas
 * (`ownEpochCommit`, Raft §5.4.2).
 */
export interface RuleBreach {
  readonly property: 'persistBeforeSend' | 'ownEpochCommit';
  readonly nodeId: NodeId;
  readonly tick: number;
  readonly message: string;
}

/** Everything the checkers judge: what happened, recorded without judging it. */
export interface History {
  readonly nodeIds: readonly NodeId[];
  /** Each node's delivered stream of committed entries, in delivery order. */
  readonly delivered: ReadonlyMap<NodeId, readonly Entry[]>;
  /** The seqs each node skipped because its log was reset past them, ascending (absent: none). */
  readonly skipped: ReadonlyMap<NodeId, readonly SkippedRange[]>;
  readonly deliveryAnomalies: readonly DeliveryAnomaly[];
  /** What each publisher published: payloads in hex, in the order it published them. */
  readonly published: ReadonlyMap<string, readonly string[]>;
  /**
   * Payloads whose publish failed with UncertainOutcomeError: an attempt
   * under an earlier producer session may still be sequenced after later
   * messages, so they are exempt from FIFO (never from integrity).
   */
  readonly uncertain: ReadonlySet<string>;
  readonly acks: readonly AckRecord[];
  readonly readIndexes: readonly ReadIndexRecord[];
  /** Every time a node became sequencer. */
  readonly leaders: readonly LeaderRecord[];
  /** Null when the run stopped before it could heal (a core invariant broke). */
  readonly liveness: LivenessRecord | null;
  readonly coreFailures: readonly CoreFailure[];
  /** Rules a node broke, seen where they broke (see `RuleBreach`). */
  readonly ruleBreaches: readonly RuleBreach[];
  /**
   * Nodes that refused to start because no peer held a good copy of their
   * damaged records: out of the cluster for good, as the documented outcome.
   * What they delivered is still checked; they need not deliver the rest.
   */
  readonly retired: ReadonlySet<NodeId>;
  /** The witnesses of the seed config: never sequencer, never beyond their tail bound. */
  readonly witnesses: ReadonlySet<NodeId>;
  /** Each time a witness took entries beyond its tail bound. */
  readonly witnessTailBreaches: readonly string[];
}

export function payloadHex(payload: Uint8Array): string {
  let hex = '';
  for (const byte of payload) hex += byte.toString(16).padStart(2, '0');
  return hex;
}
