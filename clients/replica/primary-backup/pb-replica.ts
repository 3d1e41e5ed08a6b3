import { LIMITS } from '../../../src/limits.js';
import { AdminClient } from '../../admin.js';
import { backoffMs } from '../../backoff.js';
import { InvalidRequestError } from '../../errors.js';
import { Publisher } from '../../publisher.js';
import { type Replica, startReplica } from '../replica-host.js';
import { defaultReplicaLogger, type ReplicaLogger } from '../replica-logger.js';
import type { ReplicaEvent, ReplicaOptions } from '../replica-options.js';
import { encodePbEntry, type PbTopics, pbTopics } from './pb-entries.js';
import { type PbMachineListener, PrimaryBackupMachine } from './pb-machine.js';
import {
  type LeaseEntry,
  type LeaseVerdict,
  nextPending,
  type PendingRequest,
  type UpdateEntry,
  type UpdateVerdict,
} from './pb-rules.js';
import type { PrimaryBackupServiceFactory } from './pb-service.js';

export interface PrimaryBackupReplicaOptions
  extends Omit<ReplicaOptions, 'stateMachine' | 'topics' | 'onEvent'> {
  /** Returns a fresh service (a primary-backup plugin module's default export). */
  readonly service: PrimaryBackupServiceFactory;
  /**
   * Lease length in log-time milliseconds (default 2000). A primary renews
   * it every third of that; a backup claims it once it has seen no renewal
   * for 1.5 lease lengths (plus up to a quarter of jitter), so failover
   * takes about 1.5 to 1.75 lease lengths plus a commit.
   */
  readonly leaseMs?: number;
  /** False: never claim the lease (a replica that only follows, e.g. for queries). Default true. */
  readonly claimLease?: boolean;
  /** Called for each event, synchronously, on the replica's thread. */
  readonly onEvent?: (event: ReplicaEvent | PrimaryBackupEvent) => void;
}

/** What a primary-backup replica reports besides the replica host's events. */
export type PrimaryBackupEvent =
  | {
      /** An accepted claim: a new primary from this seq on. */
      readonly type: 'pb-lease';
      readonly epoch: number;
      readonly primary: string;
      readonly seq: number;
    }
  | {
      /** The state reached the cluster's commit point read at start: from now on this replica acts. */
      readonly type: 'pb-caught-up';
      readonly seq: number;
    }
  | {
      readonly type: 'pb-role';
      readonly role: 'primary' | 'backup';
      readonly epoch: number;
    }
  | {
      readonly type: 'pb-applied';
      readonly requestId: string;
      readonly epoch: number;
      readonly seq: number;
    }
  | {
      readonly type: 'pb-rejected';
      readonly what: 'lease' | 'update';
      readonly reason: string;
      readonly epoch: number;
      readonly primary: string;
      readonly requestId?: string;
      readonly seq: number;
    };

export const PB_DEFAULTS = {
  leaseMs: 2000,
  /** A failed update publish is retried after this long. */
  retryAfterFailureMs: 100,
} as const;

/**
 * Starts a replica of a primary-backup app: a replica host whose state
 * machine applies lease, request and update entries (pb-machine.ts), plus
 * the part that acts: renewing or claiming the lease, and, as primary,
 * executing pending requests one at a time and publishing each one's update.
 */
export async function startPrimaryBackupReplica(
  options: PrimaryBackupReplicaOptions,
): Promise<PrimaryBackupReplica> {
  const leaseMs = options.leaseMs ?? PB_DEFAULTS.leaseMs;
  if (
    !Number.isSafeInteger(leaseMs) ||
    leaseMs < LIMITS.pbMinLeaseMs ||
    leaseMs > LIMITS.pbMaxLeaseMs
  )
    throw new InvalidRequestError(
      `leaseMs must be an integer from ${LIMITS.pbMinLeaseMs} to ${LIMITS.pbMaxLeaseMs}, got ${leaseMs}`,
    );
  const topics = pbTopics(options.plugin);
  const pb = new PrimaryBackupReplica(options, topics, leaseMs);
  const { service, leaseMs: _lease, claimLease: _claim, onEvent, ...rest } = options;
  let replica: Replica;
  try {
    replica = await startReplica({
      ...rest,
      topics: [topics.control, topics.requests, topics.updates],
      stateMachine: () => pb.newMachine(),
      onEvent: (event) => onEvent?.(event),
    });
  } catch (error) {
    await pb.close();
    throw error;
  }
  pb.attach(replica);
  return pb;
}

