import { type CoreConfig, makeCoreConfig } from '../core/config.js';
import { checkpointUsable, retentionLimitSeq } from '../core/dedup-checkpoint-rules.js';
import {
  type Membership,
  type MembershipChange,
  type MembershipState,
  memberIds,
  seedMembership,
  votersOf,
} from '../core/membership.js';
import { PendingReplies, type SettledReply } from '../core/pending-replies.js';
import { PlantedDefect } from '../core/planted-defect.js';
import { ProtocolNode } from '../core/protocol-node.js';
import { type PublishOutcome, publishOutcome } from '../core/publish-outcome.js';
import { retransmitAppend } from '../core/retransmit.js';
import {
  type DedupCheckpoint,
  type Entry,
  type HardState,
  type NodeMessage,
  type PeerMessage,
  type Ready,
  type RepairRequestMessage,
  type RetransmitAction,
  Role,
} from '../core/types.js';
import { LIMITS } from '../limits.js';
import type { Clock, Random, TimerHandle } from '../runtime/clock.js';
import { isZ85Key } from '../runtime/curve-keys.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { ORDO_VERSION } from '../runtime/version.js';
import type { DedupCheckpointStore } from '../storage/dedup-checkpoint-store.js';
import type { IncarnationStorage } from '../storage/incarnation-store.js';
import type { LogStore, MetaStore, RecoveredLog } from '../storage/log-store.js';
import { type MembershipStorage, MemoryMembershipStore } from '../storage/membership-store.js';
import { SnapshotRequestError, type SnapshotStorage } from '../storage/snapshot-storage.js';
import { StorageFailedError } from '../storage/storage-errors.js';
import { type ClientRequest, packPublishResults } from '../wire/client-codec.js';
import type { DecodedPublishItem } from '../wire/packed-entries.js';
import { entriesOfItems, forgetPackedSourcesThrough } from '../wire/packed-source.js';
import { repairCopyDigest } from '../wire/repair-copy-digest.js';
import { ordo } from '../wire/schema.js';
import type { ClientFrameSocket } from './client-frame-socket.js';
import { type ClientId, ClientServer } from './client-server.js';
import { type ClusterConfig, clientEndpoint, type NodeAddress } from './cluster-config.js';
import { CommitNoticeHold } from './commit-notice-hold.js';
import { ConfigError } from './config-error.js';
import { type FaultInjection, NO_FAULTS } from './fault-injection.js';
import { Incarnations } from './incarnation.js';
import { LogRepair } from './log-repair.js';
import { addressOfMember, encodeMemberAddress } from './member-address.js';
import type { NodeMetrics } from './node-metrics.js';
import type { PeerLink } from './peer-link.js';
import { Authorizer, producerIdRefusal } from './permissions.js';
import { productionEdges } from './production-edges.js';
import { ReplicaRegistry } from './replica-registry.js';
import { SubscriptionManager } from './subscription-manager.js';

/**
 * Everything a node touches outside its own memory, besides storage: the
 * peer network, the client socket, time and chance, and what to do when it
 * must stop. Production uses ZeroMQ, the system clock and Math.random
 * (`productionEdges`); the simulator passes deterministic ones, so that it
 * runs this very host.
 */
export interface NodeEdges {
  readonly peers: PeerLink;
  readonly clientSocket: ClientFrameSocket;
  readonly clock: Clock;
  readonly random: Random;
  /** The node hit an error it cannot recover from and has stopped itself. */
  readonly onFatal: (error: Error) => void;
  /** Whether the sockets run CurveZMQ, and how many handshakes they refused (absent: not secured). */
  readonly security?: () => { readonly secured: boolean; readonly handshakesRefused: number };
  /**
   * The other members, as the membership in force gives them (with their
   * keys on a secured cluster): the client port admits their keys as nodes.
   */
  readonly membersChanged?: (peers: readonly NodeAddress[]) => void;
  /** Client connections open now and handshakes refused for the connection budgets (absent: not counted). */
  readonly connections?: () => { readonly open: number; readonly refused: number };
}

/** How often the host does its housekeeping; production takes these from LIMITS. */
export interface HostTiming {
  readonly retentionCheckIntervalMs: number;
  readonly dedupCheckpointIntervalMs: number;
  readonly commitSaveIntervalMs: number;
  /** Longest the sequencer holds a commit notice (CommitNoticeHold); 0 sends each at once. */
  readonly commitNoticeHoldMs: number;
}

export const DEFAULT_HOST_TIMING: HostTiming = {
  retentionCheckIntervalMs: LIMITS.retentionCheckIntervalMs,
  dedupCheckpointIntervalMs: LIMITS.dedupCheckpointIntervalMs,
  commitSaveIntervalMs: LIMITS.commitSaveIntervalMs,
  commitNoticeHoldMs: LIMITS.commitNoticeHoldMs,
};

/** Hears what a node does, for tests and the simulator's checkers. */
export interface NodeObserver {
  /** The core changed role, epoch or leader; called as the Ready that says so is taken, before it is carried out. */
  onRoleChange?(role: Role, epoch: number, leaderId: string | null): void;
  /**
   * The sequencer moved its commit point to `commitSeq`, whose entry is of
   * `entryEpoch`, while leading `epoch`; called as the Ready is taken. A
   * sequencer commits by counting replicas only entries of its own epoch
   * (earlier ones commit with them), so the two epochs are equal.
   */
  onLeaderCommit?(commitSeq: number, entryEpoch: number, epoch: number): void;
}

/** Where the dedup table is checkpointed: the file store in production. */
export type DedupCheckpointStorage = Pick<DedupCheckpointStore, 'load' | 'save' | 'close'>;

export interface BrokerNodeOptions {
  readonly config: ClusterConfig;
  readonly nodeId: string;
  readonly store: LogStore;
  readonly meta: MetaStore;
  /** Where the folder's incarnation is kept (durable stores); none skips the incarnation check. */
  readonly incarnation?: IncarnationStorage;
  /** The node's data folder, named in errors. */
  readonly dataFolder?: string;
  /** Where the membership is kept (durable stores); none keeps it in memory only. */
  readonly membership?: MembershipStorage;
  /**
   * The voters of a new cluster, used only when no membership was saved:
   * every node of the config by default; none for a node joining a running
   * cluster (`--join`), which learns the membership from the sequencer.
   */
  readonly seedMembers?: readonly string[];
  readonly logger: Logger;
  readonly faults?: FaultInjection;
  /** Where the dedup table is checkpointed (durable stores); none keeps it in memory only. */
  readonly dedup?: DedupCheckpointStorage;
  /** Optional hash of the stored log, shown in status (durable stores provide it). */
  readonly chainHash?: () => string;
  /** The I/O edges; ZeroMQ, the system clock and Math.random when absent. */
  readonly edges?: NodeEdges;
  /** Core settings that override those derived from the config (the simulator's tight limits, planted defects). */
  readonly coreOverrides?: Partial<CoreConfig>;
  /** Housekeeping intervals; DEFAULT_HOST_TIMING when absent (the simulator draws its own). */
  readonly hostTiming?: HostTiming;
  readonly observer?: NodeObserver;
  /** Told of every Ready and peer message, for metrics and event logs. */
  readonly metrics?: NodeMetrics;
  /** Where snapshots for late-joining replicas are stored (a data folder); none stores none. */
  readonly snapshots?: SnapshotStorage;
}

interface PendingPublish {
  readonly client: ClientId;
  /** The client connection's routing id in hex, for its budget of publishes waiting for commit. */
  readonly clientKey: string;
  /** Who sent it on a secured cluster (null on an insecure one), for the identity's budget. */
  readonly identity: string | null;
  readonly requestId: number;
  readonly producerId: string;
  /**
   * Each item's seq once it is answered OK (without a detail), else 0: the
   * common answer, kept as a number rather than an object per message.
   */
  readonly okSeqs: number[];
  /** Each other item's answer, by index (unset where okSeqs holds a seq). */
  readonly results: (ordo.PublishResult.$Properties | undefined)[];
  /** Each item's producerSeq, by index, to answer it. */
  readonly producerSeqs: readonly number[];
  remaining: number;
  /** The client sent its items packed, so it reads its OK results packed too. */
  readonly packed: boolean;
}

/** Items of one publish waiting for the commit of consecutive seqs: from `firstIndex` on. */
interface PublishSlot {
  readonly request: PendingPublish;
  readonly firstIndex: number;
}

const { PublishStatus } = ordo;

function committedAt(seq: number, producerSeq: number): ordo.PublishResult.$Properties {
  return { producerSeq, status: PublishStatus.PUBLISH_STATUS_OK, seq };
}

function replacedBySequencer(_seq: number, producerSeq: number): ordo.PublishResult.$Properties {
  return {
    producerSeq,
    status: PublishStatus.PUBLISH_STATUS_RETRY,
    detail: 'entry replaced by a new sequencer',
  };
}

