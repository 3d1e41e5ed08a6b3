import { randomUUID } from 'node:crypto';
import type { Credentials } from '../../../src/runtime/curve-keys.js';
import { OrdoError, TimeoutError } from '../../errors.js';
import { Publisher } from '../../publisher.js';
import { Subscriber } from '../../subscriber.js';
import { decodePbEntry, encodePbEntry, pbTopics } from './pb-entries.js';
import { ReplyTracker, type RequestEntry } from './pb-rules.js';

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

/**
 * Calls primary-backup apps: `call(app, request)` publishes the request on
 * the app's request topic and returns the reply of the update that
 * committed for it, read from the log: never earlier, and never the reply
 * of an update the replicas rejected (a deposed primary's).
 */
export class PrimaryBackupClient {
  private readonly publisher: Publisher;
  private readonly callTimeoutMs: number;

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
    const topics = pbTopics(app);
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    const id = options.requestId ?? randomUUID();
    const text = JSON.stringify(request);
    if (text === undefined) throw new OrdoError('request must be a JSON value');
    const entry: RequestEntry = { type: 'request', id, request: text };
    const startedMs = Date.now();
    const ack = await this.publisher.publish(topics.requests, encodePbEntry(entry));
    const subscriber = new Subscriber({
      brokers: this.options.brokers,
      fromSeq: ack.seq + 1,
      topics: [topics.control, topics.updates],
      ...(this.options.credentials === undefined
        ? {}
        : { runtime: { credentials: this.options.credentials } }),
    });
    const tracker = new ReplyTracker(id);
    /** Updates for this id passed over (older epoch than a lease seen since), for the timeout message. */
    const passedOver: string[] = [];
    const leftMs = Math.max(1, timeoutMs - (Date.now() - startedMs));
    const timer = setTimeout(() => void subscriber.close(), leftMs);
    try {
      for await (const message of subscriber) {
        const next = decodePbEntry(topics, message.topic, message.payload);
        if (next === null) continue;
        const decided = tracker.offer(next);
        if (decided === null) {
          if (next.type === 'update' && next.id === id && passedOver.length < 8)
            passedOver.push(`epoch ${next.epoch} at seq ${message.seq}`);
          continue;
        }
        if (decided.error !== undefined)
          throw new RequestFailedError(`${app} failed request ${id}: ${decided.error}`);
        return JSON.parse(decided.reply ?? 'null') as Reply;
      }
    } finally {
      clearTimeout(timer);
      void subscriber.close();
    }
    throw new TimeoutError(
      `no committed reply to request ${id} of ${app} within ${timeoutMs} ms (request at seq ${ack.seq}; it may still be executed; updates for it passed over: ${passedOver.join(', ') || 'none'}; highest lease epoch seen: ${tracker.highestEpoch})`,
    );
  }

  close(): Promise<void> {
    return this.publisher.close();
  }
}