/**
 * A running primary-backup replica. Every replica applies the same entries
 * and so agrees on who is primary; this one executes requests only while the
 * state it applied names it primary, and stamps each update with the lease
 * epoch it holds: if it was deposed meanwhile (paused, cut off), every
 * replica rejects that update.
 */
export class PrimaryBackupReplica implements PbMachineListener {
  private replicaValue: Replica | undefined;
  private machine: PrimaryBackupMachine | undefined;
  private readonly publisher: Publisher;
  private readonly logger: ReplicaLogger;
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | null = null;
  private lastLeaseSeenMs = Date.now();
  private lastRenewSentMs = 0;
  private lastClaimSentMs = 0;
  private claimJitterMs = 0;
  private role: 'primary' | 'backup' | null = null;
  /** The request being executed or whose update is not yet applied: at most one at a time. */
  private outstanding: { readonly id: string; readonly epoch: number } | null = null;
  private closing = false;
  /**
   * False until the state reflects the commit point read at start: a replica
   * replaying an old log must not act on an old lease that names it.
   */
  private caughtUp = false;
  /** A claim is being prepared (its read index taken): at most one at a time. */
  private claiming = false;
  /** Asks for read indexes before claims; opened by the first one. */
  private claimAdmin: AdminClient | undefined;

  /** @internal Use startPrimaryBackupReplica. */
  constructor(
    private readonly options: PrimaryBackupReplicaOptions,
    private readonly topics: PbTopics,
    private readonly leaseMs: number,
  ) {
    this.logger = options.logger ?? defaultReplicaLogger(`pb replica ${options.plugin}`);
    this.publisher = new Publisher({
      brokers: options.brokers,
      ackMode: 'quorum',
      ...(options.credentials === undefined
        ? {}
        : { runtime: { credentials: options.credentials } }),
    });
    this.tickMs = Math.max(10, Math.floor(leaseMs / 10));
    this.drawJitter();
  }

  /** The replica host underneath (applied seq, digests, linearizable queries, `done`). */
  get replica(): Replica {
    if (this.replicaValue === undefined) throw new InvalidRequestError('replica not started');
    return this.replicaValue;
  }

  get replicaId(): string {
    return this.replica.replicaId;
  }

  /** The lease epoch and primary this replica's applied state names. */
  get lease(): { readonly epoch: number; readonly primary: string } {
    const lease = this.machine?.state.lease;
    return { epoch: lease?.epoch ?? 0, primary: lease?.primary ?? '' };
  }

  get isPrimary(): boolean {
    return this.replicaValue !== undefined && this.lease.primary === this.replicaValue.replicaId;
  }

  /** A read-only query of the service's local state (see Replica.query for the linearizable form). */
  query<Query, Answer>(query: Query): Answer {
    return this.replica.query<Query, Answer>(query);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    void this.claimAdmin?.close();
    await this.replicaValue?.close();
    await this.publisher.close().catch(() => {});
  }

  /** @internal The replica host's state machine factory. */
  newMachine(): PrimaryBackupMachine {
    const machine = new PrimaryBackupMachine(
      this.options.service,
      this.topics,
      this,
      this.options.plugin,
    );
    this.machine = machine;
    this.outstanding = null;
    return machine;
  }

  /**
   * A read-only replica (a query run beside a live one on its folder, and so
   * under its id) never acts: it would otherwise execute as that primary.
   */
  private get passive(): boolean {
    return this.options.readOnly ?? false;
  }

  /** @internal */
  attach(replica: Replica): void {
    this.replicaValue = replica;
    if (this.passive) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    replica.done.then(
      () => this.stopActing(),
      () => this.stopActing(),
    );
    void this.catchUp(replica);
  }

