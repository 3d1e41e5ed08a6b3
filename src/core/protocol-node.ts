import { invariant } from './assert.js';
import type { CoreConfig } from './config.js';
import { CORE_LIMITS } from './core-limits.js';
import { EpochIndex } from './epoch-index.js';
import {
  applyChange,
  dataVotersOf,
  decodeMembership,
  encodeMembership,
  findMember,
  hasWitness,
  isWitness,
  type Membership,
  type MembershipChange,
  type MembershipState,
  memberIds,
  type PendingConfig,
  seedMembership,
  votersOf,
} from './membership.js';
import { NO_DEFECTS, PlantedDefect } from './planted-defect.js';
import { ProducerTable } from './producer-table.js';
import {
  type AckMessage,
  type AppendMessage,
  type DedupCheckpoint,
  type Entry,
  EntryKind,
  type HardState,
  makeConfigEntry,
  makeEpochStartEntry,
  type NackMessage,
  type NodeId,
  type Outgoing,
  type PeerMessage,
  type Proposal,
  payloadBytesOf,
  type ReadState,
  type Ready,
  type RecoveredState,
  type RetransmitAction,
  Role,
  type RunHeader,
  type TimeoutNowMessage,
  type VoteRequestMessage,
  type VoteResponseMessage,
} from './types.js';

/** Ticks between the campaign windows of followers that saw their sequencer's connection drop. */
const FAILOVER_TURN_GAP_TICKS = 2;
export type ProposeResult =
  | { readonly kind: 'appended'; readonly seq: number; readonly epoch: number }
  | { readonly kind: 'duplicate'; readonly seq: number | null; readonly epoch: number | null }
  | { readonly kind: 'outOfOrder'; readonly expectedProducerSeq: number }
  | { readonly kind: 'notLeader'; readonly leaderId: NodeId | null }
  | { readonly kind: 'busy'; readonly reason: 'window-full' | 'transferring' }
  /** The producer id belongs to another identity (the owner its entries in the log carry). */
  | { readonly kind: 'forbidden'; readonly owner: string };

/**
 * Makes the entries of a run `proposeRun` accepted, as `header` describes
 * them (the host's own objects, such as views of the bytes the batch arrived
 * in); the core takes them as they are.
 */
export type RunEntryMaker = (header: RunHeader) => readonly Entry[];

/** One message of a publisher's batch, for `proposeRun`. */
export interface RunItem {
  readonly producerSeq: number;
  readonly topic: string;
  readonly payload: Uint8Array;
}

export type MembershipProposeResult =
  | { readonly ok: true; readonly seq: number; readonly membership: Membership }
  | { readonly ok: false; readonly reason: string; readonly retriable: boolean };

export interface PeerStatus {
  readonly id: NodeId;
  readonly voter: boolean;
  readonly witness: boolean;
  readonly matchSeq: number;
  readonly lagEntries: number;
  readonly active: boolean;
}

export interface CoreStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly epoch: number;
  readonly leaderId: NodeId | null;
  readonly votedFor: NodeId | null;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly lastEpoch: number;
  readonly commitSeq: number;
  /** Followers only: the highest seq the sequencer is known to hold. */
  readonly knownLeaderLastSeq: number;
  /** Sequencer only: each follower's progress. */
  readonly peers: readonly PeerStatus[];
  readonly transferTarget: NodeId | null;
  /** The membership in force (the last config entry of the log). */
  readonly membership: Membership;
  /** A config entry above the commit point: no other change may start until it commits. */
  readonly configPending: boolean;
  /** This node is a witness: it never campaigns and keeps only the log's tail. */
  readonly witness: boolean;
  /**
   * Witnesses: the seq up to which every data voter holds the log (the host
   * drops the witness's committed entries up to it); 0 otherwise.
   */
  readonly witnessFloorSeq: number;
}

interface Progress {
  matchSeq: number;
  /** Highest read round this follower echoed in this epoch. */
  readRound: number;
  /** Heard from since the last check-quorum round. */
  recentActive: boolean;
  /** Tick of the last ack or NACK from this follower. */
  lastHeardTick: number;
  /** Rate limit for probes after a rejected append. */
  lastProbeTick: number;
  lastProbeSeq: number;
}

/**
 * One member of an Ordo cluster as a deterministic state machine, shaped
 * like etcd's raft: feed it peer messages (`step`), proposals (`propose`)
 * and clock ticks (`tick`); take the resulting work with `ready()` and carry
 * it out in order (persist, send, deliver). It never touches a socket, a
 * disk, a clock or a random source of its own.
 *
 * The elected leader of an epoch is the sequencer: it gives each proposal the
 * next seq and multicasts it. Followers repair gaps by NACK, acknowledge what
 * they hold durably, and the sequencer commits what a majority holds.
 */
export class ProtocolNode {
  private readonly cfg: CoreConfig;
  /** Membership at the commit point, and the config entries of the log above it. */
  private committedMembership: Membership;
  private pendingConfigs: PendingConfig[] = [];
  private membershipDirty = false;
  /** The commit point when the voters last changed (see advance()). */
  private commitSeqAtVotersChange = 0;
  /** Derived from the membership in force: every other member, the voters, the quorum of voters. */
  private peers: readonly NodeId[] = [];
  private voters: readonly NodeId[] = [];
  private quorum = 1;

  // Persistent state (HardState).
  private epoch: number;
  private votedFor: NodeId | null;
  private commitSeq: number;

  private readonly log: EpochIndex;
  private readonly producers: ProducerTable;
  private lastTimestampMs: number;

  private role: Role = Role.follower;
  private leaderId: NodeId | null = null;
  /** Logical time, in ticks, since this core started. */
  private ticks = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly votes = new Map<NodeId, boolean>();

  // Sequencer state.
  private readonly progress = new Map<NodeId, Progress>();
  /** Highest seq this node has handed to its host for persisting before the current Ready. */
  private selfMatchSeq = 0;
  /** The current read round (see AppendMessage.readRound); 0 until the first read index. */
  private readRound = 0;
  /** Read indexes waiting for a majority to echo their round, in round order. */
  private pendingReads: { token: number; round: number; index: number }[] = [];
  /** Read indexes settled, for the next Ready. */
  private readStates: ReadState[] = [];
  private transferee: NodeId | null = null;
  private transferElapsed = 0;

  // Follower state.
  /** Highest seq known to match the current sequencer's log. */
  private leaderMatchSeq = 0;
  /** Highest read round seen from the current sequencer, echoed in every ack. */
  private leaderReadRound = 0;
  /** Highest seq the current sequencer is known to hold. */
  private knownLeaderLastSeq = 0;
  /** Multicast batches that arrived ahead of a gap, by their prevSeq. */
  private readonly future = new Map<number, AppendMessage>();
  private futureEntries = 0;
  private nackOutstanding: { fromSeq: number; toSeq: number; retryAtTick: number } | null = null;
  /** The node the current sequencer announced it hands its role to (AppendMessage.transferTo). */
  private leaderTransferee: NodeId | null = null;
  /** Witnesses: the highest dataSeq a sequencer announced (AppendMessage.dataSeq). */
  private dataSeq = 0;

  // Work accumulated for the next Ready.
  private storedLastSeq: number;
  private pendingEntries: Entry[] = [];
  private truncatePoint: number | null = null;
  private resetPoint: { seq: number; epoch: number } | null = null;
  private outbox: Outgoing[] = [];
  private retransmits: RetransmitAction[] = [];
  private hardStateDirty = false;
  private roleChanged = false;
  private ackDue = false;
  /** An ack must go even if it would tell the sequencer nothing new (an append past a gap). */
  private ackRequired = false;
  /** The last ack sent in a Ready, to whom and in which tick: an ack that would repeat it in the same tick is left out. */
  private lastAck: { readonly tick: number; readonly to: NodeId; readonly ack: AckMessage } | null =
    null;
  private heartbeatDue = false;
  private deliveredSeq: number;
  /** Highest seq the host has made durable (as far as the core knows: Readies advanced). */
  private persistedLastSeq: number;
  /** The epoch of the last hard state the host made durable (Readies advanced). */
  private durableEpoch: number;
  /**
   * Highest seq this node holds durably and may claim before the Ready in
   * flight is advanced (ackNow). Unlike persistedLastSeq it does not jump to
   * a log reset's seq until the Ready that carries the reset is advanced; it
   * drops to the commit point at a reset, since the old log's uncommitted
   * tail need not match the sequencer's.
   */
  private durableLastSeq: number;
  /** The Ready handed to the host and not yet advanced; at most one at a time. */
  private unadvanced: {
    readonly ready: Ready;
    readonly lastSeq: number;
    readonly persistedBefore: number;
    readonly asLeader: boolean;
    /** The voters the commit point was counted with (a config entry may be appended before the advance). */
    readonly voters: readonly NodeId[];
    readonly quorum: number;
    readonly matches: readonly number[];
  } | null = null;
  /** Commit point as of the last advanced Ready, to assert it never moves backwards. */
  private advancedCommitSeq: number;
  private readonly defects: ReadonlySet<PlantedDefect>;

