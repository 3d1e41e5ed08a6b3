import { LIMITS } from '../../src/limits.js';
import { AdminClient } from '../admin.js';
import { backoffMs } from '../backoff.js';
import { parseEndpoints } from '../endpoint.js';
import { ClosedError, InvalidRequestError, SeqUnavailableError, TimeoutError } from '../errors.js';
import { type Message, Subscriber } from '../subscriber.js';
import { BrokerChannel, type DivergenceReport, type DownloadHooks } from './broker-channel.js';
import { ReplicaDataDir } from './data-dir.js';
import { agreedSeqAtOrBelow, DigestHistory, digestOf, type StateDigest } from './digest.js';
import { createStateMachine } from './plugin-loader.js';
import { PluginError, SnapshotError } from './replica-errors.js';
import { defaultReplicaLogger, type ReplicaLogger } from './replica-logger.js';
import { REPLICA_DEFAULTS, type ReplicaEvent, type ReplicaOptions } from './replica-options.js';
import type { SnapshotRecord } from './snapshot-file.js';
import type { StateMachine } from './state-machine.js';

interface AppliedWaiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Starts a replica: opens its data folder, restores the newest good
 * snapshot, and applies the committed stream from the next seq on. Resolves
 * once the replica is running; `replica.done` settles when it stops.
 */
export async function startReplica(given: ReplicaOptions): Promise<Replica> {
  // Endpoints are checked and written as tcp://host:port here, before anything opens a socket.
  const options: ReplicaOptions = { ...given, brokers: parseEndpoints(given.brokers, 'a replica') };
  for (const [name, value] of [
    ['plugin', options.plugin],
    ['replicaId', options.replicaId],
  ] as const) {
    if (
      value !== undefined &&
      (value.length === 0 || Buffer.byteLength(value) > LIMITS.replicaMaxNameBytes)
    ) {
      throw new InvalidRequestError(
        `${name} must be 1 to ${LIMITS.replicaMaxNameBytes} bytes, got '${value}'`,
      );
    }
  }
  for (const name of [
    'snapshotEveryMessages',
    'snapshotIntervalMs',
    'digestIntervalSeqs',
    'reportIntervalMs',
  ] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
      throw new InvalidRequestError(`${name} must be a positive integer, got ${value}`);
    }
  }
  // The fault hook needs the replica, which needs the opened folder: bind it late.
  let onHalt = (_seq: number): void => {};
  const halt = options.faults?.haltInSnapshot;
  const dataDir = await ReplicaDataDir.open(options.dataDir, {
    idPrefix: options.plugin,
    ...(options.replicaId === undefined ? {} : { replicaId: options.replicaId }),
    readOnly: options.readOnly ?? false,
    snapshots: halt === undefined ? {} : { fault: { ...halt, onHalt: (seq) => onHalt(seq) } },
  });
  let replica: Replica | undefined;
  try {
    replica = new Replica(options, dataDir);
    const created = replica;
    onHalt = (seq) => created.onTestHalt(seq);
    replica.restoreLocal();
  } catch (error) {
    replica?.discard();
    await dataDir.close();
    throw error;
  }
  replica.begin();
  return replica;
}

/**
 * A running replica of a replicated app. It applies each committed message
 * once, in order, to its state machine; digests the state at every multiple
 * of `digestIntervalSeqs` (between two applies, so every replica digests the
 * same state) and reports it to the brokers, which compare replicas; and
 * snapshots the state every N messages or T seconds without pausing the
 * stream (the state is serialised synchronously, the file written in the
 * background). On restart it restores its newest good snapshot and replays
 * the rest of the log; when that rest is gone (retention), it starts from a
 * snapshot another replica offered through the brokers.
 */
