import type { ordo } from '../src/wire/schema.js';

/** A node's role in its current epoch. */
export type NodeRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** How far one follower has the sequencer's log, as the sequencer sees it. */
export interface PeerProgress {
  readonly id: string;
  /** Highest seq the follower is known to hold. */
  readonly matchSeq: number;
  readonly lagEntries: number;
  /** Heard from recently. */
  readonly active: boolean;
}

/** One member of the cluster, as a node's log records the membership. */
export interface MemberInfo {
  readonly id: string;
  /** False for a learner: it replicates but neither votes nor counts toward commits. */
  readonly voter: boolean;
  /** A witness: votes and counts toward commits, never leads, serves no subscribers. */
  readonly witness: boolean;
  /** '' when the node knows no address for it. */
  readonly clientEndpoint: string;
  /** Its CurveZMQ public key (Z85); '' on an insecure cluster or when the node knows none. */
  readonly publicKey: string;
}

/** One subscriber a node serves. */
export interface SubscriberStatus {
  readonly subscriptionId: number;
  /** Next seq the node will deliver to it. */
  readonly nextSeq: number;
  /** Highest seq the subscriber reported as consumed. */
  readonly ackedSeq: number;
  readonly lagEntries: number;
  readonly topics: readonly string[];
}

/** One replica's latest report to a node. */
export interface ReplicaStatus {
  readonly replicaId: string;
  readonly plugin: string;
  readonly appliedSeq: number;
  readonly digestSeq: number;
  readonly digest: string;
  /** This replica's digest differs from another replica's at the same seq. */
  readonly diverged: boolean;
  /** The first seq at which it differs (0 unless diverged). */
  readonly divergedAtSeq: number;
  readonly reportedMsAgo: number;
}

/** What one broker node reports about itself (`AdminClient.status`, `ordo status --json`). */
export interface NodeStatus {
  readonly id: string;
  readonly role: NodeRole;
  readonly epoch: number;
  /** Id of the sequencer it follows, '' when it knows none. */
  readonly leaderId: string;
  /** Oldest seq its log still holds. */
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly commitSeq: number;
  readonly knownLeaderLastSeq: number;
  readonly peers: readonly PeerProgress[];
  readonly subscribers: readonly SubscriberStatus[];
  readonly clientEndpoint: string;
  readonly electionsStarted: number;
  /** Node the sequencer role is being handed to, '' when none. */
  readonly transferTarget: string;
  readonly pendingPublishes: number;
  /** Fsync policy: memory, always, interval or never. */
  readonly fsync: string;
  /** Entries a follower still has to fetch to catch up with the sequencer. */
  readonly catchUpRemaining: number;
  readonly replicas: readonly ReplicaStatus[];
  /** Hash chained over the whole log; equal on nodes that hold the same log. */
  readonly logChainHash: string;
  readonly faultsInjected: number;
  readonly badFrames: number;
  readonly staleMessagesRejected: number;
  /** Peer messages refused as impossible under the protocol or sent under another node's name. */
  readonly peerMessagesRefused: number;
  /** Every socket of the node runs CurveZMQ with keys checked. */
  readonly secured: boolean;
  /** Handshakes the node refused: unknown keys, NULL and PLAIN connections (secured), and connections past the budgets. */
  readonly handshakesRefused: number;
  /** Client requests refused because the identity lacks a permission. */
  readonly requestsForbidden: number;
  readonly dedupCheckpointSeq: number;
  /** Entries of damaged log records this node repaired from its peers when it started. */
  readonly recordsRepaired: number;
  /** Frames larger than the frame limit the node refused (also in badFrames). */
  readonly oversizedFrames: number;
  /** Requests refused or ignored because a client spent a budget (subscriptions, publishes waiting, NACKs). */
  readonly budgetRefusals: number;
  /** Delivery bytes waiting in the node's send queue, over all subscribers. */
  readonly subscriberQueuedBytes: number;
  /** The membership in force, as this node's log says. */
  readonly members: readonly MemberInfo[];
  /** A membership change is appended but not yet committed. */
  readonly configPending: boolean;
  /** Client connections the node holds open now. */
  readonly clientConnections: number;
  /** Client handshakes refused because the node or the source address held its budget of connections. */
  readonly connectionsRefused: number;
  /** Log writes that failed for want of disk space or file descriptors. */
  readonly logWriteFailures: number;
  /** Why the node refuses publishes now (out of disk space or descriptors); '' when it accepts them. */
  readonly degraded: string;
  /** Frames refused because a buffer for them could not be allocated. */
  readonly allocationFailures: number;
  /** Sequencer: commit notices left out because the next multicast carried the commit point (since start). */
  readonly commitNoticesLeftOut: number;
  /** This node is a witness: it votes, never leads, keeps only the log's tail, serves no subscribers. */
  readonly witness: boolean;
  /** Witnesses: the seq every data voter holds; the witness drops its committed entries up to it. */
  readonly witnessFloorSeq: number;
  /** The Ordo version the node runs. */
  readonly version: string;
  /** How long the node has been running. */
  readonly uptimeMs: number;
}