  constructor(config: CoreConfig, recovered: RecoveredState) {
    invariant(new Set(config.members).size === config.members.length, 'member ids must be unique');
    invariant(
      config.electionTimeoutTicks > config.heartbeatIntervalTicks,
      'heartbeats must come faster than elections',
    );
    this.cfg = config;
    this.log = new EpochIndex(
      recovered.firstSeq,
      recovered.lastSeq,
      recovered.epochBeforeFirst,
      recovered.epochStarts,
      config.maxEpochBoundaries,
    );
    this.epoch = recovered.hardState.epoch;
    this.votedFor = recovered.hardState.votedFor;
    if (this.log.lastEpoch > this.epoch) {
      // A Ready persists its entries before its hard state, so a crash between
      // the two leaves entries of an epoch the saved hard state never reached.
      // The node cannot have voted in that epoch (a vote is persisted before it
      // is sent), so it takes the epoch on with no vote and saves it.
      this.epoch = this.log.lastEpoch;
      this.votedFor = null;
      this.hardStateDirty = true;
    }
    // A commit point beyond the recovered log (lost unsynced writes) is not ours to claim.
    // Everything before the log start is committed (retention drops only committed
    // entries, a log reset starts after a committed seq), and a crash between a log
    // reset and its hard state leaves a saved commit point below it: the node must
    // not later try to deliver entries it no longer holds.
    this.commitSeq = Math.max(
      recovered.firstSeq - 1,
      Math.min(recovered.hardState.commitSeq, recovered.lastSeq),
    );
    this.deliveredSeq = this.commitSeq;
    this.leaderMatchSeq = this.commitSeq;
    this.storedLastSeq = recovered.lastSeq;
    this.persistedLastSeq = recovered.lastSeq;
    this.durableEpoch = recovered.hardState.epoch;
    this.durableLastSeq = recovered.lastSeq;
    this.advancedCommitSeq = this.commitSeq;
    this.defects = config.plantedDefects ?? NO_DEFECTS;
    this.lastTimestampMs = recovered.lastTimestampMs;
    this.producers = new ProducerTable(config.maxProducers, config.maxProducerHistoryEntries);
    const checkpoint = recovered.dedupCheckpoint ?? null;
    if (checkpoint !== null && this.checkpointFits(checkpoint.seq, recovered)) {
      // The table as saved, less what came after its commit point (maybe
      // truncated since), then the entries after it from the log.
      this.producers.restore(checkpoint.producers);
      this.producers.truncateAfter(checkpoint.seq);
    }
    for (const entry of recovered.recentEntries) this.recordProducer(entry);
    const saved = recovered.membership ?? null;
    this.committedMembership =
      saved?.committed ?? seedMembership(config.members, config.witnesses ?? []);
    for (const pending of saved?.pending ?? []) {
      // Saved before the entries were written: an entry the log lost (an
      // unsynced write) or replaced (a truncation) is not in force. Below
      // the log start it was committed and compacted: it stays.
      const inLog =
        pending.seq < this.log.firstSeq ||
        (pending.seq <= this.log.lastSeq && this.log.epochAt(pending.seq) === pending.epoch);
      if (inLog) this.pendingConfigs.push(pending);
      else this.membershipDirty = true;
    }
    this.foldCommittedConfigs();
    this.applyMembership();
    this.resetElectionTimeout();
  }

  // ------------------------------------------------------------- membership

  /** The membership in force: the last config entry of the log, else the committed one. */
  get membership(): Membership {
    return this.pendingConfigs.at(-1)?.membership ?? this.committedMembership;
  }

  membershipState(): MembershipState {
    return { committed: this.committedMembership, pending: [...this.pendingConfigs] };
  }

  get isVoter(): boolean {
    return this.voters.includes(this.cfg.id);
  }

  get isWitness(): boolean {
    return isWitness(this.membership, this.cfg.id);
  }

  /**
   * Witnesses: every data voter holds the log up to this seq (as a
   * sequencer last said, AppendMessage.dataSeq); the witness's tail is what
   * lies beyond, and it may drop its entries up to here once they are
   * committed as far as it knows (the host drops up to the lower of this
   * and the commit point). Never below the log start. 0 for other nodes.
   */
  get witnessFloorSeq(): number {
    if (!this.isWitness) return 0;
    return Math.max(this.log.firstSeq - 1, this.dataSeq);
  }

  /** Witnesses: the last seq the tail may reach; beyond it the witness takes no entries. */
  private witnessCeilingSeq(): number {
    if (!this.isWitness) return Number.POSITIVE_INFINITY;
    return this.witnessFloorSeq + this.cfg.witnessTailMaxEntries;
  }

  /** The membership at this node's commit point: config entries above it may yet be truncated. */
  private membershipAtCommit(): Membership {
    let membership = this.committedMembership;
    for (const pending of this.pendingConfigs)
      if (pending.seq <= this.commitSeq) membership = pending.membership;
    return membership;
  }

  /** Config entries at or below the commit point can no longer be truncated. */
  private foldCommittedConfigs(): void {
    while (this.pendingConfigs.length > 0 && this.pendingConfigs[0]!.seq <= this.commitSeq) {
      this.committedMembership = this.pendingConfigs.shift()!.membership;
    }
  }

  /** Derives peers, voters and quorum from the membership in force (used as soon as appended). */
  private applyMembership(): void {
    const membership = this.membership;
    this.peers = memberIds(membership).filter((id) => id !== this.cfg.id);
    const voters = votersOf(membership);
    if (voters.length !== this.voters.length || voters.some((id, i) => id !== this.voters[i]))
      this.commitSeqAtVotersChange = this.commitSeq;
    this.voters = voters;
    this.quorum = Math.floor(this.voters.length / 2) + 1;
    if (this.role === Role.leader) {
      for (const id of [...this.progress.keys()]) {
        if (!this.peers.includes(id)) this.progress.delete(id);
      }
      for (const id of this.peers) {
        if (!this.progress.has(id)) this.progress.set(id, this.newProgress());
      }
    }
    if (this.transferee !== null && !this.voters.includes(this.transferee)) this.transferee = null;
  }

  private newProgress(): Progress {
    return {
      matchSeq: 0,
      readRound: 0,
      recentActive: true,
      lastHeardTick: this.ticks,
      lastProbeTick: -1,
      lastProbeSeq: -1,
    };
  }

  /**
   * Takes a read index for a linearizable read (Raft thesis §6.4): the
   * commit point now, settled in a later Ready (`readStates`) once a
   * majority has answered an append sent after this call, which proves this
   * node was still the sequencer when it took it. A reader that waits until
   * its state reflects the index sees every write acknowledged before it
   * asked. Refused unless this node is the sequencer and has committed an
   * entry of its own epoch (before that, its commit point may lag what its
   * predecessor acknowledged).
   */
  requestReadIndex(
    token: number,
  ): { ok: true } | { ok: false; reason: string; retriable: boolean } {
    if (this.role !== Role.leader)
      return {
        ok: false,
        reason: `not the sequencer (leader is ${this.leaderId ?? 'unknown'})`,
        retriable: true,
      };
    if (this.log.epochAt(this.commitSeq) !== this.epoch)
      return {
        ok: false,
        reason: 'the sequencer has not yet committed an entry of its epoch',
        retriable: true,
      };
    if (this.pendingReads.length >= CORE_LIMITS.maxPendingReadIndexes)
      return {
        ok: false,
        reason: `${CORE_LIMITS.maxPendingReadIndexes} read indexes already wait for confirmation`,
        retriable: true,
      };
    this.readRound++;
    this.pendingReads.push({ token, round: this.readRound, index: this.commitSeq });
    // The next Ready carries the round to every follower at once.
    this.heartbeatDue = true;
    this.settleConfirmedReads();
    return { ok: true };
  }

  /** Settles, in round order, the read indexes a majority has confirmed. */
  private settleConfirmedReads(): void {
    while (this.pendingReads.length > 0) {
      const read = this.pendingReads[0]!;
      let confirmed = this.isVoter ? 1 : 0;
      for (const id of this.voters) {
        if (id === this.cfg.id) continue;
        if ((this.progress.get(id)?.readRound ?? 0) >= read.round) confirmed++;
      }
      if (confirmed < this.quorum) return;
      this.pendingReads.shift();
      this.readStates.push({ token: read.token, index: read.index });
    }
  }

  /** This node stopped leading: every waiting read index is answered with none. */
  private abandonReads(): void {
    for (const read of this.pendingReads) this.readStates.push({ token: read.token, index: null });
    this.pendingReads = [];
  }

