/**
 * The rules of primary-backup replication, decided by the order of the log
 * alone. Every replica of an app runs these functions on the same committed
 * entries in the same order, so every replica reaches the same verdicts:
 * who is primary, which updates are applied, which are rejected. No I/O, no
 * clock, no randomness: "now" is the log time the sequencer stamped on the
 * entry being applied, so the rules can be tested and simulated
 * deterministically.
 *
 * - **Lease.** A lease entry names an epoch, a primary and a lease length.
 *   A *claim* (epoch = current + 1) is valid only once the current lease has
 *   expired in log time (entry time >= the time of the last accepted lease
 *   entry + its length); the first valid claim in log order wins, later
 *   claims for that epoch are stale. A *renewal* (same epoch, same primary)
 *   extends the lease. Anything else is rejected.
 * - **Fencing.** An update is applied only if it carries the current lease
 *   epoch and the current primary: an update from a deposed primary (an
 *   older epoch), whenever it reaches the log, is rejected by every replica.
 * - **Executed once.** A request id is applied at most once: an update for
 *   an id already applied, or for an id never requested, is rejected; a
 *   request repeated while pending or after being applied is ignored.
 */
import { LIMITS } from '../../../src/limits.js';

export interface LeaseEntry {
  readonly type: 'lease';
  readonly epoch: number;
  readonly primary: string;
  /** How long the lease lasts after this entry, in log-time milliseconds. */
  readonly leaseMs: number;
}

export interface RequestEntry {
  readonly type: 'request';
  readonly id: string;
  /** The request as JSON text. */
  readonly request: string;
}

export interface UpdateEntry {
  readonly type: 'update';
  readonly id: string;
  /** The lease epoch the primary held when it executed the request. */
  readonly epoch: number;
  readonly primary: string;
  /** The state update as JSON text (absent when execute failed). */
  readonly update?: string;
  /** The reply as JSON text (absent when execute failed). */
  readonly reply?: string;
  /** Why execute failed, when it did: the request counts as executed, with no change. */
  readonly error?: string;
}

export type PbEntry = LeaseEntry | RequestEntry | UpdateEntry;

export interface Lease {
  readonly epoch: number;
  readonly primary: string;
  readonly leaseMs: number;
  /** Log time at which the lease expires unless renewed. */
  readonly expiresAtMs: number;
}

export interface PendingRequest {
  readonly id: string;
  /** Seq of the request entry. */
  readonly seq: number;
  readonly request: string;
}

/** The replicated bookkeeping of a primary-backup app (beside the service's own state). */
export interface PbState {
  /** The current lease; epoch 0 (no primary) before the first claim. */
  lease: Lease;
  /** Requests received and not yet applied, in log order. */
  readonly pending: Map<string, PendingRequest>;
  /** Ids of applied requests, oldest first, at most LIMITS.pbRememberedRequestIds. */
  readonly applied: Set<string>;
  /** Rejections, counted (identical on every replica, part of the digest). */
  readonly counters: {
    rejectedUpdates: number;
    rejectedLeases: number;
    ignoredRequests: number;
  };
}

export type LeaseVerdict =
  | { readonly accepted: true; readonly kind: 'claim' | 'renewal' }
  | {
      readonly accepted: false;
      readonly reason: 'stale-epoch' | 'lease-not-expired' | 'not-primary' | 'bad-lease';
    };

export type RequestVerdict =
  | { readonly accepted: true }
  | {
      readonly accepted: false;
      readonly reason: 'already-pending' | 'already-applied' | 'pending-full' | 'bad-id';
    };

export type UpdateVerdict =
  | { readonly accepted: true; readonly request: PendingRequest }
  | {
      readonly accepted: false;
      readonly reason: 'stale-epoch' | 'not-primary' | 'already-applied' | 'unknown-request';
    };

const utf8 = new TextEncoder();

export function emptyPbState(): PbState {
  return {
    lease: { epoch: 0, primary: '', leaseMs: 0, expiresAtMs: 0 },
    pending: new Map(),
    applied: new Set(),
    counters: { rejectedUpdates: 0, rejectedLeases: 0, ignoredRequests: 0 },
  };
}

/** Whether the current lease has expired at log time `logMs` (no lease counts as expired). */
export function leaseExpired(state: PbState, logMs: number): boolean {
  return state.lease.epoch === 0 || logMs >= state.lease.expiresAtMs;
}

/** Applies a lease entry stamped with log time `logMs`. */
export function applyLease(state: PbState, entry: LeaseEntry, logMs: number): LeaseVerdict {
  const verdict = judgeLease(state, entry, logMs);
  if (verdict.accepted) {
    state.lease = {
      epoch: entry.epoch,
      primary: entry.primary,
      leaseMs: entry.leaseMs,
      expiresAtMs: logMs + entry.leaseMs,
    };
  } else {
    state.counters.rejectedLeases++;
  }
  return verdict;
}