/**
 * One Ordo broker node: the pure protocol core wrapped by its edges (peer
 * transport, client server, log store, clock, logger). All inputs are fed to
 * the core on the event loop; one drive loop carries out each Ready in order
 * (persist, then send, then deliver) before taking the next, and everything
 * that arrives meanwhile is batched into the next Ready.
 */
export class BrokerNode {
  private readonly self: NodeAddress;
  private readonly core: ProtocolNode;
  private readonly transport: PeerLink;
  private readonly commitNotices: CommitNoticeHold;
  private readonly clients: ClientServer;
  private readonly clock: Clock;
  private readonly timing: HostTiming;
  private readonly readErrorLog: RateLimitedLog;
  /** Only with the planted defect `ackBeforePersist`: every message leaves before the write. */
  private readonly sendsBeforePersisting: boolean;
  private readonly subscriptions: SubscriptionManager;
  private readonly replicas: ReplicaRegistry;
  /** Snapshot chunk requests being served (file I/O under way). */
  private snapshotRequestsInFlight = 0;
  private readonly authorizer: Authorizer;
  private requestsForbidden = 0;
  private readonly pending = new PendingReplies<PublishSlot>(LIMITS.maxPendingPublishReplies);
  /** Read index requests the core holds until a majority confirms them, by token. */
  private readonly pendingReads = new Map<number, { client: ClientId; requestId: number }>();
  private nextReadToken = 1;
  /** Publishes waiting for commit per client connection (hex routing id). */
  private readonly pendingByClient = new Map<string, number>();
  /** Publishes waiting for commit per identity (secured clusters), over all its connections. */
  private readonly pendingByIdentity = new Map<string, number>();
  /** Publishes answered BUSY because their connection or identity spent its budget. */
  private publishBudgetRefusals = 0;
  /** Whether the Ready being applied has had its multicast sent (a sequencer's, before its write). */
  private readyMulticastSent = false;
  private readonly repeatedWarnings: {
    retransmit: RateLimitedLog;
    dedupCheckpoint: RateLimitedLog;
    degraded: RateLimitedLog;
  };
  /**
   * Why the node cannot save its state right now (out of file descriptors
   * or disk space), or null. Meanwhile it refuses publishes and waits.
   */
  private degraded: string | null = null;
  /** The log store's write problem as last seen by a tick, for its log lines. */
  private logWriteProblem: string | null = null;
  private readonly logger: Logger;
  private tickTimer: TimerHandle | null = null;
  private retentionTimer: TimerHandle | null = null;
  private driving = false;
  private driveScheduled = false;
  private stopped = false;
  private electionsStarted = 0;
  private staleMessagesRejected = 0;
  private peerMessagesRefused = 0;
  private readonly refusedLog: RateLimitedLog;
  private retransmitsInFlight = 0;
  private dedupCheckpointSeq = 0;
  private dedupTimer: TimerHandle | null = null;
  private checkpointing = false;
  private savedHardState: HardState | null = null;
  private unsavedCommit: HardState | null = null;
  private commitSavedMs = 0;
  /** The lazy save of the commit point, running beside the drive loop; null when none runs. */
  private commitSaving: Promise<void> | null = null;
  private lastRole: Role = Role.follower;
  private readonly membershipStore: MembershipStorage;
  /** The member ids the peer link was last told of. */
  private linkedMembers: readonly string[] = [];
  private removedWarned = false;
  private incarnations: Incarnations | null = null;
  private helloTimer: TimerHandle | null = null;
  /** Damaged records this node repaired from its peers when it started. */
  private recordsRepaired = 0;
  private readonly startedMs: number;

  private constructor(
    private readonly options: BrokerNodeOptions,
    private readonly edges: NodeEdges,
    core: ProtocolNode,
    membershipStore: MembershipStorage,
  ) {
    this.replicas = new ReplicaRegistry(options.snapshots ?? null);
    const { config, nodeId, logger } = options;
    this.logger = logger;
    this.self = config.nodes.find((n) => n.id === nodeId)!;
    this.core = core;
    this.membershipStore = membershipStore;
    this.clock = edges.clock;
    this.startedMs = this.clock.nowMs();
    this.timing = options.hostTiming ?? DEFAULT_HOST_TIMING;
    this.sendsBeforePersisting =
      options.coreOverrides?.plantedDefects?.has(PlantedDefect.ackBeforePersist) === true;
    this.transport = edges.peers;
    this.commitNotices = new CommitNoticeHold(
      this.clock,
      this.timing.commitNoticeHoldMs,
      (notice) => this.transport.send(null, notice),
      // A Ready still being applied when stop() ran may hold a notice after it.
      (epoch) => !this.stopped && this.core.isLeader && this.core.currentEpoch === epoch,
    );
    this.clients = new ClientServer(edges.clientSocket, logger, this.clock, (client) =>
      this.subscriptions.dropClient(client),
    );
    this.subscriptions = new SubscriptionManager(
      options.store,
      (client, response, onLeft) => this.clients.reply(client, response, onLeft),
      options.faults ?? NO_FAULTS,
      () => this.clock.nowMs(),
      logger,
      (error) => this.onReadError(error),
    );
    const rateLimited = () =>
      new RateLimitedLog(logger, LIMITS.repeatedLogIntervalMs, () => this.clock.nowMs());
    this.readErrorLog = rateLimited();
    this.refusedLog = rateLimited();
    this.repeatedWarnings = {
      retransmit: rateLimited(),
      dedupCheckpoint: rateLimited(),
      degraded: rateLimited(),
    };
    this.authorizer = new Authorizer(options.config);
  }

  /** A failed store stops the node; a damaged record only costs that subscriber this node. */
  private onReadError(error: Error): void {
    if (error instanceof StorageFailedError) {
      this.fail(error);
      return;
    }
    this.readErrorLog.warn(`node ${this.self.id} cannot serve a subscriber: ${error.message}`);
  }

  /** Recovers from storage, binds every socket and starts ticking. */
  static async start(options: BrokerNodeOptions): Promise<BrokerNode> {
    const { config, nodeId } = options;
    if (!config.nodes.some((n) => n.id === nodeId)) {
      throw new ConfigError(
        `node id '${nodeId}' is not in the cluster config (members: ${config.nodes.map((n) => n.id).join(', ')})`,
      );
    }
    const edges =
      options.edges ?? productionEdges(config, nodeId, options.faults ?? NO_FAULTS, options.logger);
    const folder = options.dataFolder ?? '(none: memory only)';
    // A folder of another node is refused before anything in it is read.
    const { incarnations } = await Incarnations.open(
      options.incarnation ?? null,
      nodeId,
      edges.random,
      folder,
    );
    let recovered = await options.store.open();
    // The peer link starts first, so that a damaged log is repaired from the
    // peers before the core starts; what arrives meanwhile for the core is
    // dropped (the protocol's retries cover it).
    const inbox: {
      node: BrokerNode | null;
      repair: LogRepair | null;
      membership: Membership;
    } = {
      node: null,
      repair: null,
      membership: { members: [] },
    };
    await edges.peers.start(
      (message) => {
        if (message.type === 'hello') {
          const members = memberIds(inbox.node?.membership ?? inbox.membership);
          const known = incarnations.onHello(message.from, message.incarnation, (id) =>
            members.includes(id),
          );
          edges.peers.send(message.from, {
            type: 'helloReply',
            epoch: 0,
            from: nodeId,
            knownIncarnation: known,
          });
        } else if (message.type === 'helloReply') incarnations.onReply(message);
        else if (inbox.node !== null) inbox.node.onNodeMessage(message);
        else if (message.type === 'repairResponse') inbox.repair?.onResponse(message);
        // A peer repairing at the same time may need what this node holds intact.
        else if (message.type === 'repairRequest')
          void serveRepair(options.store, edges.peers, nodeId, 0, message, options.logger);
      },
      (peer) => inbox.node?.onPeerUnreachable(peer),
    );
    let repairedEntries = 0;
    const hardState = await options.meta.load();
    const membershipStore = options.membership ?? new MemoryMembershipStore();
    let membership = await membershipStore.load();
    const seed = options.seedMembers ?? config.nodes.map((n) => n.id);
    const witnesses = config.nodes.filter((n) => n.witness === true).map((n) => n.id);
    if (membership === null && seed.length > 0) {
      // Saved at the first start: from then on the config file's node list
      // is only an address book (new nodes may be added to it).
      membership = { committed: seedMembership(seed, witnesses), pending: [] };
      await membershipStore.save(membership);
    }
    if (membership !== null) inbox.membership = membershipInForce(membership);
    const asked = new Set([...config.nodes.map((n) => n.id), ...memberIds(inbox.membership)]);
    asked.delete(nodeId);
    await incarnations.check(
      edges.peers,
      nodeId,
      [...asked],
      edges.clock,
      2 * config.electionTimeoutMs,
      folder,
      options.logger,
    );
    if (options.store.damagedRanges().length > 0) {
      // The voters as last known: a committed entry is held by a majority of them.
      const known =
        membership === null ? seedMembership(seed, witnesses) : membershipInForce(membership);
      const peers = votersOf(known).filter((id) => id !== nodeId);
      inbox.repair = new LogRepair(
        nodeId,
        peers,
        options.store,
        edges.peers,
        edges.clock,
        options.logger,
        hardState.commitSeq,
      );
      repairedEntries = await inbox.repair.repairAll();
      inbox.repair = null;
      recovered = await options.store.recovered();
    }
    const ticks = (ms: number) => Math.max(1, Math.round(ms / config.tickMs));
    const coreConfig = makeCoreConfig(nodeId, seed, edges.random, {
      witnesses,
      electionTimeoutTicks: ticks(config.electionTimeoutMs),
      heartbeatIntervalTicks: ticks(config.heartbeatIntervalMs),
      nackRetryTicks: ticks(config.nackRetryMs),
      ...options.coreOverrides,
    });
    const dedup = await loadDedupCheckpoint(options, recovered);
    const core = new ProtocolNode(coreConfig, { ...recovered, ...dedup, hardState, membership });
    const node = new BrokerNode(options, edges, core, membershipStore);
    // The membership decides what the node does; its config entry decides its storage.
    const configWitness = witnesses.includes(nodeId);
    if (core.membership.members.some((m) => m.id === nodeId) && core.isWitness !== configWitness)
      options.logger.warn(
        core.isWitness
          ? `node ${nodeId} is a witness in the membership but its config entry lacks "witness": true: it keeps its log under the usual retention (set the flag and restart it)`
          : `node ${nodeId} has "witness": true in its config entry but is a data node in the membership: it keeps the whole log (remove the flag, or replace it with a witness)`,
      );
    node.incarnations = incarnations;
    node.dedupCheckpointSeq = dedup.dedupCheckpoint?.seq ?? 0;
    node.recordsRepaired = repairedEntries;
    inbox.node = node;
    node.syncPeers(core.membership);
    await node.listen();
    return node;
  }