  /**
   * Proposes one membership change as a config entry (single-server
   * changes, Raft thesis §4.1). Refused unless this node is the sequencer,
   * it has committed an entry of its own epoch (so no config entry of an
   * earlier sequencer can still be pending unseen), and no other change is
   * uncommitted. A learner is promoted only once it holds every committed
   * entry, so the new quorum does not wait for it to catch up. The
   * sequencer never removes itself: it hands its role over first.
   */
  proposeMembership(change: MembershipChange, nowMs: number): MembershipProposeResult {
    if (this.role !== Role.leader)
      return {
        ok: false,
        reason: `not the sequencer (leader is ${this.leaderId ?? 'unknown'})`,
        retriable: true,
      };
    if (this.transferee !== null)
      return { ok: false, reason: 'a leadership transfer is in progress', retriable: true };
    this.foldCommittedConfigs();
    if (this.log.epochAt(this.commitSeq) !== this.epoch)
      return {
        ok: false,
        reason: 'the sequencer has not yet committed an entry of its epoch',
        retriable: true,
      };
    if (this.pendingConfigs.length > 0)
      return {
        ok: false,
        reason: `the change at seq ${this.pendingConfigs[0]!.seq} is not committed yet`,
        retriable: true,
      };
    if (change.kind === 'remove' && change.id === this.cfg.id)
      return {
        ok: false,
        reason: 'the sequencer cannot remove itself: transfer leadership first',
        retriable: true,
      };
    if (change.kind === 'promote') {
      const p = this.progress.get(change.id);
      if (findMember(this.membership, change.id)?.voter === false) {
        if (p === undefined || p.matchSeq < this.commitSeq)
          return {
            ok: false,
            reason: `${change.id} has not caught up yet (holds ${p?.matchSeq ?? 0} of ${this.commitSeq} committed)`,
            retriable: true,
          };
      }
    }
    if (this.log.lastSeq - this.commitSeq >= this.cfg.maxUncommittedEntries)
      return { ok: false, reason: 'window-full', retriable: true };
    const next = applyChange(this.membership, change);
    if (!next.ok) return { ok: false, reason: next.reason, retriable: false };
    const entry = makeConfigEntry(
      this.log.lastSeq + 1,
      this.epoch,
      Math.max(this.lastTimestampMs, nowMs),
      encodeMembership(next.membership),
    );
    this.appendEntry(entry);
    return { ok: true, seq: entry.seq, membership: next.membership };
  }

  /** A checkpoint is used only if the entries given run from just after it to the log's end. */
  private checkpointFits(seq: number, recovered: RecoveredState): boolean {
    if (seq < recovered.firstSeq - 1 || seq > recovered.lastSeq) return false;
    const entries = recovered.recentEntries;
    if (entries.length !== recovered.lastSeq - seq) return false;
    return (
      entries.length === 0 ||
      (entries[0]!.seq === seq + 1 && entries.at(-1)!.seq === recovered.lastSeq)
    );
  }

  /** The dedup table to save, labelled with the commit point (see RecoveredState.dedupCheckpoint). */
  dedupCheckpoint(maxPairsPerProducer: number): DedupCheckpoint {
    return { seq: this.commitSeq, producers: this.producers.snapshot(maxPairsPerProducer) };
  }

  // ---------------------------------------------------------------- queries

  get id(): NodeId {
    return this.cfg.id;
  }

  get isLeader(): boolean {
    return this.role === Role.leader;
  }

  get currentLeader(): NodeId | null {
    return this.leaderId;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  /** The vote this node cast in its current epoch (null before it voted). */
  get currentVote(): NodeId | null {
    return this.votedFor;
  }

  get lastSeq(): number {
    return this.log.lastSeq;
  }

  get committedSeq(): number {
    return this.commitSeq;
  }

  epochAt(seq: number): number | undefined {
    return this.log.epochAt(seq);
  }

  status(): CoreStatus {
    const peers: PeerStatus[] = [];
    if (this.role === Role.leader) {
      for (const id of this.peers) {
        const p = this.progress.get(id)!;
        peers.push({
          id,
          voter: this.voters.includes(id),
          witness: isWitness(this.membership, id),
          matchSeq: p.matchSeq,
          lagEntries: this.log.lastSeq - p.matchSeq,
          active: p.recentActive,
        });
      }
    }
    return {
      id: this.cfg.id,
      role: this.role,
      epoch: this.epoch,
      leaderId: this.leaderId,
      votedFor: this.votedFor,
      firstSeq: this.log.firstSeq,
      lastSeq: this.log.lastSeq,
      lastEpoch: this.log.lastEpoch,
      commitSeq: this.commitSeq,
      knownLeaderLastSeq: this.role === Role.leader ? this.log.lastSeq : this.knownLeaderLastSeq,
      peers,
      transferTarget: this.transferee,
      membership: this.membership,
      configPending: this.pendingConfigs.some((c) => c.seq > this.commitSeq),
      witness: this.isWitness,
      witnessFloorSeq: this.witnessFloorSeq,
    };
  }

  // ----------------------------------------------------------------- inputs

  /** Advances logical time by one tick. */
  tick(): void {
    this.ticks++;
    this.electionElapsed++;
    if (this.role === Role.leader) {
      this.tickLeader();
      return;
    }
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      // Learners, witnesses and removed nodes never campaign. Their clock is
      // not reset either: a witness that no longer hears its sequencer stays
      // out of its lease, so it grants the vote of a data voter's campaign.
      if (!this.isVoter || this.isWitness) {
        this.maybeNack();
        return;
      }
      this.electionElapsed = 0;
      if (this.cfg.preVote) this.campaign('preVote', false);
      else this.campaign('vote', false);
      return;
    }
    this.maybeNack();
  }

  /**
   * Sequences proposals. Only the sequencer accepts them; each gets a result
   * in the same position. `nowMs` is the host's clock reading, used for the
   * log timestamp (never decreasing along the log).
   */
  /** The identity `producerId` belongs to, as this node's log says ('' when none). */
  producerOwner(producerId: string): string {
    return this.producers.ownerOf(producerId);
  }

  /**
   * Sequences a publisher's batch in one step: `items` of one producer, with
   * producerSeqs running on from the last it sequenced, get consecutive seqs
   * of this epoch, with one dedup check and one window check for all. Null
   * (and nothing appended) when they cannot all go that way, and `propose`
   * must answer message by message: not the sequencer, a transfer under
   * way, another owner, a duplicate or a gap, or too little room.
   */
  proposeRun(
    producerId: string,
    owner: string,
    items: readonly RunItem[],
    nowMs: number,
    makeEntries?: RunEntryMaker,
  ): { readonly firstSeq: number; readonly epoch: number } | null {
    if (this.role !== Role.leader || this.transferee !== null || items.length === 0) return null;
    // Planted defects act on single proposals; a run would step around them.
    if (this.defects.size > 0) return null;
    const knownOwner = this.producers.ownerOf(producerId);
    if (owner !== '' && knownOwner !== '' && knownOwner !== owner) return null;
    const firstProducerSeq = items[0]!.producerSeq;
    for (let k = 1; k < items.length; k++)
      if (items[k]!.producerSeq !== firstProducerSeq + k) return null;
    if (this.producers.check(producerId, firstProducerSeq).kind !== 'new') return null;
    if (this.log.lastSeq - this.commitSeq + items.length > this.cfg.maxUncommittedEntries)
      return null;
    const firstSeq = this.log.lastSeq + 1;
    const timestampMs = Math.max(this.lastTimestampMs, nowMs);
    if (makeEntries !== undefined) {
      const made = makeEntries({
        firstSeq,
        count: items.length,
        epoch: this.epoch,
        timestampMs,
        firstProducerSeq,
        producerId,
        owner,
      });
      invariant(
        made.length === items.length &&
          made[0]!.seq === firstSeq &&
          made[made.length - 1]!.seq === firstSeq + items.length - 1,
        'the entries made for a run are the run',
      );
      this.appendEntriesState(made, 0, made.length);
      this.addPendingEntries(made, 0, made.length);
      return { firstSeq, epoch: this.epoch };
    }
    const entries = items.map((item) =>
      this.appendDataState(
        producerId,
        item.producerSeq,
        item.topic,
        item.payload,
        owner,
        timestampMs,
      ),
    );
    this.addPendingEntries(entries, 0, entries.length);
    return { firstSeq, epoch: this.epoch };
  }

  propose(proposals: readonly Proposal[], nowMs: number): ProposeResult[] {
    const results: ProposeResult[] = [];
    for (const proposal of proposals) results.push(this.proposeOne(proposal, nowMs));
    return results;
  }

  /**
   * Takes one message from a peer. Returns null, or why the message was
   * refused: it cannot come from a member that follows the protocol (a bug
   * or a forgery), it is an election message from a node outside the
   * membership, or it is a transfer campaign whose announcement this node
   * has not heard. The core ignores it with its state unchanged; the host
   * logs and counts refusals and never stops on one.
   */
  step(message: PeerMessage): string | null {
    if (message.from === this.cfg.id) return `message that names this node as its sender`;
    if (message.type === 'append' && message.catchUp === true) return this.handleCatchUp(message);
    // A node outside the membership cannot start an election here (a removed
    // node that missed its removal cannot disrupt the cluster); everything
    // else is heard from anyone: a learner hears a sequencer its log does not
    // yet name, and votes count only from the voters of the candidate's own
    // membership. A removal this node holds but has not seen committed does
    // not count: it may be truncated, and the node it removes may be the one
    // with the log a new sequencer must have (simulator seed 1511: each of
    // two nodes held a change the other lacked, the one with the newer log
    // was refused as "not a member", and no sequencer was ever elected).
    if (
      (message.type === 'voteRequest' || message.type === 'timeoutNow') &&
      !this.peers.includes(message.from) &&
      !memberIds(this.membershipAtCommit()).includes(message.from)
    )
      return `${message.type} from ${message.from}, which is not a member`;
    const refusal = this.impossible(message);
    if (refusal !== null) return refusal;
    if (message.epoch > this.epoch) {
      if (message.type === 'voteRequest') {
        const inLease =
          this.cfg.checkQuorum &&
          this.leaderId !== null &&
          this.electionElapsed < this.cfg.electionTimeoutTicks;
        // A node that heard from a live sequencer recently ignores campaigns,
        // so one partitioned node cannot depose a healthy sequencer. A
        // transfer campaign is the exception, once the sequencer has said
        // (by its timeoutNow, or in its appends) that it hands over to that node.
        if (inLease) {
          if (!message.transfer) return null;
          if (
            this.announcedTransferee() !== message.from &&
            !this.defects.has(PlantedDefect.honourUnannouncedTransfer)
          ) {
            return `transfer campaign by ${message.from} in epoch ${message.epoch}, which the sequencer ${this.leaderId} did not announce`;
          }
        }
      }
      const keepsEpoch =
        (message.type === 'voteRequest' && message.preVote) ||
        (message.type === 'voteResponse' && message.preVote && message.granted);
      if (!keepsEpoch) {
        this.becomeFollower(message.epoch, message.type === 'append' ? message.from : null);
      }
    } else if (message.epoch < this.epoch) {
      this.stepStale(message);
      return null;
    }
    switch (message.type) {
      case 'append':
        this.handleAppend(message);
        return null;
      case 'ack':
        this.handleAck(message);
        return null;
      case 'nack':
        this.handleNack(message);
        return null;
      case 'voteRequest':
        this.handleVoteRequest(message);
        return null;
      case 'voteResponse':
        this.handleVoteResponse(message);
        return null;
      case 'timeoutNow':
        this.handleTimeoutNow(message);
        return null;
    }
  }

