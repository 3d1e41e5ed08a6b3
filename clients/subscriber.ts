import { EntryKind } from '../src/core/types.js';
import { LIMITS } from '../src/limits.js';
import type { Clock, Random, TimerHandle } from '../src/runtime/clock.js';
import type { ClientResponse } from '../src/wire/client-codec.js';
import type { ordo } from '../src/wire/schema.js';
import { BrokerConnection } from './broker-connection.js';
import {
  type ClientRuntime,
  type ResolvedClientRuntime,
  randomIntBetween,
  resolveClientRuntime,
} from './client-runtime.js';
import { parseEndpoints } from './endpoint.js';
import {
  BrokerError,
  type BrokerErrorCode,
  brokerErrorCode,
  ForbiddenError,
  InvalidRequestError,
  LimitError,
  OrdoError,
  SeqUnavailableError,
} from './errors.js';
import { wholeNumberOption } from './option-checks.js';

export interface SubscriberOptions {
  /**
   * Client endpoints of brokers to read from, `host:port` or `tcp://host:port`;
   * the subscriber moves to the next one if its broker goes silent.
   */
  readonly brokers: readonly string[];
  /** First seq to read (default: whatever commits after subscribing). */
  readonly fromSeq?: number;
  /** Only these topics (filtered on the broker); all topics when absent or empty. */
  readonly topics?: readonly string[];
  /** Also yield control entries: a new sequencer's epoch start (kind 'epoch-start') and membership changes (kind 'membership'). */
  readonly includeControl?: boolean;
  /** Entries the broker may send ahead of what this subscriber has consumed. */
  readonly windowEntries?: number;
  /** A broker silent for this long (it heartbeats every 200 ms) is given up for the next one. */
  readonly brokerTimeoutMs?: number;
  /** A gap is NACKed again if not repaired within this long. */
  readonly nackRetryMs?: number;
  /** The network, clock and randomness to run over; production defaults when absent (see ClientRuntime). */
  readonly runtime?: ClientRuntime;
}

export interface Message {
  /** Position in the cluster's total order. */
  readonly seq: number;
  /** Epoch of the sequencer that ordered it. */
  readonly epoch: number;
  readonly kind: 'data' | 'epoch-start' | 'membership';
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly producerId: string;
  readonly producerSeq: number;
  /** Log time given by the sequencer (never decreasing along the log): use it instead of the wall clock. */
  readonly timestampMs: number;
}

/**
 * Reads the committed stream of an Ordo cluster, in order, with no gap and
 * no repeat: `for await (const m of subscriber)`. Deliveries name the seq
 * range they cover, so a lost one is noticed (also when a topic filter hides
 * most seqs) and NACKed; if the broker goes silent the subscriber resumes on
 * another broker from the next seq it needs.
 */
export class Subscriber implements AsyncIterable<Message> {
  private readonly endpoints: string[];
  private readonly topics: string[];
  private readonly includeControl: boolean;
  private readonly windowEntries: number;
  private readonly brokerTimeoutMs: number;
  private readonly nackRetryMs: number;
  private readonly runtime: ResolvedClientRuntime;
  private readonly clock: Clock;
  private readonly random: Random;
  private connection: BrokerConnection | null = null;
  private target = 0;
  private subscriptionId = 0;
  /** Next seq this subscriber needs from the broker (0: not known yet). */
  private expectedSeq: number;
  private readonly buffer: Message[] = [];
  private bufferHead = 0;
  private lastYieldedSeq = 0;
  private lastHeardMs: number;
  private lastNackMs = 0;
  private lastAckedSeq = 0;
  private lastAckSentMs = 0;
  /** Brokers that refused the subscription with LIMIT in a row (reset by any delivery). */
  private limitRefusalsInRow = 0;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly timer: TimerHandle;
  private closed = false;
  /** Settles when close() has closed the socket. */
  private closing: Promise<void> | null = null;
  /** Counters for tests and status: gaps seen, NACKs sent, brokers switched. */
  readonly stats = { gapsDetected: 0, nacksSent: 0, failovers: 0, duplicatesDropped: 0 };

