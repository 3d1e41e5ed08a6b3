import { randomUUID } from 'node:crypto';
import { LIMITS } from '../../../src/limits.js';
import type { Credentials } from '../../../src/runtime/curve-keys.js';
import { ClosedError, OrdoError, TimeoutError } from '../../errors.js';
import { Publisher } from '../../publisher.js';
import { Subscriber } from '../../subscriber.js';
import { decodePbEntry, encodePbEntry, type PbTopics, pbTopics } from './pb-entries.js';
import { type PbEntry, ReplyTracker, type RequestEntry, type UpdateEntry } from './pb-rules.js';

export interface PrimaryBackupClientOptions {
  /** Client endpoints of the cluster's brokers. */
  readonly brokers: readonly string[];
  readonly credentials?: Credentials;
  /** How long `call` waits for a committed reply by default (default 30 s). */
  readonly callTimeoutMs?: number;
}

/** The primary executed the request and its `execute` threw: the request counts as executed, with no change. */
export class RequestFailedError extends OrdoError {
  override readonly name = 'RequestFailedError';
}

/** One call waiting on an app's watch. */
class PendingCall {
  /** Seq of the request, once its publish is acknowledged. */
  requestSeq: number | null = null;
  /** Entries seen before the request seq was known; at most LIMITS.pbCallBufferEntries. */
  buffered: { seq: number; entry: PbEntry }[] | null = [];
  readonly tracker: ReplyTracker;
  readonly passedOver: string[] = [];
  decided: UpdateEntry | null = null;
  /** Set when the watch can no longer serve this call (it stopped, or the buffer overflowed). */
  abandoned = false;
  private wake: () => void = () => {};
  readonly settled: Promise<void>;

  constructor(readonly id: string) {
    this.tracker = new ReplyTracker(id);
    this.settled = new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  /** Feeds one entry from the app's stream, in log order. */
  offer(seq: number, entry: PbEntry): void {
    if (this.decided !== null || this.abandoned) return;
    if (this.requestSeq === null) {
      if (this.buffered!.length >= LIMITS.pbCallBufferEntries) {
        this.abandon();
        return;
      }
      this.buffered!.push({ seq, entry });
      return;
    }
    if (seq <= this.requestSeq) return;
    const decided = this.tracker.offer(entry);
    if (decided !== null) {
      this.decided = decided;
      this.wake();
    } else if (entry.type === 'update' && entry.id === this.id && this.passedOver.length < 8) {
      this.passedOver.push(`epoch ${entry.epoch} at seq ${seq}`);
    }
  }

  /** The request's seq is known: replay what was buffered after it. */
  acknowledged(seq: number): void {
    this.requestSeq = seq;
    const buffered = this.buffered ?? [];
    this.buffered = null;
    for (const b of buffered) this.offer(b.seq, b.entry);
  }

  abandon(): void {
    this.abandoned = true;
    this.buffered = null;
    this.wake();
  }
}

/**
 * One subscription per app, shared by the calls to it: it reads the app's
 * lease and update entries from the first call's request on and hands each
 * to the calls registered before it. A call made while no watch runs reads
 * on its own subscription (and starts the watch for the next ones).
 */
class AppWatch {
  private readonly calls = new Map<string, PendingCall>();
  private readonly subscriber: Subscriber;
  stopped = false;

  constructor(
    readonly topics: PbTopics,
    fromSeq: number,
    options: PrimaryBackupClientOptions,
    private readonly onStop: () => void,
  ) {
    this.subscriber = new Subscriber({
      brokers: options.brokers,
      fromSeq,
      topics: [topics.control, topics.updates],
      ...(options.credentials === undefined
        ? {}
        : { runtime: { credentials: options.credentials } }),
    });
    void this.run();
  }

  /** Registers a call before its request is published, so every entry after the request reaches it. */
  register(call: PendingCall): boolean {
    if (this.stopped || this.calls.size >= LIMITS.pbMaxCallsPerWatch) return false;
    if (this.calls.has(call.id)) return false;
    this.calls.set(call.id, call);
    return true;
  }

  unregister(call: PendingCall): void {
    this.calls.delete(call.id);
  }

  close(): void {
    this.stop();
  }