  /** Why `message` cannot come from a member following the protocol, or null. */
  private impossible(message: PeerMessage): string | null {
    if (message.type === 'append' && message.epoch === this.epoch) {
      // At most one sequencer per epoch, and a follower learns it from its first append.
      if (this.role === Role.leader) {
        return `append from ${message.from} in epoch ${message.epoch}, in which this node is the sequencer`;
      }
      if (this.leaderId !== null && this.leaderId !== message.from) {
        return `append from ${message.from} in epoch ${message.epoch}, whose sequencer is ${this.leaderId}`;
      }
    }
    if (message.type === 'timeoutNow') {
      // A sequencer sends it only to a node that acknowledged the sequencer's epoch.
      if (message.epoch > this.epoch) {
        return `timeoutNow from ${message.from} in epoch ${message.epoch}, ahead of this node's ${this.epoch}`;
      }
      if (message.epoch === this.epoch && this.role === Role.leader) {
        return `timeoutNow from ${message.from} in epoch ${message.epoch}, in which this node is the sequencer`;
      }
      if (
        message.epoch === this.epoch &&
        this.leaderId !== null &&
        this.leaderId !== message.from
      ) {
        return `timeoutNow from ${message.from} in epoch ${message.epoch}, whose sequencer is ${this.leaderId}`;
      }
    }
    return null;
  }

  /** The node the sequencer this node knows hands its role to, if any. */
  private announcedTransferee(): NodeId | null {
    return this.role === Role.leader ? this.transferee : this.leaderTransferee;
  }

  /**
   * The host saw its connection to `peer` drop (a process that dies closes
   * its connections at once). If that peer is our sequencer, its lease is
   * over: campaign within a few ticks instead of waiting for a whole
   * election timeout. Every follower sees the drop at the same moment, so
   * they take turns rather than all campaigning at once and splitting the
   * vote: the data voters other than the lost sequencer, in id order, each
   * get a window of `heartbeatIntervalTicks` (randomised within it; the
   * first campaigns at once), with a gap of two ticks between windows for a
   * vote round trip. A follower whose
   * turn comes while another campaigns is refused its pre-vote and votes for
   * that one. Safety does not depend on it; a false alarm only costs a
   * pre-vote that fails while the others still hear the sequencer.
   */
  peerUnreachable(peer: NodeId): void {
    if (this.role !== Role.follower || peer !== this.leaderId) return;
    const turns = this.voters.filter((id) => id !== peer && !isWitness(this.membership, id));
    turns.sort();
    const turn = Math.max(0, turns.indexOf(this.cfg.id));
    const window = this.cfg.heartbeatIntervalTicks;
    this.electionElapsed = Math.max(this.electionElapsed, this.cfg.electionTimeoutTicks);
    // The first in turn has nobody to collide with: it campaigns at the next tick.
    this.randomizedElectionTimeout =
      this.electionElapsed +
      1 +
      (turn === 0
        ? 0
        : turn * (window + FAILOVER_TURN_GAP_TICKS) + Math.floor(this.cfg.random() * window));
  }

  /** Starts a planned hand-over of the sequencer role to `target`. */
  transferLeadership(target: NodeId): { ok: true } | { ok: false; reason: string } {
    if (this.role !== Role.leader)
      return { ok: false, reason: `not the sequencer (leader is ${this.leaderId ?? 'unknown'})` };
    if (!this.peers.includes(target)) return { ok: false, reason: `${target} is not a member` };
    if (!this.voters.includes(target))
      return { ok: false, reason: `${target} is a learner: it cannot lead until it is a voter` };
    if (isWitness(this.membership, target))
      return { ok: false, reason: `${target} is a witness: it never leads` };
    this.transferee = target;
    this.transferElapsed = 0;
    this.maybeSendTimeoutNow();
    return { ok: true };
  }

  /** Forgets entries below `seq` that storage has dropped under its retention policy. */
  compactBefore(seq: number): void {
    invariant(
      seq <= this.commitSeq + 1,
      `cannot compact uncommitted entries (before ${seq}, commit ${this.commitSeq})`,
    );
    this.log.compactBefore(seq);
  }

  // ----------------------------------------------------------------- output

  hasReady(): boolean {
    return (
      this.pendingEntries.length > 0 ||
      this.membershipDirty ||
      this.truncatePoint !== null ||
      this.resetPoint !== null ||
      this.outbox.length > 0 ||
      this.retransmits.length > 0 ||
      this.hardStateDirty ||
      this.roleChanged ||
      this.ackDue ||
      this.heartbeatDue ||
      this.readStates.length > 0 ||
      this.commitSeq > this.deliveredSeq ||
      (this.role === Role.leader && this.selfMatchSeq < this.persistedLastSeq)
    );
  }

  ready(): Ready {
    invariant(
      this.unadvanced === null,
      `${this.cfg.id}: ready() called before the previous Ready was advanced`,
    );
    const persistedBefore = this.persistedLastSeq;
    const asLeader = this.role === Role.leader;
    if (asLeader) {
      // The sequencer counts itself only for what earlier, advanced Readies made durable.
      this.selfMatchSeq = this.persistedLastSeq;
      this.maybeCommit();
      this.flushMulticast();
    } else if (this.ackDue && this.leaderId !== null) {
      const ack = this.ackMessage(false, 0, 0);
      if (this.ackTellsSomething(this.leaderId, ack)) {
        this.outbox.push({ to: this.leaderId, message: ack });
        this.lastAck = { tick: this.ticks, to: this.leaderId, ack };
      }
    }
    this.ackDue = false;
    this.ackRequired = false;
    this.heartbeatDue = false;

    const committed =
      this.commitSeq > this.deliveredSeq
        ? { fromSeq: this.deliveredSeq + 1, toSeq: this.commitSeq }
        : null;
    this.deliveredSeq = this.commitSeq;
    const membership = this.membershipDirty ? this.membershipState() : null;
    this.membershipDirty = false;
    const ready: Ready = {
      resetLogAfter: this.resetPoint,
      membership,
      truncateAfter: this.truncatePoint,
      entries: this.pendingEntries,
      // The commit point is part of the hard state: persisting it whenever it
      // moves keeps a restarted node from delivering the same entries again.
      hardState: this.hardStateDirty || committed !== null ? this.hardState() : null,
      messages: this.outbox,
      retransmits: this.retransmits,
      committed,
      readStates: this.readStates,
      roleChange: this.roleChanged
        ? { role: this.role, epoch: this.epoch, leaderId: this.leaderId }
        : null,
    };
    this.storedLastSeq = this.log.lastSeq;
    const matches: number[] = [];
    if (asLeader)
      for (const id of this.voters)
        if (id !== this.cfg.id) matches.push(this.progress.get(id)?.matchSeq ?? 0);
    this.unadvanced = {
      ready,
      lastSeq: this.log.lastSeq,
      persistedBefore,
      asLeader,
      voters: this.voters,
      quorum: this.quorum,
      matches,
    };
    this.truncatePoint = null;
    this.resetPoint = null;
    this.pendingEntries = [];
    this.outbox = [];
    this.retransmits = [];
    this.readStates = [];
    this.hardStateDirty = false;
    this.roleChanged = false;
    return ready;
  }