  get id(): string {
    return this.self.id;
  }

  get clientEndpoint(): string {
    return clientEndpoint(this.self);
  }

  status(): ordo.NodeStatus.$Properties {
    const s = this.core.status();
    return {
      id: s.id,
      role: s.role,
      epoch: s.epoch,
      leaderId: s.leaderId ?? '',
      // The core takes a log start when it steps the append that carries it,
      // and the store is reset only when that Ready is applied; retention
      // moves the store first and the core after. The later of the two is
      // the first seq this node can serve, consistent with lastSeq (the
      // core's) in both windows.
      firstSeq: Math.max(s.firstSeq, this.options.store.firstSeq()),
      lastSeq: s.lastSeq,
      commitSeq: s.commitSeq,
      knownLeaderLastSeq: s.knownLeaderLastSeq,
      peers: s.peers.map((p) => ({
        id: p.id,
        matchSeq: p.matchSeq,
        lagEntries: p.lagEntries,
        active: p.active,
      })),
      subscribers: this.subscriptions.status(),
      clientEndpoint: this.clientEndpoint,
      electionsStarted: this.electionsStarted,
      transferTarget: s.transferTarget ?? '',
      pendingPublishes: this.pending.size,
      fsync: this.options.config.fsync,
      catchUpRemaining: s.role === Role.leader ? 0 : Math.max(0, s.knownLeaderLastSeq - s.lastSeq),
      replicas: this.replicas.status(this.clock.nowMs()),
      logChainHash: this.options.chainHash?.() ?? '',
      faultsInjected:
        this.transport.counters.droppedByFaultInjection + this.subscriptions.deliveriesDropped,
      badFrames: this.transport.counters.badFrames + this.clients.badFrames,
      oversizedFrames: this.transport.counters.oversizedFrames + this.clients.oversizedFrames,
      budgetRefusals:
        this.subscriptions.limitRefusals +
        this.subscriptions.nacksIgnored +
        this.publishBudgetRefusals,
      subscriberQueuedBytes: this.subscriptions.queuedBytes(),
      staleMessagesRejected: this.staleMessagesRejected,
      peerMessagesRefused: this.peerMessagesRefused + this.transport.counters.misattributed,
      secured: this.edges.security?.().secured ?? false,
      handshakesRefused: this.edges.security?.().handshakesRefused ?? 0,
      requestsForbidden: this.requestsForbidden,
      dedupCheckpointSeq: this.dedupCheckpointSeq,
      recordsRepaired: this.recordsRepaired,
      members: this.memberInfos(),
      configPending: s.configPending,
      clientConnections: this.edges.connections?.().open ?? 0,
      connectionsRefused: this.edges.connections?.().refused ?? 0,
      logWriteFailures: this.options.store.writeFailures?.() ?? 0,
      degraded: this.degradedReason() ?? '',
      allocationFailures:
        this.clients.allocationFailures + this.transport.counters.allocationFailures,
      commitNoticesLeftOut: this.commitNotices.noticesLeftOut,
      witness: s.witness,
      witnessFloorSeq: s.witnessFloorSeq,
      version: ORDO_VERSION,
      uptimeMs: this.clock.nowMs() - this.startedMs,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.tickTimer?.cancel();
    this.retentionTimer?.cancel();
    this.helloTimer?.cancel();
    this.dedupTimer?.cancel();
    this.commitNotices.stop();
    this.subscriptions.close();
    await this.transport.close();
    await this.clients.close();
    // A write waiting for disk space or descriptors is given up (nothing it
    // held was acknowledged); one in progress finishes before the store closes.
    this.options.store.interruptWrites?.();
    while (this.driving) await new Promise<void>((resolve) => this.clock.defer(resolve));
    await this.commitSaving;
    if (this.unsavedCommit !== null) await this.options.meta.save(this.unsavedCommit);
    await this.saveDedupCheckpoint(true);
    await this.options.dedup?.close();
    await this.options.store.close();
    await this.options.meta.close();
    await this.membershipStore.close();
    await this.incarnations?.close();
  }

  /** Whether this node is the sequencer, without building a whole status. */
  get isLeader(): boolean {
    return this.core.isLeader;
  }

  /** The epoch this node is in. */
  get epoch(): number {
    return this.core.currentEpoch;
  }

  /** The vote this node cast in its epoch: part of the hard state it must never forget. */
  get votedFor(): string | null {
    return this.core.currentVote;
  }

  /** The membership in force, as this node's log says. */
  get membership(): Membership {
    return this.core.membership;
  }

  /** A config entry above the commit point: no other change may start until it commits. */
  get configPending(): boolean {
    return this.core.status().configPending;
  }

  /** Where a member is reached: its config entry's address, else the config file's. */
  addressOf(id: string): NodeAddress | undefined {
    const member = this.core.membership.members.find((m) => m.id === id);
    return (
      (member === undefined ? undefined : addressOfMember(member)) ??
      this.options.config.nodes.find((n) => n.id === id)
    );
  }

  /** Tells the peer link of the members in force: multicast reaches them, and only them. */
  private syncPeers(membership: Membership): void {
    const ids = memberIds(membership).filter((id) => id !== this.self.id);
    if (
      ids.length === this.linkedMembers.length &&
      ids.every((id, i) => id === this.linkedMembers[i])
    )
      return;
    this.linkedMembers = ids;
    const peers: NodeAddress[] = [];
    for (const id of ids) {
      const address = this.addressOf(id);
      if (address === undefined) {
        this.logger.warn(`node ${this.self.id} has no address for member ${id}`);
        continue;
      }
      peers.push(address);
    }
    this.transport.setPeers?.(peers);
    this.edges.membersChanged?.(peers);
    const self = membership.members.find((m) => m.id === this.self.id);
    if (self === undefined && membership.members.length > 0 && !this.removedWarned) {
      this.removedWarned = true;
      this.logger.warn(
        `node ${this.self.id} is not a member of the cluster (members: ${ids.join(', ')}): it no longer takes part; stop it, or add it again with 'ordo members add'`,
      );
    }
  }

  private memberInfos(): ordo.MemberInfo.$Properties[] {
    return this.core.membership.members.map((m) => {
      const address = this.addressOf(m.id);
      return {
        id: m.id,
        voter: m.voter,
        witness: m.witness === true,
        clientEndpoint: address === undefined ? '' : clientEndpoint(address),
        publicKey: address?.publicKey ?? '',
      };
    });
  }

  /**
   * An operator's membership request. Changes go to the sequencer, one at a
   * time; removing the sequencer itself first hands its role to the most
   * caught-up voter and answers "retriable": asked again, the new sequencer
   * removes it.
   */
  private onMembersRequest(request: ordo.MembersRequest): ordo.MembersResponse.$Properties {
    const answer = (
      ok: boolean,
      detail: string,
      retriable = false,
      configSeq = 0,
    ): ordo.MembersResponse.$Properties => ({
      ok,
      detail,
      retriable,
      members: this.memberInfos(),
      leaderId: this.core.currentLeader ?? '',
      configSeq,
      configPending: this.core.status().configPending,
    });
    if (request.action === 'list') return answer(true, '');
    let change: MembershipChange;
    if (request.action === 'add') {
      const a = request.address;
      const publicKey = request.publicKey ?? '';
      if (publicKey !== '' && !isZ85Key(publicKey))
        return answer(false, `the public key of ${request.nodeId} is not a 40-character Z85 key`);
      const inConfig = this.options.config.nodes.find((n) => n.id === request.nodeId);
      const secured = this.edges.security?.().secured ?? false;
      let address = '';
      if (a !== null && a !== undefined && (a.host ?? '') !== '') {
        const key = publicKey !== '' ? publicKey : inConfig?.publicKey;
        if (secured && key === undefined)
          return answer(
            false,
            `this cluster is secured: adding ${request.nodeId} needs its public key (--public-key)`,
          );
        address = encodeMemberAddress({
          id: request.nodeId,
          host: a.host ?? '',
          bindHost: a.host ?? '',
          clientPort: a.clientPort ?? 0,
          peerPort: a.peerPort ?? 0,
          pubPort: a.pubPort ?? 0,
          httpPort: a.httpPort ? a.httpPort : null,
          ...(key === undefined ? {} : { publicKey: key }),
        });
      } else if (inConfig === undefined) {
        return answer(
          false,
          `no address given for ${request.nodeId}, and the config file has none`,
        );
      } else if (publicKey !== '') {
        return answer(false, `a public key for ${request.nodeId} needs its address too`);
      } else if (secured && inConfig.publicKey === undefined) {
        return answer(
          false,
          `this cluster is secured: adding ${request.nodeId} needs its public key (--public-key)`,
        );
      }
      change = {
        kind: 'addLearner',
        id: request.nodeId,
        address,
        ...(request.witness === true ? { witness: true } : {}),
      };
    } else {
      change = { kind: 'remove', id: request.nodeId };
      const status = this.core.status();
      if (request.nodeId === this.self.id && status.role === Role.leader) {
        if (status.transferTarget !== null)
          return answer(
            false,
            `handing the sequencer role to ${status.transferTarget} first`,
            true,
          );
        const target = status.peers
          .filter((p) => p.voter)
          .sort((a, b) => b.matchSeq - a.matchSeq)[0];
        if (target === undefined)
          return answer(false, 'the sequencer is the only voter: it cannot be removed');
        const started = this.core.transferLeadership(target.id);
        if (!started.ok) return answer(false, started.reason, true);
        this.logger.info(`node ${this.self.id} hands its role to ${target.id} before its removal`);
        return answer(false, `handing the sequencer role to ${target.id} first`, true);
      }
    }
    const result = this.proposeMembership(change);
    if (!result.ok) return answer(false, result.reason, result.retriable);
    this.logger.info(`node ${this.self.id} proposes ${change.kind} ${change.id}`, {
      seq: result.seq,
    });
    return answer(
      true,
      `${change.kind === 'remove' ? 'removal' : 'addition'} of ${change.id} appended at seq ${result.seq}`,
      false,
      result.seq,
    );
  }

  /** Proposes a membership change (the sequencer only). */
  proposeMembership(change: MembershipChange) {
    const result = this.core.proposeMembership(change, this.clock.nowMs());
    this.schedule();
    return result;
  }

  /**
   * The sequencer promotes a learner once it holds every committed entry,
   * one change at a time; each is retried on a later tick until it commits.
   */
  private maybePromoteLearners(): void {
    if (!this.core.isLeader) return;
    const status = this.core.status();
    if (status.configPending) return;
    for (const peer of status.peers) {
      if (peer.voter || peer.matchSeq < status.commitSeq) continue;
      const result = this.core.proposeMembership(
        { kind: 'promote', id: peer.id },
        this.clock.nowMs(),
      );
      if (result.ok) {
        this.logger.info(`node ${this.self.id} promotes learner ${peer.id} to voter`, {
          seq: result.seq,
        });
      }
      return;
    }
  }

  private async listen(): Promise<void> {
    // What the node recovered as committed is served at once, without
    // waiting for the next commit (an idle cluster may not commit for long).
    this.subscriptions.onCommit(this.core.committedSeq);
    await this.clients.start((client, request, identity) =>
      this.onClientRequest(client, request, identity),
    );
    // A peer that has not answered yet does not know this folder's
    // incarnation, and a restart with an empty folder would slip past it:
    // say hello again every heartbeat until each peer answered (a hello goes
    // only to peers that have not).
    this.helloTimer = this.clock.setInterval(() => {
      if (this.stopped) return;
      const peers = memberIds(this.core.membership).filter((id) => id !== this.self.id);
      this.incarnations?.helloUnanswered(this.transport, this.self.id, peers);
    }, this.options.config.heartbeatIntervalMs);
    this.tickTimer = this.clock.setInterval(() => this.onTick(), this.options.config.tickMs);
    this.retentionTimer = this.clock.setInterval(
      () => void this.applyRetention(),
      this.timing.retentionCheckIntervalMs,
    );
    if (this.options.dedup !== undefined) {
      this.dedupTimer = this.clock.setInterval(
        () => void this.saveDedupCheckpoint(),
        this.timing.dedupCheckpointIntervalMs,
      );
    }
    this.logger.info(`node ${this.self.id} listening for clients on ${this.clientEndpoint}`, {
      members: this.options.config.nodes.map((n) => n.id),
      fsync: this.options.config.fsync,
    });
  }

  /** Saves the dedup table when the commit point moved since the last checkpoint. */
  private async saveDedupCheckpoint(final = false): Promise<void> {
    const dedup = this.options.dedup;
    if (dedup === undefined || this.checkpointing || (this.stopped && !final)) return;
    if (this.core.committedSeq <= this.dedupCheckpointSeq) return;
    this.checkpointing = true;
    try {
      const checkpoint = this.core.dedupCheckpoint(LIMITS.dedupCheckpointPairsPerProducer);
      await dedup.save(checkpoint);
      this.dedupCheckpointSeq = checkpoint.seq;
    } catch (error) {
      this.repeatedWarnings.dedupCheckpoint.warn(
        `could not save the dedup checkpoint: ${(error as Error).message}`,
      );
    } finally {
      this.checkpointing = false;
    }
  }

  /**
   * Lets the store drop old entries and tells the core where the log now
   * starts. Never uncommitted entries, and with dedup checkpoints never past
   * the last saved one: a restart must find the producers of whatever was
   * dropped in the checkpoint.
   */
  private async applyRetention(): Promise<void> {
    if (this.stopped) return;
    // A witness keeps only its tail: it drops whatever every data voter
    // holds (committed), whatever its retention policy says and whatever its
    // dedup checkpoint (it never sequences, so never needs the table).
    // A data node also keeps what a late-joining replica needs: the log
    // after the newest snapshot it stores of each plugin it knows (see
    // ReplicaRegistry.retentionFloorSeq and docs/replicas.md).
    const limitSeq = this.core.isWitness
      ? Math.min(this.core.witnessFloorSeq, this.core.committedSeq)
      : Math.min(
          retentionLimitSeq(
            this.core.committedSeq,
            this.options.dedup === undefined ? null : this.dedupCheckpointSeq,
          ),
          this.replicas.retentionFloorSeq(),
        );
    this.replicas.expireUploads(this.clock.nowMs());
    let firstSeq: number;
    try {
      firstSeq = await this.options.store.applyRetention(limitSeq, this.clock.nowMs());
    } catch (error) {
      // The store failed (an fsync, a deletion): the node stops as it would on a failed write.
      this.fail(error as Error);
      return;
    }
    if (!this.stopped && firstSeq > this.core.status().firstSeq) this.core.compactBefore(firstSeq);
  }

  /** Stops the node on an error it cannot recover from (its supervisor restarts it from disk). */
  private fail(error: Error): void {
    if (this.stopped) return;
    this.logger.error(
      `node ${this.self.id} stopped on an error it cannot recover from: ${error.stack ?? error.message}`,
    );
    // Best effort: the store that failed may fail again while closing.
    this.stop().catch((closeError: Error) =>
      this.logger.warn(`node ${this.self.id} did not close cleanly: ${closeError.message}`),
    );
    this.edges.onFatal(error);
  }

  // ---------------------------------------------------------------- inputs

  /**
   * Why the node refuses publishes now, or null: it cannot save its state,
   * or its log store cannot write (out of disk space or file descriptors;
   * the store tries again, and acknowledges nothing it has not written).
   */
  private degradedReason(): string | null {
    if (this.degraded !== null) return `cannot save its state (${this.degraded})`;
    const problem = this.options.store.writeProblem?.() ?? null;
    return problem === null ? null : `cannot write its log (${problem})`;
  }

  /** Logs a log store that cannot write, and when it can again. */
  private watchLogWrites(): void {
    const problem = this.options.store.writeProblem?.() ?? null;
    if (problem !== null) {
      this.repeatedWarnings.degraded.warn(
        `node ${this.self.id} cannot write its log (${problem}); refusing publishes, acknowledging nothing unwritten, trying again`,
      );
    } else if (this.logWriteProblem !== null) {
      this.logger.info(`node ${this.self.id} can write its log again`);
    }
    this.logWriteProblem = problem;
  }

  private onTick(): void {
    if (this.stopped) return;
    this.watchLogWrites();
    this.core.tick();
    if (this.driving) this.sendWhileWriting();
    this.maybePromoteLearners();
    this.subscriptions.tick();
    this.schedule();
  }

  /**
   * A Ready is being applied (its write may wait on a slow fsync): the
   * sequencer still heartbeats once that Ready's multicast is out, and a
   * follower still acknowledges what is already durable, so that neither
   * looks dead for as long as a disk stalls (ProtocolNode.heartbeatNow, ackNow).
   */
  private sendWhileWriting(): void {
    if (this.readyMulticastSent) {
      const heartbeat = this.core.heartbeatNow();
      if (heartbeat !== null) this.multicast(heartbeat);
    }
    const ack = this.core.ackNow();
    if (ack !== null) this.transport.send(ack.to, ack.message);
  }

  private onPeerUnreachable(peer: string): void {
    if (this.stopped) return;
    this.core.peerUnreachable(peer);
    this.schedule();
  }

  private onNodeMessage(message: NodeMessage): void {
    if (this.stopped) return;
    if (message.type === 'repairRequest') {
      void serveRepair(
        this.options.store,
        this.transport,
        this.self.id,
        this.core.currentEpoch,
        message,
        this.logger,
      );
      return;
    }
    // A repair answer arriving after this node started is stale: it repaired before starting.
    if (message.type === 'repairResponse') return;
    // Hellos are answered where the peer link is started (see start()).
    if (message.type === 'hello' || message.type === 'helloReply') return;
    this.onPeerMessage(message);
  }

  private onPeerMessage(message: PeerMessage): void {
    if (this.stopped) return;
    // The core refuses it; counted here so that fencing is visible in status.
    if (message.epoch < this.core.currentEpoch) this.staleMessagesRejected++;
    this.options.metrics?.onPeerMessage(message, this.core.isLeader);
    const refusal = this.core.step(message);
    if (refusal !== null) {
      this.peerMessagesRefused++;
      this.refusedLog.warn(`node ${this.self.id} refused a peer message: ${refusal}`);
      return;
    }
    this.schedule();
  }

  /**
   * Why `identity` may not publish under `producerId`: the log says another
   * identity owns it. The core refuses such a proposal too; asking first
   * refuses the whole request at once, on any node.
   */
  private producerIdRefusal(identity: string | null, producerId: string): string | null {
    if (identity === null) return null;
    const owner = this.core.producerOwner(producerId);
    return owner === '' || owner === identity ? null : producerIdRefusal(identity, producerId);
  }

  /** Answers a request the identity may not make with a ForbiddenError naming the permission. */
  private forbid(client: ClientId, requestId: number, refusal: string | null): boolean {
    if (refusal === null) return false;
    this.requestsForbidden++;
    this.clients.replyError(client, requestId, ordo.ErrorCode.ERROR_CODE_FORBIDDEN, refusal);
    return true;
  }

  private onClientRequest(client: ClientId, request: ClientRequest, identity: string | null): void {
    if (this.stopped) return;
    const requestId = request.requestId;
    switch (request.body) {
      case 'publish': {
        const items = request.publish.items as ordo.PublishItem[];
        const refusal = this.producerIdRefusal(identity, request.publish.producerId);
        if (refusal !== null) {
          this.requestsForbidden++;
          this.clients.reply(client, {
            requestId,
            publish: {
              results: items.map((item) => ({
                producerSeq: item.producerSeq,
                status: PublishStatus.PUBLISH_STATUS_FORBIDDEN,
                detail: refusal,
              })),
            },
          });
          return;
        }
        this.onPublish(
          client,
          requestId,
          request.publish,
          identity,
          this.itemRefusals(identity, items),
        );
        this.schedule();
        return;
      }
      case 'subscribe':
        if (
          this.forbid(
            client,
            requestId,
            this.authorizer.subscribeRefusal(identity, request.subscribe.topics ?? []),
          )
        )
          return;
        if (this.core.isWitness) {
          this.clients.replyError(
            client,
            requestId,
            ordo.ErrorCode.ERROR_CODE_NOT_LEADER,
            `node ${this.self.id} is a witness: it keeps no full log and serves no subscribers; subscribe to a data node`,
          );
          return;
        }
        this.subscriptions.subscribe(client, requestId, request.subscribe, identity);
        return;
      case 'subscriberAck':
        this.subscriptions.ack(
          client,
          request.subscriberAck.subscriptionId,
          request.subscriberAck.ackedSeq,
        );
        return;
      case 'subscriberNack':
        this.subscriptions.nack(
          client,
          request.subscriberNack.subscriptionId,
          request.subscriberNack.fromSeq,
        );
        return;
      case 'unsubscribe':
        this.subscriptions.unsubscribe(client, request.unsubscribe.subscriptionId);
        this.clients.reply(client, { requestId, ok: {} });
        return;
      case 'status':
        this.clients.reply(client, { requestId, status: this.status() });
        return;
      case 'readIndex':
        this.onReadIndex(client, requestId);
        return;
      case 'transferLeader': {
        if (
          this.forbid(client, requestId, this.authorizer.adminRefusal(identity, 'transfer-leader'))
        )
          return;
        const result = this.core.transferLeadership(request.transferLeader.targetId);
        this.schedule();
        this.clients.reply(client, {
          requestId,
          transferLeader: result.ok
            ? { ok: true, detail: `transfer to ${request.transferLeader.targetId} started` }
            : { ok: false, detail: result.reason },
        });
        return;
      }
      case 'members':
        // Adding a member admits its key on every node's peer sockets: only an admin may change them.
        if (
          request.members.action !== 'list' &&
          this.forbid(
            client,
            requestId,
            this.authorizer.adminRefusal(identity, `members ${request.members.action}`),
          )
        )
          return;
        this.clients.reply(client, { requestId, members: this.onMembersRequest(request.members) });
        this.schedule();
        return;
      case 'replicaReport':
        if (
          this.forbid(client, requestId, this.authorizer.adminRefusal(identity, 'replica report'))
        )
          return;
        this.replicas.report(request.replicaReport, this.clock.nowMs(), this.logger);
        this.clients.reply(client, { requestId, ok: {} });
        return;
      case 'putSnapshotChunk':
        if (this.forbid(client, requestId, this.authorizer.adminRefusal(identity, 'put snapshot')))
          return;
        this.answerSnapshotRequest(client, requestId, () =>
          this.replicas
            .putSnapshotChunk(request.putSnapshotChunk, this.clock.nowMs())
            .then((snapshotUpload) => ({ requestId, snapshotUpload })),
        );
        return;
      case 'getSnapshotChunk':
        this.answerSnapshotRequest(client, requestId, () =>
          this.replicas
            .getSnapshotChunk(request.getSnapshotChunk)
            .then((snapshotChunk) => ({ requestId, snapshotChunk })),
        );
        return;
      default:
        this.clients.replyError(
          client,
          requestId,
          ordo.ErrorCode.ERROR_CODE_MALFORMED,
          'unknown request',
        );
    }
  }

  /** Answers a snapshot request once its file I/O is done; a failure is an error answer, never a crash. */
  private answerSnapshotRequest(
    client: ClientId,
    requestId: number,
    work: () => Promise<ordo.ClientResponse.$Properties>,
  ): void {
    // Each holds a chunk in memory: bounded over all clients, whatever window they keep.
    if (this.snapshotRequestsInFlight >= LIMITS.maxSnapshotRequestsInFlight) {
      this.clients.replyError(
        client,
        requestId,
        ordo.ErrorCode.ERROR_CODE_LIMIT,
        `snapshot: ${this.snapshotRequestsInFlight} snapshot requests are in progress on this node; retry later`,
      );
      return;
    }
    this.snapshotRequestsInFlight++;
    work().then(
      (response) => {
        this.snapshotRequestsInFlight--;
        if (!this.stopped) this.clients.reply(client, response);
      },
      (error: Error) => {
        this.snapshotRequestsInFlight--;
        if (this.stopped) return;
        const refused = error instanceof SnapshotRequestError;
        if (!refused) this.logger.warn(`snapshot request failed: ${error.message}`);
        this.clients.replyError(
          client,
          requestId,
          refused ? ordo.ErrorCode.ERROR_CODE_MALFORMED : ordo.ErrorCode.ERROR_CODE_INTERNAL,
          `snapshot: ${error.message}`,
        );
      },
    );
  }

  /**
   * Why each item of a publish may not be published by `identity` (null for
   * one it may), or null when it may publish them all. Each distinct topic
   * is checked once.
   */
  private itemRefusals(
    identity: string | null,
    items: readonly ordo.PublishItem[],
  ): (string | null)[] | null {
    // An insecure cluster (no identity) refuses nothing.
    if (identity === null) return null;
    const byTopic = new Map<string, string | null>();
    let anyRefused = false;
    const refusals = items.map((item) => {
      let refusal = byTopic.get(item.topic);
      if (refusal === undefined) {
        refusal = this.authorizer.publishRefusal(identity, [item.topic]);
        byTopic.set(item.topic, refusal);
      }
      if (refusal !== null) anyRefused = true;
      return refusal;
    });
    return anyRefused ? refusals : null;
  }

  /**
   * Sequences a publish. Items the identity may not publish (`refusals`)
   * are answered FORBIDDEN, each on its own: a message's fate does not
   * depend on what the client batched it with. A producer's messages must
   * run on, so only the items before the first refused one go on; the
   * allowed items after it are answered OUT_OF_ORDER, and the publisher
   * sends them again with the refused producerSeqs closed up.
   */
  private onPublish(
    client: ClientId,
    requestId: number,
    publish: ordo.PublishRequest,
    identity: string | null,
    refusals: readonly (string | null)[] | null,
  ): void {
    const allItems = publish.items as ordo.PublishItem[];
    const clientKey = client.toString('hex');
    const request: PendingPublish = {
      client,
      clientKey,
      identity,
      requestId,
      producerId: publish.producerId,
      okSeqs: new Array<number>(allItems.length).fill(0),
      results: new Array(allItems.length),
      producerSeqs: allItems.map((item) => item.producerSeq),
      remaining: allItems.length,
      packed: publish.packedItems != null && publish.packedItems.length > 0,
    };
    const degraded = this.degradedReason();
    if (degraded !== null) {
      for (const [i, item] of allItems.entries()) {
        this.settle(request, i, {
          producerSeq: item.producerSeq,
          status: PublishStatus.PUBLISH_STATUS_BUSY,
          detail: `node ${this.self.id} ${degraded}; it refuses publishes until it can`,
        });
      }
      return;
    }
    const connectionFull =
      (this.pendingByClient.get(clientKey) ?? 0) + allItems.length >
      LIMITS.maxPendingPublishesPerConnection;
    const identityFull =
      identity !== null &&
      (this.pendingByIdentity.get(identity) ?? 0) + allItems.length >
        LIMITS.maxPendingPublishesPerIdentity;
    if (
      connectionFull ||
      identityFull ||
      this.pending.size + allItems.length > LIMITS.maxPendingPublishReplies
    ) {
      if (connectionFull || identityFull) this.publishBudgetRefusals += allItems.length;
      const detail = connectionFull
        ? `this connection already has ${this.pendingByClient.get(clientKey)} publishes waiting for commit on this node (limit ${LIMITS.maxPendingPublishesPerConnection}, maxPendingPublishesPerConnection)`
        : identityFull
          ? `identity '${identity}' already has ${this.pendingByIdentity.get(identity!) ?? 0} publishes waiting for commit on this node over all its connections (limit ${LIMITS.maxPendingPublishesPerIdentity}, maxPendingPublishesPerIdentity)`
          : 'too many publishes waiting for commit';
      for (const [i, item] of allItems.entries()) {
        this.settle(request, i, {
          producerSeq: item.producerSeq,
          status: PublishStatus.PUBLISH_STATUS_BUSY,
          detail,
        });
      }
      return;
    }
    const firstRefused = refusals === null ? -1 : refusals.findIndex((r) => r !== null);
    const items = firstRefused < 0 ? allItems : allItems.slice(0, firstRefused);
    if (firstRefused >= 0) {
      const gap = allItems[firstRefused]!.producerSeq;
      for (let k = firstRefused; k < allItems.length; k++) {
        const producerSeq = allItems[k]!.producerSeq;
        const refusal = refusals![k];
        if (refusal != null) this.requestsForbidden++;
        this.settle(
          request,
          k,
          refusal != null
            ? { producerSeq, status: PublishStatus.PUBLISH_STATUS_FORBIDDEN, detail: refusal }
            : {
                producerSeq,
                status: PublishStatus.PUBLISH_STATUS_OUT_OF_ORDER,
                expectedProducerSeq: gap,
              },
        );
      }
      if (items.length === 0) return;
    }
    // Payloads stay views into the request frame: the log keeps its
    // entries packed in buffers of their own, so no frame outlives the
    // Ready that writes its messages.
    const owner = identity ?? '';
    const sequencedOnly = publish.ackMode === ordo.AckMode.ACK_MODE_SEQUENCED;
    const nowMs = this.clock.nowMs();
    // A publisher's batch that is all new and fits goes in one step.
    const run = this.core.proposeRun(
      publish.producerId,
      owner,
      items,
      nowMs,
      request.packed
        ? (header) => entriesOfItems(items as unknown as DecodedPublishItem[], header)
        : undefined,
    );
    if (run !== null) {
      if (sequencedOnly)
        for (let k = 0; k < items.length; k++) this.settleOk(request, k, run.firstSeq + k);
      else this.waitForCommit(request, 0, items.length, run.firstSeq, run.epoch);
      return;
    }
    const proposals = items.map((item) => ({
      producerId: publish.producerId,
      producerSeq: item.producerSeq,
      topic: item.topic,
      payload: item.payload,
      owner,
    }));
    const results = this.core.propose(proposals, nowMs);
    const outcomes = results.map((result) =>
      publishOutcome(result, this.core.committedSeq, sequencedOnly),
    );
    // Items that wait for consecutive seqs of one epoch wait as one run.
    let i = 0;
    while (i < outcomes.length) {
      const outcome = outcomes[i]!;
      if (outcome.kind !== 'waitForCommit') {
        this.onPublishOutcome(request, i, items[i]!.producerSeq, outcome);
        i++;
        continue;
      }
      let j = i + 1;
      while (j < outcomes.length) {
        const next = outcomes[j]!;
        if (next.kind !== 'waitForCommit') break;
        if (next.seq !== outcome.seq + (j - i) || next.epoch !== outcome.epoch) break;
        j++;
      }
      this.waitForCommit(request, i, j - i, outcome.seq, outcome.epoch);
      i = j;
    }
  }

  /** Items [firstIndex, firstIndex + count) of `request` wait for the commit of seqs from `firstSeq`. */
  private waitForCommit(
    request: PendingPublish,
    firstIndex: number,
    count: number,
    firstSeq: number,
    epoch: number,
  ): void {
    if (!this.pending.add(firstSeq, count, epoch, { request, firstIndex })) {
      for (let k = 0; k < count; k++) {
        this.settle(request, firstIndex + k, {
          producerSeq: request.producerSeqs[firstIndex + k]!,
          status: PublishStatus.PUBLISH_STATUS_BUSY,
          detail: 'too many publishes waiting for commit',
        });
      }
      return;
    }
    this.pendingByClient.set(
      request.clientKey,
      (this.pendingByClient.get(request.clientKey) ?? 0) + count,
    );
    if (request.identity !== null) {
      this.pendingByIdentity.set(
        request.identity,
        (this.pendingByIdentity.get(request.identity) ?? 0) + count,
      );
    }
  }

  private onPublishOutcome(
    request: PendingPublish,
    index: number,
    producerSeq: number,
    // Items waiting for their commit wait as runs (waitForCommit).
    outcome: Exclude<PublishOutcome, { kind: 'waitForCommit' }>,
  ): void {
    switch (outcome.kind) {
      case 'ok':
        this.settleOk(request, index, outcome.seq);
        return;
      case 'duplicate':
        this.settle(
          request,
          index,
          outcome.seq === null
            ? {
                producerSeq,
                status: PublishStatus.PUBLISH_STATUS_DUPLICATE,
                detail: 'already sequenced; its seq is no longer remembered',
              }
            : { producerSeq, status: PublishStatus.PUBLISH_STATUS_DUPLICATE, seq: outcome.seq },
        );
        return;
      case 'outOfOrder':
        this.settle(request, index, {
          producerSeq,
          status: PublishStatus.PUBLISH_STATUS_OUT_OF_ORDER,
          expectedProducerSeq: outcome.expectedProducerSeq,
        });
        return;
      case 'notLeader':
        this.settle(request, index, {
          producerSeq,
          status: PublishStatus.PUBLISH_STATUS_NOT_LEADER,
        });
        return;
      case 'busy':
        this.settle(request, index, {
          producerSeq,
          status: PublishStatus.PUBLISH_STATUS_BUSY,
          detail: outcome.reason,
        });
        return;
      case 'forbidden':
        this.requestsForbidden++;
        this.settle(request, index, {
          producerSeq,
          status: PublishStatus.PUBLISH_STATUS_FORBIDDEN,
          detail: producerIdRefusal(request.identity ?? '', request.producerId),
        });
        return;
    }
  }

  /**
   * Settles items of a publish that were waiting for commit and did not
   * commit (they leave their budgets): the part `settled` of a run, each
   * item answered by `resultFor(seq, producerSeq)`.
   */
  private settleWaiting(
    settled: SettledReply<PublishSlot>,
    resultFor: (seq: number, producerSeq: number) => ordo.PublishResult.$Properties,
  ): void {
    const from = this.leaveBudgets(settled);
    for (let k = 0; k < settled.count; k++) {
      const index = from + k;
      const { request } = settled.token;
      this.settle(request, index, resultFor(settled.firstSeq + k, request.producerSeqs[index]!));
    }
  }

  /** Settles items of a publish that waited for commit and are committed: each is answered OK. */
  private settleCommitted(settled: SettledReply<PublishSlot>): void {
    const from = this.leaveBudgets(settled);
    for (let k = 0; k < settled.count; k++)
      this.settleOk(settled.token.request, from + k, settled.firstSeq + k);
  }

  /**
   * Takes the items `settled` out of their connection's and identity's
   * budgets of publishes waiting for commit; returns the index of the
   * first of them in their request.
   */
  private leaveBudgets(settled: SettledReply<PublishSlot>): number {
    const { request, firstIndex } = settled.token;
    const key = request.clientKey;
    const count = (this.pendingByClient.get(key) ?? settled.count) - settled.count;
    if (count > 0) this.pendingByClient.set(key, count);
    else this.pendingByClient.delete(key);
    const identity = request.identity;
    if (identity !== null) {
      const held = (this.pendingByIdentity.get(identity) ?? settled.count) - settled.count;
      if (held > 0) this.pendingByIdentity.set(identity, held);
      else this.pendingByIdentity.delete(identity);
    }
    return firstIndex + settled.offset;
  }

  /** Item `index` got `seq`: kept as a number, not an object per message (see okSeqs). */
  private settleOk(request: PendingPublish, index: number, seq: number): void {
    request.okSeqs[index] = seq;
    request.remaining--;
    if (request.remaining === 0) this.answer(request);
  }

  /** Item `index` gets an answer other than a plain OK. */
  private settle(
    request: PendingPublish,
    index: number,
    result: ordo.PublishResult.$Properties,
  ): void {
    request.results[index] = result;
    request.remaining--;
    if (request.remaining === 0) this.answer(request);
  }

  /** Answers a publish once every item of it is settled. */
  private answer(request: PendingPublish): void {
    this.clients.reply(request.client, {
      requestId: request.requestId,
      publish: {
        ...(request.packed
          ? packPublishResults(request.producerSeqs, request.okSeqs, request.results)
          : {
              results: request.producerSeqs.map(
                (producerSeq, i) =>
                  request.results[i] ?? committedAt(request.okSeqs[i]!, producerSeq),
              ),
            }),
        leader: this.leaderHint(),
      },
    });
  }

  // ----------------------------------------------------------- drive loop

  /**
   * Drives the core after the current turn of the event loop, so that
   * everything that arrived in this turn goes out in one Ready; while a
   * drive runs, what arrives meanwhile is picked up by its loop.
   */
  private schedule(): void {
    if (this.driveScheduled || this.stopped) return;
    this.driveScheduled = true;
    this.clock.defer(() => {
      this.driveScheduled = false;
      void this.drive();
    });
  }

  private async drive(): Promise<void> {
    if (this.driving || this.stopped) return;
    this.driving = true;
    try {
      while (!this.stopped && this.core.hasReady()) {
        const ready = this.core.ready();
        const change = ready.roleChange;
        if (change !== null)
          this.options.observer?.onRoleChange?.(change.role, change.epoch, change.leaderId);
        else if (ready.committed !== null && this.core.isLeader)
          this.options.observer?.onLeaderCommit?.(
            ready.committed.toSeq,
            this.core.epochAt(ready.committed.toSeq) ?? 0,
            this.core.currentEpoch,
          );
        await this.apply(ready);
        // Its entries were written and sent: their packed bytes may go.
        if (ready.entries.length > 0) forgetPackedSourcesThrough(ready.entries.at(-1)!.seq);
        this.core.advance(ready);
      }
      if (!this.stopped) this.saveCommitIfDue();
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.driving = false;
    }
    // Input that arrived after the loop's last look at the core found it
    // busy: it is driven now rather than at the next tick.
    if (!this.stopped && this.core.hasReady()) this.schedule();
  }

  /** Carries out one Ready: persist, then send, then deliver. */
  private async apply(ready: Ready): Promise<void> {
    this.readyMulticastSent = false;
    this.options.metrics?.onReady(ready, this.core.isLeader);
    let truncated = false;
    if (ready.membership !== null) {
      // Saved after a truncation and before new entries or a log reset, so
      // that the saved list always covers every config entry the log holds;
      // on recovery, a listed entry the log lacks is dropped.
      if (ready.truncateAfter !== null && ready.resetLogAfter === null) {
        await this.options.store.write(ready.truncateAfter, []);
        truncated = true;
      }
      await this.membershipStore.save(ready.membership);
    }
    if (ready.resetLogAfter !== null) {
      const { seq, epoch } = ready.resetLogAfter;
      this.logger.warn(
        `node ${this.self.id} lacks entries the sequencer no longer holds: its log restarts after seq ${seq}`,
      );
      for (const settled of this.pending.settleTruncated(0)) {
        this.settleWaiting(settled, (_seq, producerSeq) => ({
          producerSeq,
          status: PublishStatus.PUBLISH_STATUS_RETRY,
          detail: 'this node restarted its log',
        }));
      }
      await this.options.store.reset(seq + 1, epoch);
    }
    if (ready.truncateAfter !== null) {
      for (const settled of this.pending.settleTruncated(ready.truncateAfter)) {
        this.settleWaiting(settled, replacedBySequencer);
      }
    }
    // The sequencer may multicast before its own write completes (Raft §10.2.1):
    // it counts itself towards a majority only once the write is done.
    // Everything else (acks, votes) waits for the write.
    // A Ready that only moves the commit point (the usual one after a lone
    // message's acks) answers the publishers and subscribers first: what it
    // delivers was written by earlier Readies, and its messages (the new
    // commit point for the followers) are not on their path.
    const deliverFirst =
      ready.committed !== null &&
      ready.entries.length === 0 &&
      ready.truncateAfter === null &&
      ready.resetLogAfter === null &&
      ready.membership === null;
    if (deliverFirst) this.deliver(ready.committed.toSeq);
    const early = this.core.isLeader || this.sendsBeforePersisting;
    if (early) this.sendMessages(ready, this.sendsBeforePersisting ? null : true);
    this.readyMulticastSent = this.core.isLeader;
    if ((ready.truncateAfter !== null && !truncated) || ready.entries.length > 0) {
      await this.options.store.write(truncated ? null : ready.truncateAfter, ready.entries);
    }
    if (ready.hardState !== null) await this.saveHardState(ready.hardState);
    if (!this.sendsBeforePersisting) this.sendMessages(ready, early ? false : null);
    // Old entries may have to come from disk: reading them must not hold up
    // the live stream, so retransmissions run beside the drive loop, a
    // bounded number at a time (a follower whose request is dropped asks again).
    for (const action of ready.retransmits) {
      if (this.retransmitsInFlight >= LIMITS.maxConcurrentRetransmits) break;
      this.retransmitsInFlight++;
      void this.retransmit(action).finally(() => this.retransmitsInFlight--);
    }
    if (ready.membership !== null) this.syncPeers(membershipInForce(ready.membership));
    if (ready.committed !== null && !deliverFirst) this.deliver(ready.committed.toSeq);
    for (const read of ready.readStates) this.answerReadIndex(read.token, read.index);
    if (ready.roleChange !== null)
      this.onRoleChange(ready.roleChange.role, ready.roleChange.epoch, ready.roleChange.leaderId);
  }

  /** The sequencer as this node knows it, for clients to follow; null when unknown. */
  private leaderHint(): ordo.LeaderHint.$Properties | null {
    const leaderId = this.core.currentLeader;
    const leader = leaderId === null ? undefined : this.addressOf(leaderId);
    return leader === undefined ? null : { id: leader.id, clientEndpoint: clientEndpoint(leader) };
  }

  /** A read index is taken by the sequencer only: anyone else names it (when known). */
  private onReadIndex(client: ClientId, requestId: number): void {
    const token = this.nextReadToken++;
    const result = this.core.requestReadIndex(token);
    if (!result.ok) {
      this.clients.reply(client, {
        requestId,
        readIndex: {
          ok: false,
          detail: result.reason,
          retriable: result.retriable,
          leader: this.leaderHint(),
        },
      });
      return;
    }
    this.pendingReads.set(token, { client, requestId });
    this.schedule();
  }

  private answerReadIndex(token: number, index: number | null): void {
    const waiting = this.pendingReads.get(token);
    if (waiting === undefined) return;
    this.pendingReads.delete(token);
    this.clients.reply(waiting.client, {
      requestId: waiting.requestId,
      readIndex:
        index === null
          ? { ok: false, detail: 'this node stopped being the sequencer', retriable: true }
          : { ok: true, commitSeq: index },
    });
  }

  /**
   * The epoch and the vote must be durable before any message that depends
   * on them is sent, so they are saved at once. A moved commit point alone
   * is saved lazily (at most every `commitSaveIntervalMs`, and on stop):
   * after a crash the node only redelivers a few committed entries, which
   * subscribers skip by seq, and a save per Ready would cost an fsync each.
   */
  private async saveHardState(state: HardState): Promise<void> {
    const saved = this.savedHardState;
    if (saved !== null && saved.epoch === state.epoch && saved.votedFor === state.votedFor) {
      this.unsavedCommit = state;
      return;
    }
    // One save at a time: a lazy commit save still running lands first.
    await this.commitSaving;
    await this.saveMeta(state);
    this.savedHardState = state;
    this.unsavedCommit = null;
  }

  /**
   * Saves the hard state. Out of file descriptors or disk space, the node
   * does not stop: it keeps trying (the old state stays on disk whole: the
   * file is replaced atomically), refuses publishes meanwhile, and sends
   * nothing that depends on this save, so it acknowledges nothing it has
   * not written. Any other failure stops the node.
   */
  private async saveMeta(state: HardState): Promise<void> {
    let waitMs: number = LIMITS.resourceRetryBaseMs;
    for (;;) {
      try {
        await this.options.meta.save(state);
        if (this.degraded !== null) {
          this.logger.info(`node ${this.self.id} can save its state again`);
          this.degraded = null;
        }
        return;
      } catch (error) {
        const code = resourceExhausted(error);
        if (code === null || this.stopped) throw error;
        this.degraded = code;
        this.repeatedWarnings.degraded.warn(
          `node ${this.self.id} cannot save its state (${code}: ${(error as Error).message}); refusing publishes, trying again`,
        );
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, waitMs));
        waitMs = Math.min(waitMs * 2, LIMITS.resourceRetryMaxMs);
      }
    }
  }

  /**
   * Starts the lazy save of a moved commit point when it is due. It runs
   * beside the drive loop, not in it: nothing waits for it (a crash before
   * it lands only redelivers a few committed entries), so the Readies that
   * follow, with their acks and replies, do not wait for its fsync. A save
   * of the epoch or the vote waits for it (saveHardState), so the file
   * always ends with the newest state.
   */
  private saveCommitIfDue(): void {
    const state = this.unsavedCommit;
    const nowMs = this.clock.nowMs();
    if (
      state === null ||
      this.commitSaving !== null ||
      nowMs - this.commitSavedMs < this.timing.commitSaveIntervalMs
    )
      return;
    this.unsavedCommit = null;
    this.commitSavedMs = nowMs;
    this.commitSaving = this.saveMeta(state).then(
      () => {
        this.savedHardState = state;
        this.commitSaving = null;
      },
      (error: Error) => {
        this.commitSaving = null;
        if (!this.stopped) this.fail(error);
      },
    );
  }

  /** `multicastOnly`: true sends just the multicast, false just the rest, null everything. */
  private sendMessages(ready: Ready, multicastOnly: boolean | null): void {
    for (const outgoing of ready.messages) {
      const { to, message } = outgoing;
      if (multicastOnly === true && to !== null) continue;
      if (multicastOnly === false && to === null) continue;
      if (to !== null) this.transport.send(to, message);
      else if (outgoing.commitNotice === true && message.type === 'append')
        this.commitNotices.hold(message);
      else this.multicast(message);
    }
  }

  /** Every multicast but a commit notice goes out here: a held notice it makes redundant is left out. */
  private multicast(message: PeerMessage): void {
    this.commitNotices.passing(message);
    this.transport.send(null, message);
  }

  private async retransmit(action: RetransmitAction): Promise<void> {
    let entries: Entry[];
    try {
      entries = await this.options.store.read(
        action.fromSeq,
        action.toSeq,
        LIMITS.maxRetransmitBytes,
      );
    } catch (error) {
      this.repeatedWarnings.retransmit.warn(
        `cannot retransmit [${action.fromSeq}, ${action.toSeq}] to ${action.to}: ${(error as Error).message}`,
      );
      return;
    }
    if (entries.length === 0 || this.stopped) return;
    this.transport.send(action.to, retransmitAppend(this.self.id, action, entries));
  }

  private deliver(commitSeq: number): void {
    for (const settled of this.pending.settleCommitted(commitSeq, (seq) =>
      this.core.epochAt(seq),
    )) {
      if (settled.committed) this.settleCommitted(settled);
      else this.settleWaiting(settled, replacedBySequencer);
    }
    this.subscriptions.onCommit(commitSeq);
  }

  private onRoleChange(role: Role, epoch: number, leaderId: string | null): void {
    if (role === Role.candidate && this.lastRole !== Role.candidate) this.electionsStarted++;
    this.lastRole = role;
    const level = role === Role.leader ? 'info' : 'debug';
    this.logger.log(level, `node ${this.self.id} is ${role} in epoch ${epoch}`, {
      leader: leaderId,
    });
  }
}