  /** Waits until the state reflects a read index (the cluster's commit point), then starts acting. */
  private async catchUp(replica: Replica): Promise<void> {
    const admin = new AdminClient(
      this.options.brokers,
      undefined,
      this.options.credentials === undefined ? {} : { credentials: this.options.credentials },
    );
    try {
      for (let attempt = 0; !this.closing; attempt++) {
        try {
          await replica.whenApplied(await admin.readIndex(), LIMITS.readIndexWaitMs);
          break;
        } catch (error) {
          if (this.closing) return;
          const pauseMs = backoffMs(attempt, 50, 1000);
          this.logger.warn(
            `not yet caught up with the commit point: ${(error as Error).message}; retrying in ${pauseMs} ms`,
          );
          await new Promise((resolve) => setTimeout(resolve, pauseMs));
        }
      }
    } finally {
      await admin.close();
    }
    if (this.closing) return;
    this.caughtUp = true;
    // A lease seen while replaying was old news: the claim timer starts now.
    this.lastLeaseSeenMs = Date.now();
    this.emit({ type: 'pb-caught-up', seq: replica.appliedSeq });
    this.noteRole();
    this.pump();
  }

  // ------------------------------------------------- the machine's events

  onLease(verdict: LeaseVerdict, machine: PrimaryBackupMachine, seq: number): void {
    if (machine !== this.machine) return;
    const lease = machine.state.lease;
    if (verdict.accepted) {
      this.lastLeaseSeenMs = Date.now();
      if (verdict.kind === 'claim') {
        this.drawJitter();
        this.emit({ type: 'pb-lease', epoch: lease.epoch, primary: lease.primary, seq });
        if (this.outstanding !== null && this.outstanding.epoch !== lease.epoch)
          this.outstanding = null;
      }
      this.noteRole();
      this.pump();
    } else {
      this.emit({
        type: 'pb-rejected',
        what: 'lease',
        reason: verdict.reason,
        epoch: lease.epoch,
        primary: lease.primary,
        seq,
      });
    }
  }

  onRequest(machine: PrimaryBackupMachine): void {
    if (machine === this.machine) this.pump();
  }

  onUpdate(
    entry: UpdateEntry,
    verdict: UpdateVerdict,
    machine: PrimaryBackupMachine,
    seq: number,
  ): void {
    if (machine !== this.machine) return;
    if (verdict.accepted) {
      this.emit({ type: 'pb-applied', requestId: entry.id, epoch: entry.epoch, seq });
    } else {
      this.emit({
        type: 'pb-rejected',
        what: 'update',
        reason: verdict.reason,
        epoch: entry.epoch,
        primary: entry.primary,
        requestId: entry.id,
        seq,
      });
    }
    if (this.outstanding?.id === entry.id && entry.primary === this.replicaValue?.replicaId) {
      this.outstanding = null;
      this.pump();
    }
  }

  // ------------------------------------------------------------- acting

  private tick(): void {
    if (this.closing || !this.caughtUp || this.passive || this.replicaValue === undefined) return;
    if (this.machine === undefined) return;
    const nowMs = Date.now();
    const lease = this.machine.state.lease;
    const me = this.replicaValue.replicaId;
    if (lease.epoch > 0 && lease.primary === me) {
      if (nowMs - this.lastRenewSentMs >= this.leaseMs / 3) {
        this.lastRenewSentMs = nowMs;
        this.publishLease(lease.epoch, 'renewal');
      }
    } else if (this.options.claimLease ?? true) {
      // No lease yet: claim soon. Else: only once no renewal was seen for well over a lease.
      const quietMs = lease.epoch === 0 ? this.leaseMs / 2 : this.leaseMs * 1.5;
      if (
        nowMs - this.lastLeaseSeenMs >= quietMs + this.claimJitterMs &&
        nowMs - this.lastClaimSentMs >= this.leaseMs
      ) {
        this.lastClaimSentMs = nowMs;
        void this.claimIfStillQuiet(lease.epoch, this.lastLeaseSeenMs);
      }
    }
    this.noteRole();
  }