  constructor(options: SubscriberOptions) {
    // Every option is checked here: a mistake found later, inside a timer,
    // would have no caller to report to.
    if (options === null || typeof options !== 'object')
      throw new InvalidRequestError('a subscriber needs options: { brokers: [...] }');
    this.endpoints = parseEndpoints(options.brokers, 'a subscriber');
    this.topics = checkTopics(options.topics);
    this.runtime = resolveClientRuntime(options.runtime);
    this.clock = this.runtime.clock;
    this.random = this.runtime.random;
    this.lastHeardMs = this.clock.nowMs();
    this.includeControl = options.includeControl ?? false;
    this.windowEntries = wholeNumberOption(
      options.windowEntries,
      'windowEntries',
      LIMITS.subscriberWindowEntries,
      1,
      LIMITS.subscriberBufferMessages,
    );
    this.brokerTimeoutMs = wholeNumberOption(
      options.brokerTimeoutMs,
      'brokerTimeoutMs',
      LIMITS.subscriberBrokerTimeoutMs,
    );
    this.nackRetryMs = wholeNumberOption(
      options.nackRetryMs,
      'nackRetryMs',
      LIMITS.subscriberNackRetryMs,
    );
    this.expectedSeq = wholeNumberOption(options.fromSeq, 'fromSeq', 0, 0);
    this.timer = this.clock.setInterval(() => this.onTimer(), LIMITS.subscriberTickIntervalMs);
    this.connect();
  }

  /** Seq of the last message handed to the reader. */
  get position(): number {
    return this.lastYieldedSeq;
  }

  /**
   * @internal
   * Every seq up to this one was handed to the reader or left out by the
   * subscription (another topic, a control entry): once the reader has
   * processed what it was given, it holds the stream's effect through this
   * seq, even when the last seqs carried nothing for it.
   */
  get consumedSeq(): number {
    if (this.bufferHead < this.buffer.length) return this.buffer[this.bufferHead]!.seq - 1;
    return Math.max(0, this.expectedSeq - 1);
  }

  /**
   * The `fromSeq` a new Subscriber with the same topics would use to carry on
   * exactly after what this one handed to its reader: nothing repeated,
   * nothing skipped. 0 while not known (no fromSeq was given and nothing
   * has arrived yet).
   */
  get resumeSeq(): number {
    if (this.bufferHead < this.buffer.length) return this.buffer[this.bufferHead]!.seq;
    return this.expectedSeq;
  }

  get brokerEndpoint(): string {
    return this.endpoints[this.target % this.endpoints.length]!;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    while (true) {
      if (this.bufferHead < this.buffer.length) {
        const message = this.buffer[this.bufferHead]!;
        this.buffer[this.bufferHead] = undefined as unknown as Message;
        this.bufferHead++;
        if (this.bufferHead === this.buffer.length) {
          this.buffer.length = 0;
          this.bufferHead = 0;
        }
        this.lastYieldedSeq = message.seq;
        this.maybeAck(false);
        yield message;
        continue;
      }
      if (!(await this.waitForMessages())) return;
    }
  }

  /**
   * The same stream as `for await (const m of subscriber)`, a batch at a
   * time: each batch is every message buffered when it is taken (at most
   * `LIMITS.subscriberBatchMessages`). A reader that keeps up pays one await
   * per delivery instead of one per message. While a batch is being
   * processed, `consumedSeq` already counts all of it, so a reader that
   * needs the seq consumed after message i of a batch takes the next
   * message's seq minus one (and `consumedSeq` after the last).
   */
  async *batches(): AsyncGenerator<readonly Message[]> {
    while (true) {
      if (this.bufferHead < this.buffer.length) {
        const end = Math.min(this.buffer.length, this.bufferHead + LIMITS.subscriberBatchMessages);
        const batch = this.buffer.slice(this.bufferHead, end);
        if (end === this.buffer.length) {
          this.buffer.length = 0;
          this.bufferHead = 0;
        } else {
          this.buffer.fill(undefined as unknown as Message, this.bufferHead, end);
          this.bufferHead = end;
        }
        this.lastYieldedSeq = batch[batch.length - 1]!.seq;
        this.maybeAck(false);
        yield batch;
        continue;
      }
      if (!(await this.waitForMessages())) return;
    }
  }

  /**
   * With nothing buffered: throws what failed the subscriber, resolves
   * false once it is closed, or true when a delivery or a change woke it.
   */
  private async waitForMessages(): Promise<boolean> {
    if (this.failure !== null) throw this.failure;
    if (this.closed) return false;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    return true;
  }

