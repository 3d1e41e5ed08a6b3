/**
 * What a chaos run records, and what the checker reads: every publish
 * attempted with its outcome, every deliverer's stream, and the final state
 * of every node and replica. A user can write the same JSON from a run of
 * their own and check it with `npm run chaos -- check FILE`.
 */

/** How one publish ended: acknowledged, failed for sure, or unknown (it may be in the stream). */
export type PublishOutcome = 'ok' | 'failed' | 'uncertain';

export interface PublishRecord {
  /** Name of the publisher (one producerId each, but a restarted publisher may take a new one). */
  readonly publisher: string;
  readonly producerId: string;
  /** 0 when unknown (a publish that failed); the checker then finds its deliveries by payload, so payloads should be unique. */
  readonly producerSeq: number;
  readonly payload: string;
  /** Wall time the publish was called and the time it resolved or failed. */
  readonly startMs: number;
  readonly endMs: number;
  readonly outcome: PublishOutcome;
  /** The seq it was acknowledged with (outcome 'ok'; 0 when the cluster no longer knew it). */
  readonly seq?: number;
  /** The error's class name (outcome 'failed' or 'uncertain'). */
  readonly error?: string;
}

export interface DeliveredMessage {
  readonly seq: number;
  /** 'data', 'epoch-start' for the entry each new sequencer writes, 'membership' for a membership change. */
  readonly kind: 'data' | 'epoch-start' | 'membership';
  readonly producerId: string;
  readonly producerSeq: number;
  readonly payload: string;
}

export interface DelivererRecord {
  /** e.g. `subscriber@n1`, `subscriber-any`, `stalled-subscriber`. */
  readonly name: string;
  /** The first seq it asked for; its stream must start there. */
  readonly fromSeq: number;
  /** True when it read every entry (control entries included), so its seqs must be contiguous. */
  readonly everySeq: boolean;
  readonly messages: readonly DeliveredMessage[];
}

export interface NodeRecord {
  readonly id: string;
  readonly lastSeq: number;
  readonly commitSeq: number;
  /** Hash chain over the node's log up to lastSeq (empty when the node keeps none). */
  readonly logChainHash: string;
}

export interface ReplicaRecord {
  readonly id: string;
  readonly appliedSeq: number;
  /** State digests at the agreed seqs, and the final one at appliedSeq. */
  readonly digests: readonly { readonly seq: number; readonly digest: string }[];
}

/** A fault as it was injected: what, on which nodes, and when it began and healed. */
export interface FaultRecord {
  readonly kind: string;
  readonly detail: string;
  readonly startMs: number;
  /** When it was healed (the end of the run for one never healed). */
  readonly endMs: number;
}

export interface History {
  readonly version: 1;
  readonly startMs: number;
  /** When the fault schedule ended (every fault healed) and draining began. */
  readonly healedMs: number;
  readonly endMs: number;
  readonly publishes: readonly PublishRecord[];
  readonly deliverers: readonly DelivererRecord[];
  readonly nodes: readonly NodeRecord[];
  readonly replicas: readonly ReplicaRecord[];
  readonly faults: readonly FaultRecord[];
}