  /**
   * The host has carried out `ready` completely (persisted, sent,
   * delivered), as etcd raft's `Advance`. Checks the Ready contract: each
   * Ready is advanced once and in order, the commit point never moves
   * backwards, a node delivers only what it has persisted, and a sequencer
   * never commits past what a majority (itself counted only for what it had
   * persisted) holds.
   */
  advance(ready: Ready): void {
    const outstanding = this.unadvanced;
    invariant(
      outstanding !== null && outstanding.ready === ready,
      `${this.cfg.id}: advance() of a Ready that is not the outstanding one (applied twice?)`,
    );
    this.unadvanced = null;
    this.persistedLastSeq = Math.min(outstanding.lastSeq, this.storedLastSeq);
    this.durableLastSeq =
      this.resetPoint === null
        ? this.persistedLastSeq
        : Math.min(this.durableLastSeq, this.persistedLastSeq);
    if (ready.hardState !== null) this.durableEpoch = ready.hardState.epoch;
    if (this.commitSeq < this.advancedCommitSeq)
      invariant(
        false,
        `${this.cfg.id}: commit point moved backwards from ${this.advancedCommitSeq} to ${this.commitSeq}`,
      );
    this.advancedCommitSeq = this.commitSeq;
    const committed = ready.committed;
    if (committed === null) return;
    if (committed.toSeq > outstanding.lastSeq)
      invariant(
        false,
        `${this.cfg.id}: delivered seq ${committed.toSeq} beyond its log (${outstanding.lastSeq})`,
      );
    // A commit point counted before the voters last changed was counted with the voters of then.
    if (
      outstanding.asLeader &&
      this.role === Role.leader &&
      committed.toSeq > this.commitSeqAtVotersChange
    ) {
      // Counted with the voters in force when the Ready was taken; acks that
      // arrived since only raise the matches.
      const matches = outstanding.voters.includes(this.cfg.id) ? [outstanding.persistedBefore] : [];
      let i = 0;
      for (const id of outstanding.voters) {
        if (id === this.cfg.id) continue;
        matches.push(Math.max(outstanding.matches[i++]!, this.progress.get(id)?.matchSeq ?? 0));
      }
      matches.sort((a, b) => b - a);
      if (committed.toSeq > (matches[outstanding.quorum - 1] ?? 0))
        invariant(
          false,
          `${this.cfg.id}: committed seq ${committed.toSeq}, but a majority holds only up to ${matches[outstanding.quorum - 1]}`,
        );
    }
  }

  hardState(): HardState {
    return { epoch: this.epoch, votedFor: this.votedFor, commitSeq: this.commitSeq };
  }

  // ------------------------------------------------------------- sequencer

  private proposeOne(proposal: Proposal, nowMs: number): ProposeResult {
    if (this.role !== Role.leader) return { kind: 'notLeader', leaderId: this.leaderId };
    if (this.transferee !== null) return { kind: 'busy', reason: 'transferring' };
    const owner = proposal.owner ?? '';
    const knownOwner = this.producers.ownerOf(proposal.producerId);
    if (owner !== '' && knownOwner !== '' && knownOwner !== owner) {
      // Checked before dedup: another identity learns nothing of this producer's messages.
      return { kind: 'forbidden', owner: knownOwner };
    }
    const verdict = this.producers.check(proposal.producerId, proposal.producerSeq);
    if (verdict.kind === 'duplicate' && !this.defects.has(PlantedDefect.skipDedup)) {
      return {
        kind: 'duplicate',
        seq: verdict.seq,
        epoch: verdict.seq === null ? null : (this.log.epochAt(verdict.seq) ?? null),
      };
    }
    if (verdict.kind === 'outOfOrder') return verdict;
    if (this.log.lastSeq - this.commitSeq >= this.cfg.maxUncommittedEntries) {
      return { kind: 'busy', reason: 'window-full' };
    }
    const entry = this.appendDataState(
      proposal.producerId,
      proposal.producerSeq,
      proposal.topic,
      proposal.payload,
      owner,
      Math.max(this.lastTimestampMs, nowMs),
    );
    this.pendingEntries.push(entry);
    return { kind: 'appended', seq: entry.seq, epoch: this.epoch };
  }

  /**
   * A data entry at the next seq of this epoch, appended (appendEntryState)
   * but not yet among the entries the next Ready carries: the caller adds it.
   */
  private appendDataState(
    producerId: string,
    producerSeq: number,
    topic: string,
    payload: Uint8Array,
    owner: string,
    timestampMs: number,
  ): Entry {
    // Two literals rather than a spread of an optional field: a spread makes
    // every entry a slow-path object, and this runs once per message.
    const seq = this.log.lastSeq + 1;
    const entry: Entry =
      owner === ''
        ? {
            seq,
            epoch: this.epoch,
            kind: EntryKind.data,
            producerId,
            producerSeq,
            topic,
            payload,
            timestampMs,
          }
        : {
            seq,
            epoch: this.epoch,
            kind: EntryKind.data,
            producerId,
            producerSeq,
            topic,
            payload,
            timestampMs,
            owner,
          };
    this.appendEntryState(entry);
    return entry;
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    if (this.transferee !== null && ++this.transferElapsed >= this.cfg.electionTimeoutTicks) {
      // The target did not take over in time: carry on as sequencer.
      this.transferee = null;
    }
    if (this.electionElapsed >= this.cfg.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        let active = this.isVoter ? 1 : 0;
        for (const [id, p] of this.progress) {
          if (p.recentActive && this.voters.includes(id)) active++;
          p.recentActive = false;
        }
        if (active < this.quorum) {
          // Cut off from a majority: stop sequencing so clients look elsewhere.
          this.becomeFollower(this.epoch, null);
          return;
        }
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      this.heartbeatDue = true;
      this.heartbeatSilentFollowers();
    }
  }

  /**
   * Heartbeats are multicast, and the multicast path can fail on its own
   * (a SUB that lost its connection, a slow joiner). A follower silent for
   * two heartbeat intervals also gets one point-to-point, so it still learns
   * the sequencer's position, NACKs what it lacks and keeps its lease.
   */
  private heartbeatSilentFollowers(): void {
    const silentTicks = 2 * this.cfg.heartbeatIntervalTicks;
    for (const [peer, p] of this.progress) {
      if (this.ticks - p.lastHeardTick > silentTicks) {
        this.outbox.push({ to: peer, message: this.appendMessage(this.log.lastSeq, []) });
      }
    }
  }

  /**
   * A heartbeat for the host to multicast at once, outside the Ready cycle,
   * or null when none is due. The host asks while it is still applying a
   * Ready (a slow fsync), once that Ready's multicast is out: a sequencer
   * sends nothing else until the Ready is advanced, and followers that hear
   * nothing for an election timeout depose it. It names only what earlier
   * Readies multicast (entries appended since go out with the next Ready,
   * first) and a commit point already reached; nothing in it rests on this
   * node's own writes in flight.
   */
  heartbeatNow(): AppendMessage | null {
    if (this.role !== Role.leader || !this.heartbeatDue || this.unadvanced === null) return null;
    const multicastSeq =
      this.pendingEntries.length > 0 ? this.pendingEntries[0]!.seq - 1 : this.log.lastSeq;
    this.heartbeatDue = false;
    this.heartbeatElapsed = 0;
    return this.appendMessage(multicastSeq, []);
  }

  /**
   * An acknowledgement for the host to send to the sequencer at once, outside
   * the Ready cycle, or null when none is due. The host asks while it is
   * still applying a Ready (a slow fsync): without it the sequencer hears
   * nothing from this node until the write ends, and a sequencer that hears
   * from no majority for an election timeout steps down. It claims only what
   * advanced Readies made durable, and only in an epoch that is durable too;
   * the ack of the Ready in flight still follows its write. `ackDue` stays
   * set, so the next Ready acknowledges what arrived meanwhile.
   */
  ackNow(): { readonly to: NodeId; readonly message: AckMessage } | null {
    if (
      this.role !== Role.follower ||
      !this.ackDue ||
      this.leaderId === null ||
      this.unadvanced === null ||
      this.epoch !== this.durableEpoch
    )
      return null;
    const ack = this.ackMessage(false, 0, 0);
    return {
      to: this.leaderId,
      message: { ...ack, matchSeq: Math.min(ack.matchSeq, this.durableLastSeq) },
    };
  }

  /** Turns the entries appended since the last Ready into multicast batches, or sends a heartbeat. */
  private flushMulticast(): void {
    const entries = this.pendingEntries;
    // Batches are capped in entries and in bytes (below the frame size, so a
    // batch always fits one frame); a batch holds at least one entry.
    let start = 0;
    while (start < entries.length) {
      let end = start;
      let bytes = 0;
      while (end < entries.length && end - start < this.cfg.maxBatchEntries) {
        const size = entryBytes(entries[end]!);
        if (end > start && bytes + size > this.cfg.maxBatchBytes) break;
        bytes += size;
        end++;
      }
      const batch = entries.slice(start, end);
      this.outbox.push({ to: null, message: this.appendMessage(batch[0]!.seq - 1, batch) });
      start = end;
    }
    if (entries.length > 0) {
      this.heartbeatElapsed = 0;
    } else if (this.heartbeatDue || this.commitSeq > this.deliveredSeq) {
      this.heartbeatElapsed = 0;
      const message = this.appendMessage(this.log.lastSeq, []);
      // A read round or a transfer must reach the followers at once; a
      // commit point alone can ride on the next append (see Outgoing).
      const onlyCommit = !this.heartbeatDue && this.transferee === null;
      this.outbox.push(
        onlyCommit ? { to: null, message, commitNotice: true } : { to: null, message },
      );
    }
  }

  private appendMessage(
    prevSeq: number,
    entries: readonly Entry[],
    logStart = false,
  ): AppendMessage {
    const prevEpoch = this.log.epochAt(prevSeq);
    if (prevEpoch === undefined) invariant(false, `epoch of seq ${prevSeq} is unknown`);
    const message: AppendMessage = {
      type: 'append',
      epoch: this.epoch,
      from: this.cfg.id,
      prevSeq,
      prevEpoch,
      entries,
      commitSeq: this.commitSeq,
      ...(this.transferee !== null ? { transferTo: this.transferee } : {}),
      ...(this.readRound > 0 ? { readRound: this.readRound } : {}),
      ...(hasWitness(this.membership) ? { dataSeq: this.dataVotersSeq() } : {}),
    };
    // Only sent with no entries at prevSeq = lastSeq, where our last log time is exactly right.
    if (!logStart) return message;
    this.foldCommittedConfigs();
    return {
      ...message,
      logStart,
      prevTimestampMs: this.lastTimestampMs,
      membership: this.committedMembership,
    };
  }