  /**
   * Stops reading: the iterator ends after the messages already buffered.
   * The promise resolves once the socket is closed (it never rejects).
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.timer.cancel();
    this.signal();
    const connection = this.connection;
    if (connection === null) {
      this.closing = Promise.resolve();
      return this.closing;
    }
    this.closing = new Promise<void>((resolve) => {
      try {
        connection.send({ unsubscribe: { subscriptionId: this.subscriptionId } });
      } catch {
        // The socket is already unusable: there is nothing to unsubscribe from.
      }
      // Give the unsubscribe a moment to leave before the socket closes. The
      // timer keeps the process alive for that long: a caller awaiting
      // close() as its last step must see the promise settle.
      this.clock.setTimeout(() => {
        try {
          connection.close();
        } catch {
          // Closing a broken socket changes nothing and has no one to tell.
        }
        resolve();
      }, LIMITS.subscriberUnsubscribeGraceMs);
    });
    return this.closing;
  }

  // ---------------------------------------------------------- internals

  /**
   * Runs from the constructor, a timer or setImmediate: nothing may escape
   * it, so a failure to open the socket ends the iterator with the error.
   */
  private connect(): void {
    try {
      this.openSubscription();
    } catch (error) {
      this.fail(
        error instanceof OrdoError
          ? error
          : new OrdoError(
              `cannot subscribe at ${this.brokerEndpoint}: ${(error as Error).message}`,
              {
                cause: error,
              },
            ),
      );
    }
  }

  private openSubscription(): void {
    this.connection?.close();
    const endpoint = this.brokerEndpoint;
    this.subscriptionId = randomIntBetween(this.random, 1, 2 ** 31);
    const subscriptionId = this.subscriptionId;
    this.connection = new BrokerConnection(endpoint, {
      onUnsolicited: (response) => this.onUnsolicited(response, subscriptionId),
      onDisconnect: () => this.onDisconnect(subscriptionId),
      runtime: this.runtime,
    });
    this.lastHeardMs = this.clock.nowMs();
    this.connection
      .request(
        {
          subscribe: {
            subscriptionId,
            fromSeq: this.expectedSeq,
            topics: this.topics,
            windowEntries: this.windowEntries,
            includeControl: this.includeControl,
          },
        },
        this.brokerTimeoutMs,
      )
      .catch((error: Error) => {
        if (this.closed || subscriptionId !== this.subscriptionId) return;
        if (error instanceof BrokerError)
          this.onBrokerError(error.code, error.message, error.firstAvailableSeq);
        // Otherwise the timer notices the silence and moves to the next broker.
      });
  }

  private onUnsolicited(response: ClientResponse, subscriptionId: number): void {
    if (this.closed || subscriptionId !== this.subscriptionId) return;
    if (response.body === 'error') {
      const e = response.error!;
      this.onBrokerError(
        brokerErrorCode(e.code ?? 0),
        `${this.brokerEndpoint}: ${e.message ?? 'error'}`,
        e.firstAvailableSeq ?? 0,
      );
      return;
    }
    if (response.body !== 'delivery') return;
    const delivery = response.delivery!;
    if (delivery.subscriptionId !== subscriptionId) return;
    this.lastHeardMs = this.clock.nowMs();
    this.limitRefusalsInRow = 0;
    this.onDelivery(
      delivery.fromSeq ?? 0,
      delivery.toSeq ?? 0,
      (delivery.entries ?? []) as ordo.Entry[],
    );
  }

  private onDelivery(fromSeq: number, toSeq: number, entries: ordo.Entry[]): void {
    if (this.expectedSeq === 0) this.expectedSeq = fromSeq;
    if (fromSeq > this.expectedSeq) {
      // Something between expectedSeq and fromSeq was lost: ask for it again.
      this.stats.gapsDetected++;
      this.nack(true);
      return;
    }
    if (toSeq < this.expectedSeq) {
      if (entries.length > 0) this.stats.duplicatesDropped++;
      return;
    }
    for (const entry of entries) {
      if (entry.seq < this.expectedSeq) {
        this.stats.duplicatesDropped++;
        continue;
      }
      this.buffer.push({
        seq: entry.seq,
        epoch: entry.epoch,
        kind:
          entry.kind === EntryKind.epochStart
            ? 'epoch-start'
            : entry.kind === EntryKind.config
              ? 'membership'
              : 'data',
        topic: entry.topic,
        payload: entry.payload,
        producerId: entry.producerId,
        producerSeq: entry.producerSeq,
        timestampMs: entry.timestampMs,
      });
    }
    this.expectedSeq = toSeq + 1;
    this.signal();
  }

