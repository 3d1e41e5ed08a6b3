/**
 * The primary-backup plugin API, beside the state machine API
 * (state-machine.ts), for services that cannot be deterministic: they call
 * other services, read the clock, draw random numbers.
 *
 * One replica of the app, the primary, executes each request: `execute`
 * may do anything and returns the state update it decided on and the reply.
 * The update (with the request id and the reply) goes through the log, and
 * every replica, primary included, applies it with `applyUpdate` in log
 * order. So only `applyUpdate` must be deterministic (it depends on the
 * state and the update alone), while `execute` need not be: the backups
 * never execute, they take the primary's decision.
 *
 * Requests, updates and replies are JSON values.
 */

/** What `execute` is told besides the request. */
export interface ExecuteContext {
  /** The request's id (unique per request; the update is applied once per id). */
  readonly requestId: string;
  /** Seq of the request in the log. */
  readonly seq: number;
  /** The lease epoch this primary holds. */
  readonly leaseEpoch: number;
  /** This replica's id. */
  readonly replicaId: string;
}

/** What `applyUpdate` is told besides the update; identical on every replica. */
export interface UpdateContext {
  readonly requestId: string;
  /** Seq of the update entry in the log. */
  readonly seq: number;
  /** Log time of the update entry (the sequencer's). */
  readonly timestampMs: number;
  /** The lease epoch the update was made under. */
  readonly leaseEpoch: number;
}

export interface Execution<Update, Reply> {
  /** The state change, applied by every replica through `applyUpdate`. */
  readonly update: Update;
  /** What the caller gets back, once the update committed. */
  readonly reply: Reply;
}

export interface PrimaryBackupService<
  Request = unknown,
  Update = unknown,
  Reply = unknown,
  Query = unknown,
  Answer = unknown,
> {
  /**
   * Runs on the primary only, once per request (a new primary runs again the
   * requests whose update had not committed, so a side effect outside the
   * state should be idempotent, keyed by `context.requestId`). It must not
   * change the state: the state changes only through `applyUpdate`. It may
   * be async and non-deterministic. If it throws, or takes longer than
   * LIMITS.pbExecuteTimeoutMs, the request counts as executed, with no
   * update, and the caller gets the error.
   */
  execute(
    request: Request,
    context: ExecuteContext,
  ): Execution<Update, Reply> | Promise<Execution<Update, Reply>>;
  /** Applies a committed update; deterministic, synchronous, must not throw for any update `execute` returns. */
  applyUpdate(update: Update, context: UpdateContext): void;
  /** Canonical bytes of the whole state (see StateMachine.snapshot). */
  snapshot(): Uint8Array;
  /** Replaces the state with one `snapshot()` produced; called on a fresh instance. */
  restore(snapshot: Uint8Array): void;
  /** Optional read-only query of the local state. */
  query?(query: Query): Answer;
}

/** What a primary-backup plugin module default-exports: a function returning a fresh service. */
export type PrimaryBackupServiceFactory = () => PrimaryBackupService;