  /**
   * The highest seq every data voter holds durably, as far as this
   * sequencer knows (itself counted for what it persisted).
   */
  private dataVotersSeq(): number {
    let seq = this.selfMatchSeq;
    for (const id of dataVotersOf(this.membership)) {
      if (id === this.cfg.id) continue;
      seq = Math.min(seq, this.progress.get(id)?.matchSeq ?? 0);
    }
    return seq;
  }

  private handleAck(message: AckMessage): void {
    if (this.role !== Role.leader) return;
    const p = this.progress.get(message.from);
    if (p === undefined) return;
    p.recentActive = true;
    p.lastHeardTick = this.ticks;
    if ((message.readRound ?? 0) > p.readRound) {
      p.readRound = message.readRound ?? 0;
      this.settleConfirmedReads();
    }
    if (message.reject) {
      const point = this.log.lastAtOrBefore(message.hintSeq, message.hintEpoch);
      if (p.lastProbeSeq === point.seq && this.ticks - p.lastProbeTick < this.cfg.nackRetryTicks)
        return;
      p.lastProbeSeq = point.seq;
      p.lastProbeTick = this.ticks;
      this.sendFrom(message.from, point.seq + 1, this.log.lastSeq);
      return;
    }
    if (message.matchSeq > p.matchSeq) {
      p.matchSeq = Math.min(message.matchSeq, this.log.lastSeq);
      this.maybeCommit();
    }
    // Every acknowledgement from a caught-up target repeats the timeoutNow, so
    // that a lost one delays the hand-over by a heartbeat instead of aborting it.
    if (message.from === this.transferee) this.maybeSendTimeoutNow();
  }

  private handleNack(message: NackMessage): void {
    if (this.role !== Role.leader) return;
    const p = this.progress.get(message.from);
    // A node outside the membership (removed) is no longer served.
    if (p === undefined) return;
    p.recentActive = true;
    p.lastHeardTick = this.ticks;
    // A range beyond our log cannot be answered (and no honest follower asks for one).
    if (message.fromSeq > this.log.lastSeq + 1) return;
    this.sendFrom(message.from, message.fromSeq, message.toSeq);
  }

  /** Sends `to` the entries from `fromSeq` (bounded), read from storage by the host. */
  private sendFrom(to: NodeId, fromSeq: number, toSeq: number): void {
    // Entries below our log start were dropped by retention (all committed):
    // the follower is told to start its log where ours starts.
    const logStart = fromSeq < this.log.firstSeq;
    const first = Math.max(fromSeq, this.log.firstSeq);
    const last = Math.min(toSeq, this.log.lastSeq, first + this.cfg.maxRetransmitEntries - 1);
    const prevEpoch = this.log.epochAt(first - 1);
    if (prevEpoch === undefined) invariant(false, `epoch of seq ${first - 1} is unknown`);
    if (first > last) {
      // Nothing to send but our position: an empty append lets the follower check its log.
      const prevSeq = logStart ? first - 1 : this.log.lastSeq;
      this.outbox.push({ to, message: this.appendMessage(prevSeq, [], logStart) });
      return;
    }
    this.retransmits.push({
      to,
      epoch: this.epoch,
      prevSeq: first - 1,
      prevEpoch,
      fromSeq: first,
      toSeq: last,
      commitSeq: this.commitSeq,
      ...(logStart ? { logStart, membership: this.foldedCommittedMembership() } : {}),
      ...(this.transferee !== null ? { transferTo: this.transferee } : {}),
    });
  }

  private foldedCommittedMembership(): Membership {
    this.foldCommittedConfigs();
    return this.committedMembership;
  }

  private maybeCommit(): void {
    // Only voters count; the sequencer counts itself only while it is one.
    const matches = this.isVoter ? [this.selfMatchSeq] : [];
    for (const id of this.voters)
      if (id !== this.cfg.id) matches.push(this.progress.get(id)!.matchSeq);
    if (matches.length < this.quorum) return;
    matches.sort((a, b) => b - a);
    const quorumIndex = this.defects.has(PlantedDefect.commitWithoutMajority) ? 0 : this.quorum - 1;
    const candidate = matches[quorumIndex]!;
    // Only an entry of our own epoch is committed by counting (Raft §5.4.2);
    // earlier entries commit with it.
    const ownEpoch =
      this.log.epochAt(candidate) === this.epoch ||
      this.defects.has(PlantedDefect.commitOldEpochByCount);
    if (candidate > this.commitSeq && ownEpoch) {
      this.commitSeq = candidate;
    }
  }

  private maybeSendTimeoutNow(): void {
    if (this.transferee === null) return;
    const p = this.progress.get(this.transferee)!;
    if (p.matchSeq < this.log.lastSeq) return;
    const message: TimeoutNowMessage = { type: 'timeoutNow', epoch: this.epoch, from: this.cfg.id };
    this.outbox.push({ to: this.transferee, message });
    // The other followers learn of the hand-over from a heartbeat that names
    // the target; they grant its transfer campaign only then.
    this.heartbeatDue = true;
  }

  // -------------------------------------------------------------- follower

  private handleAppend(message: AppendMessage): void {
    // step() refused an append from a second sequencer of this epoch.
    invariant(
      this.role !== Role.leader,
      `two sequencers in epoch ${this.epoch}: ${this.cfg.id} and ${message.from}`,
    );
    if (this.role !== Role.follower || this.leaderId !== message.from) {
      this.becomeFollower(message.epoch, message.from);
    }
    this.leaderTransferee = message.transferTo ?? null;
    this.leaderReadRound = Math.max(this.leaderReadRound, message.readRound ?? 0);
    this.electionElapsed = 0;
    if (message.dataSeq !== undefined) this.dataSeq = Math.max(this.dataSeq, message.dataSeq);
    // The sequencer's log starts after prevSeq (retention dropped what came
    // before, all committed). A follower that lacks prevSeq, or holds another
    // entry there (necessarily uncommitted: it conflicts with a committed
    // one), cannot be repaired from the sequencer's log: it starts its own
    // log where the sequencer's starts.
    if (
      message.logStart === true &&
      (message.prevSeq > this.log.lastSeq || !this.matchesAt(message.prevSeq, message.prevEpoch))
    ) {
      this.resetLogAfter(
        message.prevSeq,
        message.prevEpoch,
        message.prevTimestampMs ?? 0,
        message.membership ?? null,
      );
    }
    this.knownLeaderLastSeq = Math.max(
      this.knownLeaderLastSeq,
      message.prevSeq + message.entries.length,
    );
    if (message.prevSeq > this.log.lastSeq) {
      this.bufferFuture(message);
      this.ackDue = true;
      this.ackRequired = true;
      this.maybeNack();
      return;
    }
    this.acceptAppend(message);
    this.drainFuture();
    this.maybeNack();
  }

