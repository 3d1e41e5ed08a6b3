import type { BrokerStatus, NodeStatus } from '../../clients/admin.js';

/**
 * Plain JSON views of node status: every field present (zero values
 * included) and every number a number, whatever the wire decoder left out
 * as a default. `ordo status --json` and the HTTP endpoints print these.
 */
export interface PeerJson {
  id: string;
  matchSeq: number;
  lagEntries: number;
  active: boolean;
}

export interface SubscriberJson {
  subscriptionId: number;
  nextSeq: number;
  ackedSeq: number;
  lagEntries: number;
  topics: string[];
}

export interface ReplicaJson {
  replicaId: string;
  plugin: string;
  appliedSeq: number;
  digestSeq: number;
  digest: string;
  diverged: boolean;
  divergedAtSeq: number;
  reportedMsAgo: number;
}

export interface NodeStatusJson {
  id: string;
  version: string;
  uptimeMs: number;
  role: string;
  epoch: number;
  leaderId: string;
  firstSeq: number;
  lastSeq: number;
  commitSeq: number;
  knownLeaderLastSeq: number;
  catchUpRemaining: number;
  clientEndpoint: string;
  fsync: string;
  transferTarget: string;
  pendingPublishes: number;
  electionsStarted: number;
  badFrames: number;
  staleMessagesRejected: number;
  peerMessagesRefused: number;
  secured: boolean;
  handshakesRefused: number;
  requestsForbidden: number;
  faultsInjected: number;
  dedupCheckpointSeq: number;
  logChainHash: string;
  peers: PeerJson[];
  subscribers: SubscriberJson[];
  replicas: ReplicaJson[];
  /** The membership in force, as this node's log says. */
  members: { id: string; voter: boolean; witness: boolean }[];
  configPending: boolean;
  clientConnections: number;
  connectionsRefused: number;
  logWriteFailures: number;
  /** Why the node refuses publishes now; empty when it accepts them. */
  degraded: string;
  allocationFailures: number;
  commitNoticesLeftOut: number;
  /** This node is a witness (it votes, never leads, keeps only the log's tail). */
  witness: boolean;
  /** Witnesses: the seq every data voter holds; the witness drops its committed entries up to it. */
  witnessFloorSeq: number;
}

export interface BrokerStatusJson {
  endpoint: string;
  reachable: boolean;
  /** Why the broker gave no status; empty when it answered. */
  error: string;
  status: NodeStatusJson | null;
}

const num = (v: number | null | undefined): number => Number(v ?? 0);
const str = (v: string | null | undefined): string => v ?? '';

export function nodeStatusJson(s: NodeStatus): NodeStatusJson {
  return {
    id: str(s.id),
    version: str(s.version),
    uptimeMs: num(s.uptimeMs),
    role: str(s.role),
    epoch: num(s.epoch),
    leaderId: str(s.leaderId),
    firstSeq: num(s.firstSeq),
    lastSeq: num(s.lastSeq),
    commitSeq: num(s.commitSeq),
    knownLeaderLastSeq: num(s.knownLeaderLastSeq),
    catchUpRemaining: num(s.catchUpRemaining),
    clientEndpoint: str(s.clientEndpoint),
    fsync: str(s.fsync),
    transferTarget: str(s.transferTarget),
    pendingPublishes: num(s.pendingPublishes),
    electionsStarted: num(s.electionsStarted),
    badFrames: num(s.badFrames),
    staleMessagesRejected: num(s.staleMessagesRejected),
    peerMessagesRefused: num(s.peerMessagesRefused),
    secured: s.secured === true,
    handshakesRefused: num(s.handshakesRefused),
    requestsForbidden: num(s.requestsForbidden),
    faultsInjected: num(s.faultsInjected),
    dedupCheckpointSeq: num(s.dedupCheckpointSeq),
    logChainHash: str(s.logChainHash),
    peers: (s.peers ?? []).map((p) => ({
      id: str(p.id),
      matchSeq: num(p.matchSeq),
      lagEntries: num(p.lagEntries),
      active: p.active === true,
    })),
    subscribers: (s.subscribers ?? []).map((sub) => ({
      subscriptionId: num(sub.subscriptionId),
      nextSeq: num(sub.nextSeq),
      ackedSeq: num(sub.ackedSeq),
      lagEntries: num(sub.lagEntries),
      topics: [...(sub.topics ?? [])],
    })),
    members: (s.members ?? []).map((m) => ({
      id: str(m.id),
      voter: m.voter === true,
      witness: m.witness === true,
    })),
    configPending: s.configPending === true,
    clientConnections: num(s.clientConnections),
    connectionsRefused: num(s.connectionsRefused),
    logWriteFailures: num(s.logWriteFailures),
    degraded: str(s.degraded),
    allocationFailures: num(s.allocationFailures),
    commitNoticesLeftOut: num(s.commitNoticesLeftOut),
    witness: s.witness === true,
    witnessFloorSeq: num(s.witnessFloorSeq),
    replicas: (s.replicas ?? []).map((r) => ({
      replicaId: str(r.replicaId),
      plugin: str(r.plugin),
      appliedSeq: num(r.appliedSeq),
      digestSeq: num(r.digestSeq),
      digest: str(r.digest),
      diverged: r.diverged === true,
      divergedAtSeq: num(r.divergedAtSeq),
      reportedMsAgo: num(r.reportedMsAgo),
    })),
  };
}

export function brokerStatusJson(b: BrokerStatus): BrokerStatusJson {
  return {
    endpoint: b.endpoint,
    reachable: b.status !== null,
    error: b.error ?? '',
    status: b.status === null ? null : nodeStatusJson(b.status),
  };
}