const roles: readonly NodeRole[] = ['follower', 'pre-candidate', 'candidate', 'leader'];

/** @internal The wire message as the public type: every field present, defaults filled in. */
export function toNodeStatus(wire: ordo.INodeStatus): NodeStatus {
  const role = roles.find((r) => r === wire.role) ?? 'follower';
  return {
    id: wire.id ?? '',
    role,
    epoch: num(wire.epoch),
    leaderId: wire.leaderId ?? '',
    firstSeq: num(wire.firstSeq),
    lastSeq: num(wire.lastSeq),
    commitSeq: num(wire.commitSeq),
    knownLeaderLastSeq: num(wire.knownLeaderLastSeq),
    peers: (wire.peers ?? []).map((p) => ({
      id: p.id ?? '',
      matchSeq: num(p.matchSeq),
      lagEntries: num(p.lagEntries),
      active: p.active ?? false,
    })),
    subscribers: (wire.subscribers ?? []).map((s) => ({
      subscriptionId: num(s.subscriptionId),
      nextSeq: num(s.nextSeq),
      ackedSeq: num(s.ackedSeq),
      lagEntries: num(s.lagEntries),
      topics: [...(s.topics ?? [])],
    })),
    clientEndpoint: wire.clientEndpoint ?? '',
    electionsStarted: num(wire.electionsStarted),
    transferTarget: wire.transferTarget ?? '',
    pendingPublishes: num(wire.pendingPublishes),
    fsync: wire.fsync ?? '',
    catchUpRemaining: num(wire.catchUpRemaining),
    replicas: (wire.replicas ?? []).map((r) => ({
      replicaId: r.replicaId ?? '',
      plugin: r.plugin ?? '',
      appliedSeq: num(r.appliedSeq),
      digestSeq: num(r.digestSeq),
      digest: r.digest ?? '',
      diverged: r.diverged ?? false,
      divergedAtSeq: num(r.divergedAtSeq),
      reportedMsAgo: num(r.reportedMsAgo),
    })),
    logChainHash: wire.logChainHash ?? '',
    faultsInjected: num(wire.faultsInjected),
    badFrames: num(wire.badFrames),
    staleMessagesRejected: num(wire.staleMessagesRejected),
    peerMessagesRefused: num(wire.peerMessagesRefused),
    secured: wire.secured === true,
    handshakesRefused: num(wire.handshakesRefused),
    requestsForbidden: num(wire.requestsForbidden),
    dedupCheckpointSeq: num(wire.dedupCheckpointSeq),
    recordsRepaired: num(wire.recordsRepaired),
    oversizedFrames: num(wire.oversizedFrames),
    budgetRefusals: num(wire.budgetRefusals),
    subscriberQueuedBytes: num(wire.subscriberQueuedBytes),
    members: toMemberInfos(wire.members),
    configPending: wire.configPending ?? false,
    clientConnections: num(wire.clientConnections),
    connectionsRefused: num(wire.connectionsRefused),
    logWriteFailures: num(wire.logWriteFailures),
    degraded: wire.degraded ?? '',
    allocationFailures: num(wire.allocationFailures),
    commitNoticesLeftOut: num(wire.commitNoticesLeftOut),
    witness: wire.witness === true,
    witnessFloorSeq: num(wire.witnessFloorSeq),
    version: wire.version ?? '',
    uptimeMs: num(wire.uptimeMs),
  };
}

export function toMemberInfos(
  wire: readonly ordo.MemberInfo.$Properties[] | null | undefined,
): MemberInfo[] {
  return (wire ?? []).map((m) => ({
    id: m.id ?? '',
    voter: m.voter ?? false,
    witness: m.witness === true,
    clientEndpoint: m.clientEndpoint ?? '',
    publicKey: m.publicKey ?? '',
  }));
}

/** 64-bit fields are decoded as JS numbers (src/wire/schema.ts). */
function num(value: number | null | undefined): number {
  return value ?? 0;
}