export class Replica {
  readonly replicaId: string;
  readonly plugin: string;
  private machine: StateMachine;
  private readonly logger: ReplicaLogger;
  private readonly channel: BrokerChannel;
  private readonly digestHistory = new DigestHistory(LIMITS.replicaDigestHistory);
  private readonly settings: { readonly [K in keyof typeof REPLICA_DEFAULTS]: number };
  private readonly readOnly: boolean;
  /** The state reflects every committed message up to this seq. */
  private stateSeq = 0;
  /** Seq of the last message given to `apply` (or of the restored snapshot). */
  private appliedMessageSeq = 0;
  private lastDigestSeq = 0;
  /** Bumped on every change of state, to reuse one `snapshot()` call for a digest and a snapshot. */
  private stateVersion = 0;
  private captured: { version: number; data: Uint8Array } | null = null;
  private lastSnapshotSeq = 0;
  private lastSnapshotMs = Date.now();
  private messagesSinceSnapshot = 0;
  private saving: Promise<void> | null = null;
  private halted = false;
  private subscriber: Subscriber | null = null;
  private lastReportMs = 0;
  private lastDivergenceCheckMs = Date.now();
  private divergenceCheckDue = false;
  private checkingDivergence = false;
  private divergedValue: DivergenceReport | null = null;
  private readonly waiters: AppliedWaiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private stopped = false;
  private failure: Error | null = null;
  private wakeLateJoin: (() => void) | null = null;
  private donePromise: Promise<void> = Promise.resolve();
  private closePromise: Promise<void> | null = null;

  /** @internal Use startReplica. */
  constructor(
    private readonly options: ReplicaOptions,
    private readonly dataDir: ReplicaDataDir,
  ) {
    this.replicaId = dataDir.replicaId;
    this.plugin = options.plugin;
    this.readOnly = options.readOnly ?? false;
    this.logger = options.logger ?? defaultReplicaLogger(`replica ${this.replicaId}`);
    this.settings = {
      ...REPLICA_DEFAULTS,
      ...definedOnly({
        snapshotEveryMessages: options.snapshotEveryMessages,
        snapshotIntervalMs: options.snapshotIntervalMs,
        digestIntervalSeqs: options.digestIntervalSeqs,
        reportIntervalMs: options.reportIntervalMs,
        divergenceCheckIntervalMs: options.divergenceCheckIntervalMs,
        brokerTimeoutMs: options.brokerTimeoutMs,
      }),
    };
    this.machine = createStateMachine(options.stateMachine, this.plugin);
    this.channel = new BrokerChannel(
      options.brokers,
      this.plugin,
      this.replicaId,
      this.logger,
      undefined,
      options.credentials === undefined ? {} : { credentials: options.credentials },
    );
    this.channel.onStored = (seq, endpoint) =>
      this.emit({ type: 'snapshot-stored', seq, endpoint });
  }

  /** Asks the sequencer for read indexes; opened by the first linearizable query. */
  private admin: AdminClient | undefined;

  /** The state reflects every committed message up to this seq. */
  get appliedSeq(): number {
    return this.stateSeq;
  }

  /** Digests taken so far (the most recent LIMITS.replicaDigestHistory), oldest first. */
  get digests(): readonly StateDigest[] {
    return this.digestHistory.all();
  }

  /** Set once a broker reports that this replica's digest differs from another replica's. */
  get diverged(): DivergenceReport | null {
    return this.divergedValue;
  }

  /** Settles when the replica stops: resolves after `close()`, rejects with what stopped it otherwise. */
  get done(): Promise<void> {
    return this.donePromise;
  }

  /** The digest of the current state (not necessarily at an agreed seq). */
  currentDigest(): StateDigest {
    return { seq: this.stateSeq, digest: digestOf(this.capture()) };
  }

  /**
   * Runs the plugin's read-only query against the current state: a local
   * read, possibly stale (it reflects `appliedSeq`, see `queryLocal`). With
   * `{ consistency: 'linearizable' }` it first takes a read index from the
   * sequencer (its commit point, confirmed by a majority), waits until this
   * replica has applied it, then answers: the answer reflects every write
   * acknowledged before the call, whichever replica answers.
   */
  query<Request, Response>(request: Request): Response;
  query<Request, Response>(
    request: Request,
    options: { readonly consistency: 'linearizable'; readonly timeoutMs?: number },
  ): Promise<Response>;
  query<Request, Response>(
    request: Request,
    options?: { readonly consistency: 'linearizable'; readonly timeoutMs?: number },
  ): Response | Promise<Response> {
    if (options === undefined) return this.queryLocal<Request, Response>(request).response;
    return this.queryLinearizable(request, options.timeoutMs ?? LIMITS.readIndexWaitMs);
  }

  /** A local read and the seq its answer reflects. */
  queryLocal<Request, Response>(request: Request): { response: Response; appliedSeq: number } {
    if (this.machine.query === undefined)
      throw new PluginError(`plugin ${this.plugin} has no query method`);
    return { response: this.machine.query(request) as Response, appliedSeq: this.stateSeq };
  }