  private async run(): Promise<void> {
    try {
      for await (const message of this.subscriber) {
        if (this.calls.size === 0) continue;
        const entry = decodePbEntry(this.topics, message.topic, message.payload);
        if (entry === null) continue;
        for (const call of this.calls.values()) call.offer(message.seq, entry);
      }
    } catch {
      // The calls fall back to their own subscriptions.
    }
    this.stop();
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    void this.subscriber.close();
    for (const call of this.calls.values()) call.abandon();
    this.calls.clear();
    this.onStop();
  }
}

/**
 * Calls primary-backup apps: `call(app, request)` publishes the request on
 * the app's request topic and returns the reply of the update that
 * committed for it, read from the log: never earlier, and never the reply
 * of an update the replicas rejected (a deposed primary's).
 */
export class PrimaryBackupClient {
  private readonly publisher: Publisher;
  private readonly callTimeoutMs: number;
  private readonly watches = new Map<string, AppWatch>();
  private closed = false;

  constructor(private readonly options: PrimaryBackupClientOptions) {
    this.publisher = new Publisher({
      brokers: options.brokers,
      ackMode: 'quorum',
      ...(options.credentials === undefined
        ? {}
        : { runtime: { credentials: options.credentials } }),
    });
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
  }

  /**
   * Sends `request` (a JSON value) to `app` and resolves with the reply once
   * the update it caused committed. Rejects with RequestFailedError if the
   * app's execute threw, TimeoutError if no committed reply came in time
   * (the request may still be executed later).
   */
  async call<Reply = unknown>(
    app: string,
    request: unknown,
    options: { readonly timeoutMs?: number; readonly requestId?: string } = {},
  ): Promise<Reply> {
    if (this.closed) throw new ClosedError('client is closed');
    const topics = pbTopics(app);
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    const id = options.requestId ?? randomUUID();
    const text = JSON.stringify(request);
    if (text === undefined) throw new OrdoError('request must be a JSON value');
    const entry: RequestEntry = { type: 'request', id, request: text };
    const deadlineMs = Date.now() + timeoutMs;
    const call = new PendingCall(id);
    const watch = this.watches.get(app);
    const watched = watch?.register(call) ?? false;
    try {
      const ack = await this.publisher.publish(topics.requests, encodePbEntry(entry));
      if (!this.watches.has(app) && !this.closed) {
        this.watches.set(
          app,
          new AppWatch(topics, ack.seq + 1, this.options, () => this.watches.delete(app)),
        );
      }
      let decided: UpdateEntry | null = null;
      if (watched) {
        call.acknowledged(ack.seq);
        decided = await waitUntil(call, deadlineMs);
      }
      if (decided === null && (!watched || call.abandoned)) {
        if (this.closed) throw new ClosedError('client closed while the call waited for its reply');
        decided = await this.readAlone(topics, ack.seq, call, deadlineMs);
      }
      if (decided === null) {
        throw new TimeoutError(
          `no committed reply to request ${id} of ${app} within ${timeoutMs} ms (request at seq ${ack.seq}; it may still be executed; updates for it passed over: ${call.passedOver.join(', ') || 'none'}; highest lease epoch seen: ${call.tracker.highestEpoch})`,
        );
      }
      if (decided.error !== undefined)
        throw new RequestFailedError(`${app} failed request ${id}: ${decided.error}`);
      return JSON.parse(decided.reply ?? 'null') as Reply;
    } finally {
      watch?.unregister(call);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const watch of this.watches.values()) watch.close();
    this.watches.clear();
    await this.publisher.close();
  }

  /** Reads the app's entries after the request on a subscription of this call's own. */
  private async readAlone(
    topics: PbTopics,
    requestSeq: number,
    call: PendingCall,
    deadlineMs: number,
  ): Promise<UpdateEntry | null> {
    const subscriber = new Subscriber({
      brokers: this.options.brokers,
      fromSeq: requestSeq + 1,
      topics: [topics.control, topics.updates],
      ...(this.options.credentials === undefined
        ? {}
        : { runtime: { credentials: this.options.credentials } }),
    });
    const tracker = new ReplyTracker(call.id);
    const timer = setTimeout(() => void subscriber.close(), Math.max(1, deadlineMs - Date.now()));
    try {
      for await (const message of subscriber) {
        const next = decodePbEntry(topics, message.topic, message.payload);
        if (next === null) continue;
        const decided = tracker.offer(next);
        if (decided !== null) return decided;
        if (next.type === 'update' && next.id === call.id && call.passedOver.length < 8)
          call.passedOver.push(`epoch ${next.epoch} at seq ${message.seq}`);
      }
      return null;
    } finally {
      clearTimeout(timer);
      void subscriber.close();
    }
  }
}

/** Waits until the call is decided or abandoned, or the deadline passes. */
async function waitUntil(call: PendingCall, deadlineMs: number): Promise<UpdateEntry | null> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    call.settled,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(1, deadlineMs - Date.now()));
    }),
  ]);
  clearTimeout(timer);
  return call.decided;
}