  private nack(force: boolean): void {
    const nowMs = this.clock.nowMs();
    if (!force && nowMs - this.lastNackMs < this.nackRetryMs) return;
    if (force && nowMs - this.lastNackMs < this.nackRetryMs / 2) return;
    this.lastNackMs = nowMs;
    this.stats.nacksSent++;
    this.connection?.send({
      subscriberNack: { subscriptionId: this.subscriptionId, fromSeq: this.expectedSeq },
    });
  }

  /** Credit: tell the broker how far the reader has consumed (everything before the first buffered message). */
  private maybeAck(force: boolean): void {
    if (this.connection === null || this.expectedSeq === 0) return;
    const consumedSeq = this.consumedSeq;
    if (!force && consumedSeq - this.lastAckedSeq < this.windowEntries / 4) return;
    const nowMs = this.clock.nowMs();
    if (
      force &&
      consumedSeq === this.lastAckedSeq &&
      nowMs - this.lastAckSentMs < LIMITS.subscriberCreditRepeatMs
    )
      return;
    this.lastAckedSeq = consumedSeq;
    this.lastAckSentMs = nowMs;
    this.connection.send({
      subscriberAck: { subscriptionId: this.subscriptionId, ackedSeq: consumedSeq },
    });
  }

  /** The broker went away: resume on the next one at once rather than after brokerTimeoutMs. */
  private onDisconnect(subscriptionId: number): void {
    if (this.closed || this.failure !== null || subscriptionId !== this.subscriptionId) return;
    this.stats.failovers++;
    this.target++;
    // Let the current event finish before the socket it came from is closed.
    this.clock.defer(() => {
      if (!this.closed && subscriptionId === this.subscriptionId) this.connect();
    });
  }

  private onTimer(): void {
    if (this.closed || this.failure !== null) return;
    if (this.clock.nowMs() - this.lastHeardMs > this.brokerTimeoutMs) {
      // The broker went silent: resume on the next one from the seq we need.
      this.stats.failovers++;
      this.target++;
      this.connect();
      return;
    }
    this.maybeAck(true);
  }

  /**
   * A broker refused the subscription. A seq older than the log's start, or
   * a request the broker calls malformed or too large, fails the same way
   * on every broker: the iterator ends with the error instead of retrying
   * without end. A broker that has spent a budget (LIMIT) is left for the
   * next one at once, and so is a witness (NOT_LEADER: it serves no
   * subscribers); when every broker refused in a row, the iterator ends
   * with LimitError, which names the budget. Anything else is left to the
   * timer, which moves to the next broker.
   */
  private onBrokerError(code: BrokerErrorCode, message: string, firstAvailableSeq: number): void {
    if (code === 'seq-unavailable') {
      this.fail(new SeqUnavailableError(message, firstAvailableSeq));
    } else if (code === 'malformed' || code === 'too-large') {
      this.fail(new InvalidRequestError(`subscription refused: ${message}`));
    } else if (code === 'forbidden') {
      this.fail(new ForbiddenError(`subscription refused: ${message}`));
    } else if (code === 'limit' || code === 'not-leader') {
      // 'not-leader' on a subscription: the broker is a witness, which
      // serves no subscribers; the next broker is tried at once.
      this.limitRefusalsInRow++;
      if (this.limitRefusalsInRow >= this.endpoints.length) {
        this.fail(
          code === 'limit'
            ? new LimitError(
                `every broker refused the subscription (${this.endpoints.join(', ')}): ${message}`,
              )
            : new InvalidRequestError(
                `no broker serves subscribers (${this.endpoints.join(', ')}): ${message}`,
              ),
        );
        return;
      }
      this.stats.failovers++;
      this.target++;
      const subscriptionId = this.subscriptionId;
      this.clock.defer(() => {
        if (!this.closed && this.failure === null && subscriptionId === this.subscriptionId)
          this.connect();
      });
    }
  }

  private fail(error: OrdoError): void {
    this.failure = error;
    this.signal();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** The topics as given, checked against the limits the brokers apply. */
function checkTopics(topics: readonly string[] | undefined): string[] {
  if (topics === undefined) return [];
  if (!Array.isArray(topics)) throw new InvalidRequestError('topics must be a list of topic names');
  for (const topic of topics) {
    if (
      typeof topic !== 'string' ||
      topic.length === 0 ||
      Buffer.byteLength(topic) > LIMITS.maxTopicBytes
    )
      throw new InvalidRequestError(
        `topic ${JSON.stringify(topic)} must be 1 to ${LIMITS.maxTopicBytes} bytes`,
      );
  }
  return [...topics];
}