/**
 * The error code when `error` is a want of file descriptors or disk space
 * on its own, else null. A failed fsync (StorageFailedError, whatever its
 * cause) is never retried: the kernel may have dropped the pages.
 */
function resourceExhausted(error: unknown): string | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE' || code === 'ENOSPC' || code === 'EDQUOT'
    ? code
    : null;
}

/**
 * Loads the saved dedup table and reads the log entries after it, so the core
 * restarts knowing every producer the checkpoint knew. Without a usable
 * checkpoint (none, damaged, or too far behind the log), the core rebuilds
 * the table from the recent entries the store returned.
 */
async function loadDedupCheckpoint(
  options: BrokerNodeOptions,
  recovered: RecoveredLog,
): Promise<{ dedupCheckpoint: DedupCheckpoint | null; recentEntries: readonly Entry[] }> {
  const fallback = { dedupCheckpoint: null, recentEntries: recovered.recentEntries };
  if (options.dedup === undefined) return fallback;
  const { checkpoint, problem } = await options.dedup.load();
  if (problem !== null) options.logger.warn(`ignoring the dedup checkpoint: ${problem}`);
  if (checkpoint === null) return fallback;
  if (
    !checkpointUsable(
      checkpoint.seq,
      recovered.firstSeq,
      recovered.lastSeq,
      LIMITS.maxDedupReplayEntries,
    )
  ) {
    return fallback;
  }
  const entries: Entry[] = [];
  let next = checkpoint.seq + 1;
  while (next <= recovered.lastSeq) {
    const chunk = await options.store.read(next, recovered.lastSeq, LIMITS.maxRetransmitBytes);
    if (chunk.length === 0) return fallback;
    entries.push(...chunk);
    next = chunk.at(-1)!.seq + 1;
  }
  return { dedupCheckpoint: checkpoint, recentEntries: entries };
}

/** Answers a peer repairing its log with what this node holds of the range (maybe nothing). */
async function serveRepair(
  store: LogStore,
  link: PeerLink,
  self: string,
  epoch: number,
  request: RepairRequestMessage,
  logger: Logger,
): Promise<void> {
  let entries: Entry[] = [];
  try {
    const toSeq = Math.min(request.toSeq, request.fromSeq + LIMITS.maxRepairEntries - 1);
    entries = await store.read(request.fromSeq, toSeq, LIMITS.maxRetransmitBytes);
  } catch (error) {
    // Not held here (below the log start, damaged here too): the answer is empty.
    logger.debug(`cannot serve repair of seq ${request.fromSeq}: ${(error as Error).message}`);
  }
  link.send(request.from, {
    type: 'repairResponse',
    epoch,
    from: self,
    fromSeq: request.fromSeq,
    toSeq: request.toSeq,
    entries,
    firstSeq: store.firstSeq(),
    lastSeq: store.lastSeq(),
    copyDigest: repairCopyDigest(entries),
  });
}

function membershipInForce(state: MembershipState): Membership {
  return state.pending.at(-1)?.membership ?? state.committed;
}
