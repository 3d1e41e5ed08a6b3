import type { Membership, MembershipState } from './membership.js';
import type { ProducerSnapshot } from './producer-table.js';

/**
 * The vocabulary of the pure protocol core: entries, peer messages and the
 * `Ready` batch of actions the core hands to its host. Nothing here does I/O.
 */

export type NodeId = string;

/** What an entry in the log means. Epoch-start entries are the no-op a new sequencer commits first. */
export const EntryKind = {
  data: 1,
  epochStart: 2,
  /** A membership change: the payload is the whole new membership (see membership.ts). */
  config: 3,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface Entry {
  /** Position in the total order, contiguous from 1. */
  readonly seq: number;
  /** Epoch of the sequencer that assigned the seq. */
  readonly epoch: number;
  readonly kind: EntryKind;
  /** Empty for epoch-start entries. */
  readonly producerId: string;
  /** 0 for epoch-start entries. */
  readonly producerSeq: number;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Log time assigned by the sequencer: never decreasing along the log. */
  readonly timestampMs: number;
  /**
   * The identity that published a data entry: its producer id belongs to
   * that identity. Empty or absent on an insecure cluster and for entries
   * written before owners were recorded.
   */
  readonly owner?: string;
  /**
   * `payload.length`, given by entries that make their payload view only
   * when it is read (views of the bytes they arrived in), so that sizing a
   * batch does not make one. Absent on others.
   */
  readonly payloadBytes?: number;
  /**
   * Entries with the same `runKey` (not undefined) are data entries of one
   * run of a publisher's batch: consecutive seqs and producerSeqs, one
   * epoch, log time, producer and owner (entries decoded from, or made as,
   * one packed run). The core records such entries a run at a time.
   */
  readonly runKey?: object;
}

/** The length of an entry's payload, without making a view of it when the entry can say so. */
export function payloadBytesOf(entry: Entry): number {
  return entry.payloadBytes ?? entry.payload.length;
}

/** The no-op a new sequencer appends first in its epoch (it carries no producer, topic or payload). */
export function makeEpochStartEntry(seq: number, epoch: number, timestampMs: number): Entry {
  return {
    seq,
    epoch,
    kind: EntryKind.epochStart,
    producerId: '',
    producerSeq: 0,
    topic: '',
    payload: new Uint8Array(0),
    timestampMs,
  };
}

/** A config entry: the whole membership in force from this seq on (no producer or topic). */
export function makeConfigEntry(
  seq: number,
  epoch: number,
  timestampMs: number,
  payload: Uint8Array,
): Entry {
  return {
    seq,
    epoch,
    kind: EntryKind.config,
    producerId: '',
    producerSeq: 0,
    topic: '',
    payload,
    timestampMs,
  };
}

/**
 * What the data entries of a run of one publisher's batch share: consecutive
 * seqs from `firstSeq` and producerSeqs from `firstProducerSeq`, one epoch,
 * one log time, one producer and one owner ('' for none).
 */
export interface RunHeader {
  readonly firstSeq: number;
  readonly count: number;
  readonly epoch: number;
  readonly timestampMs: number;
  readonly firstProducerSeq: number;
  readonly producerId: string;
  readonly owner: string;
}

/** A message proposed by a publisher, before it has a seq. */
export interface Proposal {
  readonly producerId: string;
  readonly producerSeq: number;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** The publisher's identity on a secured cluster; empty or absent on an insecure one. */
  readonly owner?: string;
}

/** Sent to every node (multicast) or to one (retransmission, probe). An empty one is a heartbeat. */
export interface AppendMessage {
  readonly type: 'append';
  readonly epoch: number;
  readonly from: NodeId;
  /** Seq just before the first entry (for a heartbeat: the sequencer's last seq). */
  readonly prevSeq: number;
  readonly prevEpoch: number;
  readonly entries: readonly Entry[];
  readonly commitSeq: number;
  /**
   * Set when the sender no longer holds the entries up to prevSeq (its
   * retention dropped them; they are committed): a follower that lacks
   * prevSeq starts its log after it instead of asking for them forever.
   */
  readonly logStart?: boolean;
  /**
   * With logStart: the log time of the sender's last entry at or before
   * prevSeq (its lastTimestampMs when it sends no entries), so a follower
   * that starts its log there keeps log time from going backwards.
   */
  readonly prevTimestampMs?: number;
  /**
   * Set while the sequencer hands its role over to this node (it sent it a
   * timeoutNow): a voter still hearing from that sequencer grants a transfer
   * campaign only to the node its sequencer announced.
   */
  readonly transferTo?: NodeId;
  /**
   * With logStart: the membership in force at the sender's commit point, so
   * a follower whose log restarts (its config entries gone) still knows it.
   */
  readonly membership?: Membership;
  /**
   * The sequencer's latest read round: a follower echoes the highest it has
   * seen in every ack, and a read index taken in round r is confirmed once a
   * majority echoed r (the sequencer was still in office when it was taken).
   */
  readonly readRound?: number;
  /**
   * Sent by a sequencer whose cluster has a witness: the highest seq every
   * data voter (the sequencer included) is known to hold durably. A witness
   * drops its committed entries up to it and keeps only the tail beyond.
   */
  readonly dataSeq?: number;
  /**
   * Sent by a witness, not a sequencer: its tail after the candidate's last
   * entry, for a data voter whose campaign it refused because the
   * candidate's log was behind. The receiver only appends them where its
   * log ends (never truncates), and does not take the sender for a sequencer.
   */
  readonly catchUp?: boolean;
}

/** A follower's answer to appends: how far its log matches the sequencer's, or where it diverges. */
export interface AckMessage {
  readonly type: 'ack';
  readonly epoch: number;
  readonly from: NodeId;
  /** Highest seq this follower holds durably and knows to match the sequencer's log. */
  readonly matchSeq: number;
  /** True when an append did not match: the follower's log diverges at or before `hintSeq`. */
  readonly reject: boolean;
  readonly hintSeq: number;
  readonly hintEpoch: number;
  /** The highest read round this follower has seen from the sequencer (see AppendMessage.readRound). */
  readonly readRound?: number;
}

/** A follower asks for the entries in [fromSeq, toSeq]. */
export interface NackMessage {
  readonly type: 'nack';
  readonly epoch: number;
  readonly from: NodeId;
  readonly fromSeq: number;
  readonly toSeq: number;
}

export interface VoteRequestMessage {
  readonly type: 'voteRequest';
  /** The epoch the candidate would lead (for a pre-vote, the one it would campaign for). */
  readonly epoch: number;
  readonly from: NodeId;
  readonly lastSeq: number;
  readonly lastEpoch: number;
  readonly preVote: boolean;
  /** Set when the sequencer handed leadership over on purpose: voters skip their lease check. */
  readonly transfer: boolean;
}

export interface VoteResponseMessage {
  readonly type: 'voteResponse';
  readonly epoch: number;
  readonly from: NodeId;
  readonly granted: boolean;
  readonly preVote: boolean;
}

/** The sequencer tells a caught-up follower to start an election at once (leadership transfer). */
export interface TimeoutNowMessage {
  readonly type: 'timeoutNow';
  readonly epoch: number;
  readonly from: NodeId;
}

export type PeerMessage =
  | AppendMessage
  | AckMessage
  | NackMessage
  | VoteRequestMessage
  | VoteResponseMessage
  | TimeoutNowMessage;

/**
 * Log repair: a node whose stored records are damaged asks a peer for good
 * copies of `[fromSeq, toSeq]`. These travel between node hosts and never
 * reach the protocol core; `epoch` is the sender's, for the envelope only.
 */
export interface RepairRequestMessage {
  readonly type: 'repairRequest';
  readonly epoch: number;
  readonly from: NodeId;
  readonly fromSeq: number;
  readonly toSeq: number;
}

/** The entries of the asked range the peer holds (a prefix of it, possibly none). */
export interface RepairResponseMessage {
  readonly type: 'repairResponse';
  readonly epoch: number;
  readonly from: NodeId;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly entries: readonly Entry[];
  /** The sender's log start: what lies below it is committed and dropped by its retention. */
  readonly firstSeq: number;
  /** The sender's last seq: a log ending before the range surely lacks it. */
  readonly lastSeq: number;
  /**
   * SHA-256 of `entries` as the sender read them (see repairCopyDigest): a
   * copy damaged on its way does not match it, and is neither written nor
   * taken as a sign that the sender holds another entry.
   */
  readonly copyDigest: Uint8Array;
}

export type RepairMessage = RepairRequestMessage | RepairResponseMessage;

/**
 * A node host says which incarnation of its data folder it runs (at start,
 * before it takes part); the peer answers with the incarnation it knows for
 * that node ('' when none). Between hosts only, like repair.
 */
export interface HelloMessage {
  readonly type: 'hello';
  readonly epoch: number;
  readonly from: NodeId;
  readonly incarnation: string;
}

export interface HelloReplyMessage {
  readonly type: 'helloReply';
  readonly epoch: number;
  readonly from: NodeId;
  /** The incarnation the answering node knows for the asker, '' when none. */
  readonly knownIncarnation: string;
}

/** Everything that travels between nodes: protocol messages for the core, repair for the hosts. */
export type NodeMessage = PeerMessage | RepairMessage | HelloMessage | HelloReplyMessage;

/** `to: null` means every other node (the multicast path). */
export interface Outgoing {
  readonly to: NodeId | null;
  readonly message: PeerMessage;
  /**
   * Set on a multicast append with no entries whose only news is a moved
   * commit point (no heartbeat due, no read round, no transfer). The host
   * may hold it for a moment and leave it out when another multicast goes
   * first: every append carries the commit point, so the next one tells
   * the followers at least as much.
   */
  readonly commitNotice?: true;
}

/**
 * Entries this node holds only in storage: the host reads [fromSeq, toSeq]
 * and sends them to `to` as an append with the given header.
 */
export interface RetransmitAction {
  readonly to: NodeId;
  readonly epoch: number;
  readonly prevSeq: number;
  readonly prevEpoch: number;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly commitSeq: number;
  /** The range starts at the sender's log start (see AppendMessage.logStart). */
  readonly logStart?: boolean;
  /** The transfer under way (see AppendMessage.transferTo). */
  readonly transferTo?: NodeId;
  /** With logStart: see AppendMessage.membership. */
  readonly membership?: Membership;
  /** A witness's tail sent to a candidate (see AppendMessage.catchUp). */
  readonly catchUp?: boolean;
}

/** What must survive a crash before any message that depends on it is sent. */
export interface HardState {
  readonly epoch: number;
  readonly votedFor: NodeId | null;
  readonly commitSeq: number;
}

export const Role = {
  follower: 'follower',
  preCandidate: 'pre-candidate',
  candidate: 'candidate',
  leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/**
 * The batch of work the host carries out, in this order: persist
 * (`truncateAfter`, then `entries`, then `hardState`), then send (`messages`,
 * `retransmits`), then deliver (`committed`).
 */
export interface Ready {
  /**
   * Forget the whole stored log and start it empty after `seq` (whose epoch
   * is `epoch`): the sequencer no longer holds what this node lacks. Carried
   * out before `truncateAfter` and `entries`.
   */
  readonly resetLogAfter: { readonly seq: number; readonly epoch: number } | null;
  /** Remove every stored entry with a seq above this one (a divergent, uncommitted suffix). */
  readonly truncateAfter: number | null;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
  readonly messages: readonly Outgoing[];
  readonly retransmits: readonly RetransmitAction[];
  /** Newly committed range, to deliver in order; null when the commit point did not move. */
  readonly committed: { readonly fromSeq: number; readonly toSeq: number } | null;
  /**
   * Set when the config entries of the log changed (one appended, truncated,
   * or the log restarted): the host saves it durably after carrying out
   * `truncateAfter` and before writing `entries` or resetting the log, so
   * that what it saved lists every config entry its log holds.
   */
  readonly membership: MembershipState | null;
  /**
   * Read indexes settled since the last Ready: `index` is the commit point
   * a linearizable read must wait for, or null when this node stopped being
   * sequencer before a majority confirmed it (the reader asks again).
   */
  readonly readStates: readonly ReadState[];
  /** Set when the role, epoch or leader changed. */
  readonly roleChange: {
    readonly role: Role;
    readonly epoch: number;
    readonly leaderId: NodeId | null;
  } | null;
}

/** A read index request, settled (see Ready.readStates). */
export interface ReadState {
  /** The host's token for the request. */
  readonly token: number;
  readonly index: number | null;
}

/**
 * The dedup table saved by the host at a commit point `seq`: restarting from
 * it (and the entries after it) keeps producers the recent end of the log no
 * longer shows, so a late retry is still recognised.
 */
export interface DedupCheckpoint {
  readonly seq: number;
  readonly producers: readonly ProducerSnapshot[];
}

/** What a node recovered from its storage, to start the core from. */
export interface RecoveredState {
  readonly hardState: HardState;
  /** Seq of the first entry still held; lastSeq + 1 when the log is empty. */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Epoch of the entry at firstSeq - 1 (0 when none), for consistency checks at the log's start. */
  readonly epochBeforeFirst: number;
  /** The first seq of each epoch present in the log, ascending. */
  readonly epochStarts: readonly { readonly epoch: number; readonly startSeq: number }[];
  readonly lastTimestampMs: number;
  /**
   * The most recent entries, from which the dedup table is rebuilt; with a
   * dedup checkpoint, exactly the entries after its seq up to lastSeq.
   */
  readonly recentEntries: readonly Entry[];
  /** The dedup table as saved at some commit point, if the host kept one. */
  readonly dedupCheckpoint?: DedupCheckpoint | null;
  /**
   * Membership as last saved; null or absent for a node that never saved one
   * (a new cluster: the core starts from the seed members of its config).
   */
  readonly membership?: MembershipState | null;
}

export const EMPTY_RECOVERED_STATE: RecoveredState = {
  hardState: { epoch: 0, votedFor: null, commitSeq: 0 },
  firstSeq: 1,
  lastSeq: 0,
  epochBeforeFirst: 0,
  epochStarts: [],
  lastTimestampMs: 0,
  recentEntries: [],
};