  private async queryLinearizable<Request, Response>(
    request: Request,
    timeoutMs: number,
  ): Promise<Response> {
    if (this.machine.query === undefined)
      throw new PluginError(`plugin ${this.plugin} has no query method`);
    if (this.stopped) throw this.failure ?? new ClosedError('replica is closed');
    this.admin ??= new AdminClient(
      this.options.brokers,
      undefined,
      this.options.credentials === undefined ? {} : { credentials: this.options.credentials },
    );
    const index = await this.admin.readIndex(timeoutMs);
    await this.whenApplied(index, timeoutMs);
    return this.queryLocal<Request, Response>(request).response;
  }

  /** Resolves once the state reflects `seq` (e.g. the seq a publish was acknowledged with). */
  whenApplied(seq: number, timeoutMs = 30_000): Promise<void> {
    if (this.stateSeq >= seq) return Promise.resolve();
    if (this.stopped) return Promise.reject(this.failure ?? new ClosedError('replica is closed'));
    if (this.waiters.length >= REPLICA_DEFAULTS.maxAppliedWaiters) {
      return Promise.reject(
        new InvalidRequestError(
          `more than ${REPLICA_DEFAULTS.maxAppliedWaiters} whenApplied calls waiting`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.removeWaiter(waiter);
        reject(
          new TimeoutError(
            `replica ${this.replicaId} did not reach seq ${seq} within ${timeoutMs} ms (at ${this.stateSeq})`,
          ),
        );
      }, timeoutMs);
      const waiter: AppliedWaiter = { seq, resolve, reject, timer };
      this.waiters.push(waiter);
    });
  }

  /** Stops reading, waits for a snapshot being written, takes a last one (unless disabled) and releases the folder. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  // ------------------------------------------------------------ start-up

  /** @internal Restores the newest good local snapshot, if any. */
  restoreLocal(): void {
    const store = this.dataDir.snapshots;
    for (const skipped of store.skipped) {
      this.logger.warn(`skipped damaged snapshot ${skipped.file}: ${skipped.reason}`);
      this.emit({ type: 'snapshot-skipped', file: skipped.file, reason: skipped.reason });
    }
    const latest = store.latest;
    if (latest === null) {
      this.emit({ type: 'restored', seq: 0, source: 'empty', digest: this.currentDigest().digest });
      return;
    }
    if (latest.plugin !== this.plugin) {
      throw new SnapshotError(
        `data folder ${this.dataDir.path} holds snapshots of plugin '${latest.plugin}', not '${this.plugin}'`,
      );
    }
    this.install(latest, 'local');
  }

  /** @internal Starts the apply loop and the housekeeping timer. */
  begin(): void {
    this.timer = setInterval(() => this.housekeeping(), REPLICA_DEFAULTS.housekeepingIntervalMs);
    this.donePromise = this.run();
    // `done` is for callers who want it; an unobserved failure is already logged.
    this.donePromise.catch(() => {});
  }

  /** Replaces the state with a snapshot's, on a fresh state machine. */
  private install(record: SnapshotRecord, source: 'local' | 'broker'): void {
    const machine = createStateMachine(this.options.stateMachine, this.plugin);
    try {
      machine.restore(record.data);
    } catch (error) {
      throw new PluginError(`plugin ${this.plugin}: restore threw: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.machine = machine;
    this.stateVersion++;
    this.captured = null;
    this.stateSeq = record.seq;
    this.appliedMessageSeq = record.seq;
    this.lastSnapshotSeq = record.seq;
    this.lastSnapshotMs = Date.now();
    this.messagesSinceSnapshot = 0;
    const roundTrip = digestOf(this.capture());
    if (roundTrip !== record.digest) {
      // Not fatal, but every digest this replica reports would be suspect: say so loudly.
      this.logger.error(
        `plugin ${this.plugin}: snapshot() after restore() gives other bytes than the snapshot restored (digest ${roundTrip} vs ${record.digest}); its snapshot() is not canonical and digests will report false divergence`,
      );
    }
    this.logger.info(
      `restored ${this.plugin} state at seq ${record.seq} from a ${source} snapshot`,
    );
    this.emit({ type: 'restored', seq: record.seq, source, digest: record.digest });
    this.settle(record.seq);
  }

  // ---------------------------------------------------------- apply loop

  private async run(): Promise<void> {
    // Announced before the first message: from this report on, the brokers
    // keep the log a late joiner of this plugin needs (docs/replicas.md).
    // Left to the periodic report, it could come only after a first large
    // snapshot, by when retention had dropped the prefix.
    if (!this.readOnly) {
      this.lastReportMs = Date.now();
      this.channel.report(this.stateSeq, this.digestHistory.latest);
    }
    try {
      while (!this.closing) {
        const subscriber = new Subscriber({
          brokers: this.options.brokers,
          fromSeq: this.stateSeq + 1,
          ...(this.options.topics === undefined ? {} : { topics: this.options.topics }),
          includeControl: false,
          brokerTimeoutMs: this.settings.brokerTimeoutMs,
          ...(this.options.credentials === undefined
            ? {}
            : { runtime: { credentials: this.options.credentials } }),
        });
        this.subscriber = subscriber;
        try {
          // A batch per delivery: one await per batch, not per message.
          batches: for await (const batch of subscriber.batches()) {
            for (let i = 0; i < batch.length; i++) {
              if (this.closing) break batches;
              // What the subscriber had consumed once message i was handed
              // over one at a time: up to the next message, or all of it.
              const next = batch[i + 1];
              this.onMessage(batch[i]!, next === undefined ? subscriber.consumedSeq : next.seq - 1);
            }
          }
        } catch (error) {
          if (!(error instanceof SeqUnavailableError) || this.closing) throw error;
          this.subscriber = null;
          subscriber.close();
          await this.joinLate(error.firstAvailableSeq);
        } finally {
          this.subscriber = null;
          subscriber.close();
        }
      }
    } catch (error) {
      this.failure ??= error as Error;
    }
    if (this.failure !== null) {
      this.logger.error(
        `replica ${this.replicaId} of ${this.plugin} stopped: ${this.failure.message}`,
      );
    }
    await this.stop();
    if (this.failure !== null) throw this.failure;
  }

  /** Applies `message`; `consumedSeq`: every seq up to it was applied or carried nothing for this replica. */
  private onMessage(message: Message, consumedSeq: number): void {
    // The subscriber never repeats a seq; this guards the exactly-once promise all the same.
    if (message.seq <= this.stateSeq) return;
    this.settle(message.seq - 1);
    try {
      this.machine.apply(message, {
        seq: message.seq,
        epoch: message.epoch,
        timestampMs: message.timestampMs,
      });
    } catch (error) {
      throw new PluginError(
        `plugin ${this.plugin}: apply threw at seq ${message.seq}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    this.stateVersion++;
    this.appliedMessageSeq = message.seq;
    this.messagesSinceSnapshot++;
    this.settle(Math.max(message.seq, consumedSeq));
    this.maybeSnapshot();
  }

  /**
   * The state now reflects every seq up to `throughSeq`. If that passes an
   * agreed digest seq that no message after it has changed, digest the
   * state there: the same state every replica has at that seq.
   */
  private settle(throughSeq: number): void {
    if (throughSeq > this.stateSeq) this.stateSeq = throughSeq;
    const digestSeq = agreedSeqAtOrBelow(this.stateSeq, this.settings.digestIntervalSeqs);
    if (digestSeq > 0 && digestSeq > this.lastDigestSeq && digestSeq >= this.appliedMessageSeq) {
      this.lastDigestSeq = digestSeq;
      const digest: StateDigest = { seq: digestSeq, digest: digestOf(this.capture()) };
      this.digestHistory.record(digest);
      if (!this.readOnly) this.channel.report(this.stateSeq, digest);
      this.divergenceCheckDue = true;
      this.emit({ type: 'digest', ...digest });
    }
    this.wakeWaiters();
  }

  /** The plugin's snapshot bytes of the current state, computed once per state. */
  private capture(): Uint8Array {
    if (this.captured !== null && this.captured.version === this.stateVersion)
      return this.captured.data;
    let data: unknown;
    try {
      data = this.machine.snapshot();
    } catch (error) {
      throw new PluginError(`plugin ${this.plugin}: snapshot threw: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!(data instanceof Uint8Array))
      throw new PluginError(`plugin ${this.plugin}: snapshot() must return a Uint8Array`);
    this.captured = { version: this.stateVersion, data };
    return data;
  }

  /** The log prefix this replica needs is gone: start from a snapshot another replica offered. */
  private async joinLate(firstAvailableSeq: number): Promise<void> {
    this.logger.warn(
      `seq ${this.stateSeq + 1} is no longer in the log (the oldest is ${firstAvailableSeq}): starting from a shared snapshot`,
    );
    if (this.readOnly)
      throw new SnapshotError(
        `a read-only replica cannot download a shared snapshot (seq ${this.stateSeq + 1} is no longer in the log): run the replica on this folder first`,
      );
    if (this.saving !== null) await this.saving;
    let chunksThisRun = 0;
    let downloadingSeq = 0;
    const halt = this.options.faults?.haltInDownload;
    const hooks: DownloadHooks = {
      onStart: (info) => {
        this.logger.info(
          `downloading the snapshot at seq ${info.seq} from ${info.endpoint}: ${info.chunks} chunks, from chunk ${info.fromIndex}`,
        );
        downloadingSeq = info.seq;
        this.emit({ type: 'snapshot-download', ...info });
      },
      onRefusedChunk: (index, problem) =>
        this.emit({ type: 'snapshot-chunk-refused', index, problem }),
      onChunk: async (written) => {
        chunksThisRun++;
        if (halt !== undefined && chunksThisRun === halt.afterChunks) {
          this.logger.warn(`test fault: download halted after ${written} chunks`);
          this.onTestHalt(downloadingSeq);
          await new Promise<never>(() => {});
        }
      },
    };
    for (let attempt = 0; !this.closing; attempt++) {
      const result = await this.channel.fetchSnapshot(
        this.dataDir.snapshots,
        Math.max(firstAvailableSeq - 1, this.stateSeq + 1),
        hooks,
      );
      if ('path' in result) {
        // Saved in the data folder already: a restart from here on needs no broker's copy.
        const record = result.record;
        this.emit({
          type: 'snapshot',
          seq: record.seq,
          digest: record.digest,
          path: result.path,
          bytes: record.data.length,
        });
        this.install(record, 'broker');
        return;
      }
      const pauseMs = backoffMs(attempt, 200, REPLICA_DEFAULTS.lateJoinRetryMaxMs);
      this.logger.warn(
        `no snapshot of ${this.plugin} at or after seq ${firstAvailableSeq - 1} on any broker yet (best: ${result.bestSeq ?? 'none'}); retrying in ${pauseMs} ms`,
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pauseMs);
        this.wakeLateJoin = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeLateJoin = null;
    }
  }

  // ----------------------------------------------------------- snapshots

  private maybeSnapshot(): void {
    // No subscriber: not started yet, or joining late, which saves the snapshot it starts from itself.
    if (this.subscriber === null || this.readOnly || this.saving !== null) return;
    if (this.stateSeq <= this.lastSnapshotSeq) return;
    const due =
      this.messagesSinceSnapshot >= this.settings.snapshotEveryMessages ||
      Date.now() - this.lastSnapshotMs >= this.settings.snapshotIntervalMs;
    if (!due) return;
    const data = this.capture();
    const record: SnapshotRecord = {
      plugin: this.plugin,
      seq: this.stateSeq,
      digest: digestOf(data),
      data,
    };
    this.lastSnapshotSeq = record.seq;
    this.lastSnapshotMs = Date.now();
    this.messagesSinceSnapshot = 0;
    void this.trackSave(record, this.options.shareSnapshots ?? true);
  }

  /** Writes a snapshot in the background; at most one is in flight. */
  private trackSave(record: SnapshotRecord, share: boolean): Promise<void> {
    const saving = this.dataDir.snapshots.save(record).then(
      (path) => {
        this.logger.info(
          `snapshot of ${this.plugin} at seq ${record.seq} saved (${record.data.length} bytes)`,
        );
        this.emit({
          type: 'snapshot',
          seq: record.seq,
          digest: record.digest,
          path,
          bytes: record.data.length,
        });
        if (share) this.channel.offerSnapshot(record, path);
      },
      (error: Error) => {
        // The previous snapshot stays the one of record; the next trigger tries again.
        this.logger.error(`snapshot at seq ${record.seq} failed: ${error.message}`);
        this.emit({ type: 'snapshot-failed', seq: record.seq, error: error.message });
      },
    );
    const tracked: Promise<void> = saving.finally(() => {
      if (this.saving === tracked) this.saving = null;
    });
    this.saving = tracked;
    return tracked;
  }

  // --------------------------------------------------------- housekeeping

  private housekeeping(): void {
    if (this.stopped || this.closing) return;
    try {
      // Between two macrotasks every message handed out has been applied.
      if (this.subscriber !== null) this.settle(this.subscriber.consumedSeq);
      this.maybeSnapshot();
    } catch (error) {
      // A plugin failure in snapshot(): stop as the apply loop would.
      this.failure = error as Error;
      this.closing = true;
      this.subscriber?.close();
      this.wakeLateJoin?.();
      return;
    }
    if (this.readOnly) return;
    const nowMs = Date.now();
    if (nowMs - this.lastReportMs >= this.settings.reportIntervalMs) {
      this.lastReportMs = nowMs;
      this.channel.report(this.stateSeq, this.digestHistory.latest);
    }
    const sinceCheckMs = nowMs - this.lastDivergenceCheckMs;
    const checkDue =
      sinceCheckMs >= this.settings.divergenceCheckIntervalMs ||
      (this.divergenceCheckDue && sinceCheckMs >= this.settings.reportIntervalMs);
    if (checkDue && !this.checkingDivergence) {
      // Runs from a timer: a failure is logged here, as nothing else could catch it.
      this.checkDivergence(nowMs).catch((error: Error) =>
        this.logger.warn(`divergence check failed: ${error.message}`),
      );
    }
  }

  private async checkDivergence(nowMs: number): Promise<void> {
    this.checkingDivergence = true;
    this.lastDivergenceCheckMs = nowMs;
    this.divergenceCheckDue = false;
    try {
      const report = await this.channel.divergence();
      if (report === null || this.stopped) return;
      const known = this.divergedValue;
      if (known !== null && known.atSeq <= report.atSeq) return;
      this.divergedValue = report;
      this.logger.error(
        `replica ${this.replicaId} of ${this.plugin} DIVERGED: its state digest differs from another replica's at seq ${report.atSeq} (reported by ${report.endpoint}; digest here: ${this.digestHistory.at(report.atSeq) ?? 'no longer remembered'}). The plugin is not deterministic: see the rules in state-machine.ts.`,
      );
      this.emit({ type: 'diverged', atSeq: report.atSeq, endpoint: report.endpoint });
    } finally {
      this.checkingDivergence = false;
    }
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    for (const waiter of [...this.waiters]) {
      if (waiter.seq > this.stateSeq) continue;
      this.removeWaiter(waiter);
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
  }

  private removeWaiter(waiter: AppliedWaiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
  }

  // ------------------------------------------------------------- stopping

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.subscriber?.close();
    this.wakeLateJoin?.();
    await this.donePromise.catch(() => {});
  }

  /** Ends everything once the apply loop is over: last snapshot, timers, sockets, the folder lock. */
  private async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.saving !== null && !this.halted) await this.saving;
    const wantFinal = this.options.snapshotOnClose ?? true;
    let digest = '';
    try {
      digest = this.currentDigest().digest;
      if (
        wantFinal &&
        this.failure === null &&
        !this.readOnly &&
        !this.halted &&
        this.stateSeq > this.lastSnapshotSeq
      ) {
        const data = this.capture();
        this.lastSnapshotSeq = this.stateSeq;
        await this.trackSave(
          { plugin: this.plugin, seq: this.stateSeq, digest: digestOf(data), data },
          false,
        );
      }
    } catch (error) {
      this.logger.error(`last snapshot failed: ${(error as Error).message}`);
    }
    if (!this.readOnly) this.channel.report(this.stateSeq, this.digestHistory.latest);
    this.channel.close();
    void this.admin?.close();
    await this.dataDir.close();
    const reason = this.failure ?? new ClosedError('replica is closed');
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(reason);
    }
    this.emit({
      type: 'stopped',
      seq: this.stateSeq,
      digest,
      error: this.failure?.message ?? null,
    });
  }

  /** @internal Releases the sockets of a replica that failed to start. */
  discard(): void {
    this.channel.close();
    void this.admin?.close();
  }

  /** @internal The test fault stopped a snapshot save half-way, for good. */
  onTestHalt(seq: number): void {
    this.halted = true;
    this.emit({ type: 'test-halted', seq });
  }

  private emit(event: ReplicaEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch (error) {
      this.logger.warn(`onEvent handler threw: ${(error as Error).message}`);
    }
  }
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(values).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