function judgeLease(state: PbState, entry: LeaseEntry, logMs: number): LeaseVerdict {
  if (
    !Number.isSafeInteger(entry.epoch) ||
    entry.epoch < 1 ||
    entry.primary.length === 0 ||
    !Number.isSafeInteger(entry.leaseMs) ||
    entry.leaseMs < LIMITS.pbMinLeaseMs ||
    entry.leaseMs > LIMITS.pbMaxLeaseMs
  ) {
    return { accepted: false, reason: 'bad-lease' };
  }
  const current = state.lease;
  if (entry.epoch === current.epoch) {
    return entry.primary === current.primary
      ? { accepted: true, kind: 'renewal' }
      : { accepted: false, reason: 'not-primary' };
  }
  if (entry.epoch !== current.epoch + 1) return { accepted: false, reason: 'stale-epoch' };
  if (!leaseExpired(state, logMs)) return { accepted: false, reason: 'lease-not-expired' };
  return { accepted: true, kind: 'claim' };
}

/** Applies a request entry at `seq`: it becomes pending, to be executed by the primary. */
export function applyRequest(state: PbState, entry: RequestEntry, seq: number): RequestVerdict {
  const verdict = judgeRequest(state, entry);
  if (verdict.accepted) state.pending.set(entry.id, { id: entry.id, seq, request: entry.request });
  else state.counters.ignoredRequests++;
  return verdict;
}

function judgeRequest(state: PbState, entry: RequestEntry): RequestVerdict {
  if (entry.id.length === 0 || utf8.encode(entry.id).length > LIMITS.pbMaxRequestIdBytes)
    return { accepted: false, reason: 'bad-id' };
  if (state.pending.has(entry.id)) return { accepted: false, reason: 'already-pending' };
  if (state.applied.has(entry.id)) return { accepted: false, reason: 'already-applied' };
  if (state.pending.size >= LIMITS.pbMaxPendingRequests)
    return { accepted: false, reason: 'pending-full' };
  return { accepted: true };
}

/**
 * Applies an update entry: accepted, its request moves from pending to
 * applied (and the caller applies the update to the service); rejected,
 * nothing changes but the count.
 */
export function applyUpdateEntry(state: PbState, entry: UpdateEntry): UpdateVerdict {
  const verdict = judgeUpdate(state, entry);
  if (verdict.accepted) {
    state.pending.delete(entry.id);
    state.applied.add(entry.id);
    if (state.applied.size > LIMITS.pbRememberedRequestIds) {
      const oldest = state.applied.values().next().value as string;
      state.applied.delete(oldest);
    }
  } else {
    state.counters.rejectedUpdates++;
  }
  return verdict;
}

function judgeUpdate(state: PbState, entry: UpdateEntry): UpdateVerdict {
  // Fencing comes first: a deposed primary's update is rejected whatever it carries.
  if (entry.epoch !== state.lease.epoch || state.lease.epoch === 0)
    return { accepted: false, reason: 'stale-epoch' };
  if (entry.primary !== state.lease.primary) return { accepted: false, reason: 'not-primary' };
  if (state.applied.has(entry.id)) return { accepted: false, reason: 'already-applied' };
  const request = state.pending.get(entry.id);
  if (request === undefined) return { accepted: false, reason: 'unknown-request' };
  return { accepted: true, request };
}

/** The request the primary executes next: the oldest pending one, or undefined. */
export function nextPending(state: PbState): PendingRequest | undefined {
  return state.pending.values().next().value;
}

/**
 * What a caller decides from the entries after its request (seq S), without
 * knowing the lease before S: the answer to its request is the first update
 * for its id whose epoch is at least every lease epoch seen since S.
 *
 * Why that is sound: the primary executes a request only after applying it,
 * and stamps the epoch current there, so an update's epoch is at least the
 * epoch current at S; an update is rejected only as a duplicate (the first
 * accepted one comes earlier) or because a valid claim of a higher epoch
 * came between S and it, which the caller sees. The caller may wait in vain
 * only if a claim it saw was invalid (made before the lease expired in log
 * time), which backups avoid by claiming well after expiry; it then times out
 * rather than return a reply that did not commit.
 */
export class ReplyTracker {
  private floorEpoch = 0;

  constructor(readonly requestId: string) {}

  /** The highest lease epoch seen since the request. */
  get highestEpoch(): number {
    return this.floorEpoch;
  }

  /** Feeds the next entry after the request, in log order; returns the deciding update, if this is it. */
  offer(entry: PbEntry): UpdateEntry | null {
    if (entry.type === 'lease') {
      if (entry.epoch > this.floorEpoch) this.floorEpoch = entry.epoch;
      return null;
    }
    if (entry.type !== 'update' || entry.id !== this.requestId) return null;
    return entry.epoch >= this.floorEpoch ? entry : null;
  }
}

/** The state as canonical JSON-ready data (for the snapshot and the digest). */
export function pbStateToJson(state: PbState): unknown {
  return {
    lease: state.lease,
    pending: [...state.pending.values()].map((p) => [p.id, p.seq, p.request]),
    applied: [...state.applied],
    counters: state.counters,
  };
}

export function pbStateFromJson(data: unknown): PbState {
  const d = data as {
    lease: Lease;
    pending: [string, number, string][];
    applied: string[];
    counters: PbState['counters'];
  };
  return {
    lease: { ...d.lease },
    pending: new Map(d.pending.map(([id, seq, request]) => [id, { id, seq, request }])),
    applied: new Set(d.applied),
    counters: { ...d.counters },
  };
}