  /**
   * Claims the next epoch, but first makes sure the silence is not this
   * replica's own lag: it applies up to a fresh read index, and claims only
   * if no lease entry was applied on the way. A claim made on a stale view
   * would be refused by the log as too early, and a caller whose request
   * it passed would wait for a reply in vain (see ReplyTracker).
   */
  private async claimIfStillQuiet(epoch: number, lastSeenMs: number): Promise<void> {
    const replica = this.replicaValue;
    if (replica === undefined || this.claiming) return;
    this.claiming = true;
    try {
      this.claimAdmin ??= new AdminClient(
        this.options.brokers,
        undefined,
        this.options.credentials === undefined ? {} : { credentials: this.options.credentials },
      );
      await replica.whenApplied(await this.claimAdmin.readIndex(this.leaseMs), this.leaseMs);
    } catch (error) {
      this.logger.warn(`not claiming epoch ${epoch + 1}: ${(error as Error).message}`);
      return;
    } finally {
      this.claiming = false;
    }
    const lease = this.machine?.state.lease;
    if (this.closing || lease === undefined) return;
    if (lease.epoch !== epoch || this.lastLeaseSeenMs !== lastSeenMs) return;
    this.logger.info(
      `no renewal of lease epoch ${epoch} (${lease.primary || 'none'}) seen for ${Date.now() - lastSeenMs} ms, up to the commit point: claiming epoch ${epoch + 1}`,
    );
    this.publishLease(epoch + 1, 'claim');
  }

  private publishLease(epoch: number, what: string): void {
    const entry: LeaseEntry = {
      type: 'lease',
      epoch,
      primary: this.replica.replicaId,
      leaseMs: this.leaseMs,
    };
    this.publisher
      .publish(this.topics.control, encodePbEntry(entry))
      .catch((error: Error) =>
        this.logger.warn(`lease ${what} for epoch ${epoch} failed: ${error.message}`),
      );
  }

  /** As primary with nothing outstanding: executes the oldest pending request. */
  private pump(): void {
    if (this.closing || !this.caughtUp || this.passive || this.replicaValue === undefined) return;
    if (this.machine === undefined) return;
    if (this.outstanding !== null) return;
    const machine = this.machine;
    const lease = machine.state.lease;
    if (lease.epoch === 0 || lease.primary !== this.replicaValue.replicaId) return;
    const next = nextPending(machine.state);
    if (next === undefined) return;
    const outstanding = { id: next.id, epoch: lease.epoch };
    this.outstanding = outstanding;
    void this.executeAndPublish(machine, next, lease.epoch).catch((error: Error) => {
      this.logger.warn(`update for request ${next.id} not published: ${error.message}`);
      setTimeout(() => {
        if (this.outstanding === outstanding) {
          this.outstanding = null;
          this.pump();
        }
      }, PB_DEFAULTS.retryAfterFailureMs);
    });
  }

  private async executeAndPublish(
    machine: PrimaryBackupMachine,
    pending: PendingRequest,
    epoch: number,
  ): Promise<void> {
    const me = this.replica.replicaId;
    let entry: UpdateEntry;
    try {
      const request: unknown = JSON.parse(pending.request);
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        Promise.resolve(
          machine.service.execute(request, {
            requestId: pending.id,
            seq: pending.seq,
            leaseEpoch: epoch,
            replicaId: me,
          }),
        ),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`execute took over ${LIMITS.pbExecuteTimeoutMs} ms`)),
            LIMITS.pbExecuteTimeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      const update = JSON.stringify(result.update);
      const reply = JSON.stringify(result.reply);
      if (update === undefined || reply === undefined)
        throw new Error('execute must return { update, reply } as JSON values');
      entry = { type: 'update', id: pending.id, epoch, primary: me, update, reply };
    } catch (error) {
      entry = {
        type: 'update',
        id: pending.id,
        epoch,
        primary: me,
        error: (error as Error).message ?? String(error),
      };
    }
    // Published whatever happened meanwhile: if this replica was deposed, the log says so and every replica rejects it.
    await this.publisher.publish(this.topics.updates, encodePbEntry(entry));
  }

  private noteRole(): void {
    if (!this.caughtUp || this.replicaValue === undefined || this.machine === undefined) return;
    const role = this.isPrimary ? 'primary' : 'backup';
    if (role === this.role) return;
    this.role = role;
    const epoch = this.machine.state.lease.epoch;
    this.logger.info(`${role} of ${this.options.plugin} at lease epoch ${epoch}`);
    this.emit({ type: 'pb-role', role, epoch });
  }

  private drawJitter(): void {
    this.claimJitterMs = Math.floor(Math.random() * (this.leaseMs / 4));
  }

  private stopActing(): void {
    this.closing = true;
    void this.claimAdmin?.close();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    void this.publisher.close().catch(() => {});
  }

  private emit(event: PrimaryBackupEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch (error) {
      this.logger.warn(`onEvent handler threw: ${(error as Error).message}`);
    }
  }
}