  private acceptAppend(message: AppendMessage): void {
    if (!this.matchesAt(message.prevSeq, message.prevEpoch)) {
      const hint = this.log.lastAtOrBefore(message.prevSeq, message.prevEpoch);
      this.outbox.push({ to: message.from, message: this.ackMessage(true, hint.seq, hint.epoch) });
      return;
    }
    let matched = message.prevSeq;
    const ceiling = this.witnessCeilingSeq();
    const entries = message.entries;
    // Once one entry is appended every later one is too: they are [from, to).
    let from = -1;
    let to = -1;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      // A witness whose tail is full takes no more (see witnessTailMaxEntries).
      if (entry.seq > ceiling) break;
      // Checked before building the message: this runs for every entry.
      if (entry.seq !== matched + 1) {
        invariant(false, `append from ${message.from} is not contiguous at seq ${entry.seq}`);
      }
      if (entry.seq <= this.log.lastSeq) {
        if (entry.seq <= this.commitSeq || this.log.epochAt(entry.seq) === entry.epoch) {
          matched = entry.seq;
          continue;
        }
        this.truncateAfter(entry.seq - 1);
      }
      // Every entry from here up to the ceiling is appended: a run at a time.
      from = i;
      // (entry.seq is at most the ceiling, checked above.)
      to = Math.min(entries.length, i + (ceiling - entry.seq + 1));
      for (let k = i + 1; k < to; k++)
        if (entries[k]!.seq !== entry.seq + (k - i))
          invariant(
            false,
            `append from ${message.from} is not contiguous at seq ${entries[k]!.seq}`,
          );
      this.appendEntriesState(entries, from, to);
      matched = entries[to - 1]!.seq;
      break;
    }
    if (from >= 0) this.addPendingEntries(entries, from, to);
    this.leaderMatchSeq = Math.max(this.leaderMatchSeq, matched);
    const commit = Math.min(message.commitSeq, this.leaderMatchSeq);
    if (commit > this.commitSeq) this.commitSeq = commit;
    this.ackDue = true;
  }

  /** Entries at or below the commit point match any sequencer's log (Leader Completeness). */
  private matchesAt(seq: number, epoch: number): boolean {
    if (seq > this.log.lastSeq) return false;
    if (seq <= this.commitSeq) return true;
    return this.log.epochAt(seq) === epoch;
  }

  private bufferFuture(message: AppendMessage): void {
    if (message.entries.length === 0 || this.future.has(message.prevSeq)) return;
    if (this.futureEntries + message.entries.length > this.cfg.maxBufferedFutureEntries) return;
    this.future.set(message.prevSeq, message);
    this.futureEntries += message.entries.length;
  }

  private drainFuture(): void {
    while (this.future.size > 0) {
      let lowest = Number.POSITIVE_INFINITY;
      for (const prevSeq of this.future.keys()) lowest = Math.min(lowest, prevSeq);
      if (lowest > this.log.lastSeq) return;
      const message = this.future.get(lowest)!;
      this.future.delete(lowest);
      this.futureEntries -= message.entries.length;
      if (message.prevSeq + message.entries.length > this.log.lastSeq) this.acceptAppend(message);
    }
  }

  private clearFuture(): void {
    this.future.clear();
    this.futureEntries = 0;
  }

  /** Asks the sequencer for a missing range, at most once per retry interval (with jitter). */
  private maybeNack(): void {
    if (this.role !== Role.follower || this.leaderId === null) return;
    const lastSeq = this.log.lastSeq;
    const ceiling = this.witnessCeilingSeq();
    if (this.knownLeaderLastSeq <= lastSeq || lastSeq >= ceiling) {
      this.nackOutstanding = null;
      return;
    }
    const outstanding = this.nackOutstanding;
    // Wait for the answer to the last NACK, unless it was answered in part
    // (a retransmission is bounded): then ask for the rest at once.
    if (
      outstanding !== null &&
      lastSeq < outstanding.fromSeq &&
      this.ticks < outstanding.retryAtTick
    )
      return;
    let gapEnd = this.knownLeaderLastSeq;
    for (const prevSeq of this.future.keys()) gapEnd = Math.min(gapEnd, prevSeq);
    const fromSeq = lastSeq + 1;
    const toSeq = Math.min(
      Math.max(gapEnd, fromSeq),
      fromSeq + this.cfg.maxNackRangeEntries - 1,
      ceiling,
    );
    const jitterTicks = Math.floor(this.cfg.random() * (this.cfg.nackRetryTicks + 1));
    this.nackOutstanding = {
      fromSeq,
      toSeq,
      retryAtTick: this.ticks + this.cfg.nackRetryTicks + jitterTicks,
    };
    const nack: NackMessage = {
      type: 'nack',
      epoch: this.epoch,
      from: this.cfg.id,
      fromSeq,
      toSeq,
    };
    this.outbox.push({ to: this.leaderId, message: nack });
  }

  /**
   * Whether `ack` is worth sending. The sequencer multicasts its commit
   * point as soon as it moves, in an append with no entries; acking that
   * told the sequencer nothing it did not know, and under light load it was
   * a third of all peer messages, each waking two ZeroMQ I/O threads and a
   * process. So an ack that repeats the last one (same sequencer and epoch,
   * match point and read round) within the same tick is left out. One in
   * a later tick goes, so a lost ack is repeated by the next heartbeat and
   * the sequencer keeps hearing from this node at least once per heartbeat
   * interval while idle, as its lease and silent-follower checks expect.
   */
  private ackTellsSomething(to: NodeId, ack: AckMessage): boolean {
    const last = this.lastAck;
    return (
      this.ackRequired ||
      last === null ||
      last.tick !== this.ticks ||
      last.to !== to ||
      last.ack.epoch !== ack.epoch ||
      last.ack.matchSeq !== ack.matchSeq ||
      (last.ack.readRound ?? 0) !== (ack.readRound ?? 0)
    );
  }

  private ackMessage(reject: boolean, hintSeq: number, hintEpoch: number): AckMessage {
    return {
      type: 'ack',
      epoch: this.epoch,
      from: this.cfg.id,
      matchSeq: Math.min(this.log.lastSeq, this.leaderMatchSeq),
      reject,
      hintSeq,
      hintEpoch,
      ...(this.leaderReadRound > 0 ? { readRound: this.leaderReadRound } : {}),
    };
  }

  // -------------------------------------------------------------- elections

  private campaign(kind: 'preVote' | 'vote', transfer: boolean): void {
    if (kind === 'preVote') {
      this.setRole(Role.preCandidate, null);
    } else {
      this.epoch++;
      this.votedFor = this.cfg.id;
      this.hardStateDirty = true;
      this.setRole(Role.candidate, null);
      this.clearFuture();
    }
    this.resetElectionTimeout();
    this.votes.clear();
    this.votes.set(this.cfg.id, true);
    if (this.votes.size >= this.quorum) {
      this.winVote(kind);
      return;
    }
    const request: VoteRequestMessage = {
      type: 'voteRequest',
      epoch: kind === 'preVote' ? this.epoch + 1 : this.epoch,
      from: this.cfg.id,
      lastSeq: this.log.lastSeq,
      lastEpoch: this.log.lastEpoch,
      preVote: kind === 'preVote',
      transfer,
    };
    for (const peer of this.peers) this.outbox.push({ to: peer, message: request });
  }

  private handleVoteRequest(message: VoteRequestMessage): void {
    const canVote =
      this.votedFor === message.from ||
      (this.votedFor === null && this.leaderId === null) ||
      (message.preVote && message.epoch > this.epoch);
    const upToDate =
      message.lastEpoch > this.log.lastEpoch ||
      (message.lastEpoch === this.log.lastEpoch && message.lastSeq >= this.log.lastSeq);
    const granted = canVote && upToDate;
    if (canVote && !upToDate && this.isWitness) this.sendCatchUp(message);
    if (
      message.preVote &&
      canVote &&
      !upToDate &&
      this.role === Role.follower &&
      this.isVoter &&
      !this.isWitness
    ) {
      // The sequencer is gone (no lease kept this pre-vote out) and this log
      // is ahead of the candidate's, so this node is the likelier winner: it
      // campaigns at the next tick rather than waiting for its turn.
      this.randomizedElectionTimeout = Math.min(
        this.randomizedElectionTimeout,
        this.electionElapsed + 1,
      );
    }
    if (granted && !message.preVote) {
      this.votedFor = message.from;
      this.hardStateDirty = true;
      this.electionElapsed = 0;
    }
    const response: VoteResponseMessage = {
      type: 'voteResponse',
      // A granted pre-vote answers in the candidate's future epoch; a refusal in ours.
      epoch: granted && message.preVote ? message.epoch : this.epoch,
      from: this.cfg.id,
      granted,
      preVote: message.preVote,
    };
    this.outbox.push({ to: message.from, message: response });
  }

  /**
   * A witness refused a data voter's campaign because the candidate's log is
   * behind its own: with the sequencer gone, the candidate may lack entries
   * only the witness's tail still holds (committed with the witness's ack).
   * The witness sends them, from where the candidate's log ends, if its log
   * holds that very entry; the candidate appends them and wins the next round.
   */
  private sendCatchUp(request: VoteRequestMessage): void {
    if (!dataVotersOf(this.membership).includes(request.from)) return;
    const prevSeq = request.lastSeq;
    if (prevSeq < this.log.firstSeq - 1 || prevSeq >= this.log.lastSeq) return;
    const prevEpoch = this.log.epochAt(prevSeq);
    if (prevEpoch !== request.lastEpoch) return;
    this.retransmits.push({
      to: request.from,
      epoch: this.epoch,
      prevSeq,
      prevEpoch,
      fromSeq: prevSeq + 1,
      toSeq: Math.min(this.log.lastSeq, prevSeq + this.cfg.maxRetransmitEntries),
      commitSeq: this.commitSeq,
      catchUp: true,
    });
  }

  /**
   * A witness's tail (AppendMessage.catchUp). Its entries are appended only
   * where this log ends and only if the entry there is the one the witness
   * holds (same seq and epoch, so the logs match up to it): nothing is ever
   * truncated, so no entry counted toward a commit can be lost, and the
   * longer log is a prefix of the witness's, as if its sequencers had sent
   * it. Entries of an epoch this node has not reached are left for later
   * (it learns the epoch from the witness's refusal), so epochs never
   * decrease along the log. The sequencer's own log is never touched.
   */
  private handleCatchUp(message: AppendMessage): string | null {
    if (!isWitness(this.membership, message.from))
      return `catch-up append from ${message.from}, which is not a witness`;
    if (this.role === Role.leader || message.entries.length === 0) return null;
    const prevSeq = message.prevSeq;
    if (prevSeq !== this.log.lastSeq || prevSeq < this.log.firstSeq - 1) return null;
    if (this.log.epochAt(prevSeq) !== message.prevEpoch) return null;
    if (message.entries.some((e) => e.epoch > this.epoch)) return null;
    let expected = prevSeq + 1;
    for (const entry of message.entries) {
      if (entry.seq !== expected) {
        invariant(false, `catch-up from ${message.from} is not contiguous at seq ${entry.seq}`);
      }
      this.appendEntry(entry);
      expected++;
    }
    return null;
  }

  private handleVoteResponse(message: VoteResponseMessage): void {
    const waiting =
      (message.preVote && this.role === Role.preCandidate) ||
      (!message.preVote && this.role === Role.candidate);
    if (!waiting) return;
    this.votes.set(message.from, message.granted);
    let granted = 0;
    let refused = 0;
    for (const [id, vote] of this.votes) {
      // Only the voters of this candidate's membership count.
      if (!this.voters.includes(id)) continue;
      if (vote) granted++;
      else refused++;
    }
    if (granted >= this.quorum) this.winVote(message.preVote ? 'preVote' : 'vote');
    else if (refused >= this.quorum) this.becomeFollower(this.epoch, null);
  }

  private winVote(kind: 'preVote' | 'vote'): void {
    if (kind === 'preVote') this.campaign('vote', false);
    else this.becomeLeader();
  }

  private handleTimeoutNow(message: TimeoutNowMessage): void {
    if (
      this.role === Role.leader ||
      message.from !== this.leaderId ||
      !this.isVoter ||
      this.isWitness
    )
      return;
    this.campaign('vote', true);
  }

  /** Answers a message from an older epoch so that a deposed sequencer learns it and steps down. */
  private stepStale(message: PeerMessage): void {
    if (message.type === 'append' || message.type === 'timeoutNow') {
      this.outbox.push({
        to: message.from,
        message: { ...this.ackMessage(true, 0, 0), matchSeq: 0 },
      });
    } else if (message.type === 'voteRequest' && message.preVote) {
      const response: VoteResponseMessage = {
        type: 'voteResponse',
        epoch: this.epoch,
        from: this.cfg.id,
        granted: false,
        preVote: true,
      };
      this.outbox.push({ to: message.from, message: response });
    }
  }

  private becomeLeader(): void {
    invariant(this.role === Role.candidate, `${this.cfg.id} became sequencer without a campaign`);
    this.setRole(Role.leader, this.cfg.id);
    this.transferee = null;
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    this.selfMatchSeq = 0;
    this.readRound = 0;
    this.abandonReads();
    this.progress.clear();
    for (const peer of this.peers) this.progress.set(peer, this.newProgress());
    this.clearFuture();
    this.nackOutstanding = null;
    // The epoch-start entry lets the new sequencer commit what earlier epochs left uncommitted.
    this.appendEntry(makeEpochStartEntry(this.log.lastSeq + 1, this.epoch, this.lastTimestampMs));
  }

  private becomeFollower(epoch: number, leaderId: NodeId | null): void {
    if (epoch > this.epoch) {
      this.epoch = epoch;
      this.votedFor = null;
      this.hardStateDirty = true;
    }
    this.setRole(Role.follower, leaderId);
    this.transferee = null;
    this.leaderTransferee = null;
    this.electionElapsed = 0;
    this.resetElectionTimeout();
    this.clearFuture();
    this.nackOutstanding = null;
    this.knownLeaderLastSeq = 0;
    this.leaderMatchSeq = Math.min(this.commitSeq, this.log.lastSeq);
    this.leaderReadRound = 0;
    this.abandonReads();
  }

  private setRole(role: Role, leaderId: NodeId | null): void {
    if (this.role !== role || this.leaderId !== leaderId) this.roleChanged = true;
    this.role = role;
    this.leaderId = leaderId;
  }

  private resetElectionTimeout(): void {
    const base = this.cfg.electionTimeoutTicks;
    this.randomizedElectionTimeout = base + Math.floor(this.cfg.random() * base);
  }

  // -------------------------------------------------------------------- log

  private appendEntry(entry: Entry): void {
    this.appendEntryState(entry);
    this.pendingEntries.push(entry);
  }

  /**
   * Adds `entries[from, to)`, already appended (appendEntryState), to what
   * the next Ready writes and sends. The first of a Ready takes them as one
   * copy of its own size: pushed one at a time, the array grew again and
   * again, tens of bytes per entry for the collector on every node.
   */
  private addPendingEntries(entries: readonly Entry[], from: number, to: number): void {
    if (this.pendingEntries.length === 0) {
      // A copy, never the caller's array (a received message's, which the
      // host may hold on to): pushing onto it later changes nothing outside.
      this.pendingEntries = entries.slice(from, to);
      return;
    }
    for (let i = from; i < to; i++) this.pendingEntries.push(entries[i]!);
  }

  /**
   * appendEntryState for `entries[from, to)`, with the entries that share a
   * run (`Entry.runKey`) recorded as one: a follower's append and a
   * sequencer's batch are runs of thousands of entries.
   */
  private appendEntriesState(entries: readonly Entry[], from: number, to: number): void {
    let i = from;
    while (i < to) {
      const first = entries[i]!;
      const key = first.runKey;
      let j = i + 1;
      if (key !== undefined) while (j < to && entries[j]!.runKey === key) j++;
      if (j - i === 1) this.appendEntryState(first);
      else this.appendRunState(first, entries[j - 1]!, j - i);
      i = j;
    }
  }

  /** What appending the `count` data entries of one run, `first` to `last`, changes. */
  private appendRunState(first: Entry, last: Entry, count: number): void {
    if (
      first.kind !== EntryKind.data ||
      last.seq !== first.seq + count - 1 ||
      last.producerSeq !== first.producerSeq + count - 1
    )
      invariant(false, `entries ${first.seq}..${last.seq} that share a run key are not a run`);
    this.recordAppended(first, count);
  }

  /** What appending `entry` changes besides the entries the next Ready carries. */
  private appendEntryState(entry: Entry): void {
    this.recordAppended(entry, 1);
    if (entry.kind === EntryKind.config) {
      // In force as soon as it is in the log, committed or not.
      this.pendingConfigs.push({
        seq: entry.seq,
        epoch: entry.epoch,
        membership: decodeMembership(entry.payload),
      });
      this.membershipDirty = true;
      this.applyMembership();
    }
  }

  /**
   * The epoch index, the log time and the dedup table after appending
   * `count` entries from `first` on: one entry, or a run's entries, which
   * share all but their seqs and producerSeqs (consecutive from `first`'s).
   */
  private recordAppended(first: Entry, count: number): void {
    this.log.append(first.seq, first.epoch, count);
    this.lastTimestampMs = Math.max(this.lastTimestampMs, first.timestampMs);
    this.recordProducer(first, count);
  }

  private recordProducer(first: Entry, count = 1): void {
    if (first.kind === EntryKind.data)
      this.producers.record(
        first.producerId,
        first.producerSeq,
        first.seq,
        first.owner ?? '',
        count,
      );
  }

  /**
   * Starts the log empty after `seq`: the sequencer's retention dropped the
   * entries this node lacks. They are all committed (only committed entries
   * are ever dropped), so this node takes `seq` as committed and delivered;
   * it cannot serve them to its own subscribers, who get the oldest seq it
   * has instead.
   */
  private resetLogAfter(
    seq: number,
    epoch: number,
    timestampMs: number,
    membership: Membership | null,
  ): void {
    invariant(
      seq > this.log.lastSeq || seq > this.commitSeq,
      `log reset to ${seq} would drop committed entries this node holds (commit ${this.commitSeq})`,
    );
    this.log.resetAfter(seq, epoch);
    // What the dedup table recorded came from the log just dropped, which may
    // hold uncommitted entries the sequencer's log replaced and lacks the
    // entries up to `seq`: trusting it would take a retry for new, or a new
    // message for a duplicate. Producers it forgets are told to start afresh.
    this.producers.clear();
    this.pendingEntries = [];
    this.truncatePoint = null;
    this.resetPoint = { seq, epoch };
    this.durableLastSeq = Math.min(this.durableLastSeq, this.commitSeq);
    this.storedLastSeq = seq;
    this.persistedLastSeq = seq;
    this.commitSeq = seq;
    this.deliveredSeq = seq;
    this.leaderMatchSeq = seq;
    this.hardStateDirty = true;
    this.lastTimestampMs = Math.max(this.lastTimestampMs, timestampMs);
    // The config entries of the dropped log go with it; the sequencer's
    // committed membership replaces them (a sender that sent none is older
    // than membership changes: what this node knew stays).
    this.committedMembership = membership ?? this.membership;
    this.pendingConfigs = [];
    this.membershipDirty = true;
    this.applyMembership();
  }

  private truncateAfter(seq: number): void {
    invariant(
      seq >= this.commitSeq,
      `truncation to ${seq} would remove committed entries (commit ${this.commitSeq})`,
    );
    // Entries not yet handed to the host are dropped too, and the host still
    // hears of the truncation: publishers may be waiting on those seqs.
    const dropsEntries = seq < this.log.lastSeq;
    this.log.truncateAfter(seq);
    this.producers.truncateAfter(seq);
    this.pendingEntries = this.pendingEntries.filter((e) => e.seq <= seq);
    if (dropsEntries) this.truncatePoint = Math.min(this.truncatePoint ?? seq, seq);
    if (seq < this.storedLastSeq) this.storedLastSeq = seq;
    this.persistedLastSeq = Math.min(this.persistedLastSeq, seq);
    this.durableLastSeq = Math.min(this.durableLastSeq, seq);
    this.leaderMatchSeq = Math.min(this.leaderMatchSeq, seq);
    if (this.pendingConfigs.some((c) => c.seq > seq)) {
      this.pendingConfigs = this.pendingConfigs.filter((c) => c.seq <= seq);
      this.membershipDirty = true;
      this.applyMembership();
    }
  }
}

/** Bytes an entry takes in a batch, near enough: its payload and strings plus fixed fields. */
export function entryBytes(entry: Entry): number {
  return (
    payloadBytesOf(entry) + entry.topic.length + entry.producerId.length + ENTRY_OVERHEAD_BYTES
  );
}

/** The fixed fields of an entry on the wire (seq, epoch, kind, producerSeq, timestamp, tags), rounded up. */
const ENTRY_OVERHEAD_BYTES = 64;
