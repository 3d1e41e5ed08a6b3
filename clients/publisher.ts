import { LIMITS } from '../src/limits.js';
import type { Clock, Random, TimerHandle } from '../src/runtime/clock.js';
import { TurnClock } from '../src/runtime/turn-clock.js';
import { type ClientResponse, okRunsOf } from '../src/wire/client-codec.js';
import { ordo } from '../src/wire/schema.js';
import { backoffMs } from './backoff.js';
import { type ClientRuntime, randomProducerId, resolveClientRuntime } from './client-runtime.js';
import { ConnectionPool } from './connection-pool.js';
import { parseEndpoints, tryParseEndpoint } from './endpoint.js';
import {
  BrokerError,
  ClosedError,
  ForbiddenError,
  InvalidRequestError,
  LimitError,
  OrdoError,
  TimeoutError,
  UncertainOutcomeError,
} from './errors.js';
import { ManyAcks, type PublishOutcome } from './many-acks.js';
import { choiceOption, wholeNumberOption } from './option-checks.js';
import { OutstandingQueue } from './outstanding-queue.js';

export type AckMode = 'quorum' | 'sequenced';

export interface PublisherOptions {
  /**
   * Client endpoints of any brokers of the cluster, `host:port` or
   * `tcp://host:port` (e.g. `127.0.0.1:7001`); the sequencer is found from them.
   */
  readonly brokers: readonly string[];
  /**
   * `quorum` (default): a publish resolves once a majority holds the message,
   * so it survives the sequencer's failure. `sequenced`: it resolves as soon
   * as the sequencer assigned the seq, faster but lost if the sequencer fails
   * before a majority has it.
   */
  readonly ackMode?: AckMode;
  /** Dedup identity; a fresh random one by default. Reuse it only together with `firstProducerSeq`. */
  readonly producerId?: string;
  /** producerSeq of the first message (default 1); a restarted producer continues after its last one. */
  readonly firstProducerSeq?: number;
  /** Most messages published but not yet acknowledged; `publish` waits for room beyond it. */
  readonly maxInFlightMessages?: number;
  /** Most messages packed into one request. */
  readonly maxBatchMessages?: number;
  /** A request unanswered for this long is sent again, to another broker. */
  readonly requestTimeoutMs?: number;
  /** A message still unacknowledged after this long fails with TimeoutError. */
  readonly publishTimeoutMs?: number;
  /** The network, clock and randomness to run over; production defaults when absent (see ClientRuntime). */
  readonly runtime?: ClientRuntime;
}

export interface PublishAck {
  /** The message's place in the total order (0 only for a duplicate whose seq the cluster no longer remembers). */
  readonly seq: number;
  readonly producerId: string;
  readonly producerSeq: number;
  /** True when the cluster already had this message (an earlier attempt got through). */
  readonly duplicate: boolean;
}

interface Outstanding {
  producerSeq: number;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly createdMs: number;
  /** The outcome of a publish() call goes to its promise... */
  readonly resolve: (ack: PublishAck) => void;
  readonly reject: (error: Error) => void;
  /** ...and of a publishMany() call to the call's one promise (`index`: the message's place in it). */
  readonly many: ManyAcks | null;
  readonly index: number;
  /** The broker it was last sent to. */
  sentTo: string | null;
  /** Sent at least once without a definite answer: the cluster may hold it. */
  uncertain: boolean;
  /** Attempts sent and not yet answered: until they are, the cluster may hold it too. */
  attemptsInFlight: number;
}

const { PublishStatus } = ordo;

/** What `Publisher.bytesToQueue` holds between calls, so that it keeps no payload alive. */
const EMPTY_PAYLOAD = new Uint8Array(0);

/**
 * The settle functions of a message of a publishMany() call, whose outcome
 * goes to the call's ManyAcks instead (one shape for every message, and no
 * object per message beyond the message itself: each of the thousands
 * outstanding lives long enough to cost the garbage collector).
 */
const ignore = (): void => {};

function ackMessage(message: Outstanding, ack: PublishAck): void {
  if (message.many === null) message.resolve(ack);
  else message.many.ack(message.index, ack);
}

function failMessage(message: Outstanding, error: Error): void {
  if (message.many === null) message.reject(error);
  else message.many.fail(message.index, error);
}

/**
 * Publishes messages to an Ordo cluster. Concurrent `publish` calls are
 * batched into few requests; each message carries (producerId, producerSeq),
 * so a retry after a timeout or a failover is applied exactly once and
 * messages of one publisher keep their order. At most `maxInFlightMessages`
 * are outstanding: beyond that `publish` waits, which is the backpressure a
 * fast producer feels when the cluster cannot keep up.
 */
export class Publisher {
  private readonly endpoints: string[];
  private readonly connections: ConnectionPool;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly ackMode: ordo.AckMode;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;
  private readonly requestTimeoutMs: number;
  private readonly publishTimeoutMs: number;
  private producerIdValue: string;
  private nextProducerSeq: number;
  /** The last failure seen, for the error a timed-out message gets. */
  private lastProblem: string | null = null;
  /** The last failure was a spent budget (a refused connection, a LIMIT answer): timed-out messages fail with LimitError. */
  private lastProblemWasLimit = false;
  /** Brokers whose connection dropped recently, until when. */
  private readonly suspectUntilMs = new Map<string, number>();
  /** Suspect brokers a search asked and that have not answered yet. */
  private readonly suspectsAsked = new Set<string>();
  /** Messages waiting to be sent (again), in producerSeq order. */
  private unsent: Outstanding[] = [];
  /** Ordered by producerSeq (insertion order). */
  private readonly outstanding = new OutstandingQueue<Outstanding>();
  private readonly roomWaiters: (() => void)[] = [];
  /** publish() calls waiting for room in the window, which drain() waits for too. */
  private callsWaitingForRoom = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private target = 0;
  private generation = 0;
  private attempt = 0;
  private flushTimer: TimerHandle | null = null;
  /** The topic of the last publish call, which passed the topic check. */
  private lastValidTopic = '';
  private flushQueued = false;
  /** The clock read once per run of publish calls: the time each message was published at. */
  private readonly publishClock: TurnClock;
  /** Publish requests sent and not yet answered (or timed out). */
  private requestsInFlight = 0;
  /** A search for the sequencer is running (every broker asked at once); nothing is sent meanwhile. */
  private searching = false;
  /** Counts searches, so that answers to an earlier one are told apart. */
  private searchRound = 0;
  /** Pause before the next search (it ended without a sequencer). */
  private searchTimer: TimerHandle | null = null;
  /**
   * The target was reached by following a broker's hint (or a search), and
   * has not yet accepted a publish: if it too says "not the sequencer", the
   * publisher searches instead of following another hint, so that stale
   * hints naming each other cannot send it back and forth.
   */
  private unconfirmedTarget = false;
  /**
   * Brokers that said they are not the sequencer, and when: for a short
   * while (LIMITS.publisherNotSequencerMs) hints naming them are taken as
   * stale. Forgotten on an acknowledged publish.
   */
  private readonly notSequencer = new Map<string, number>();
  /** Searches since the last acknowledged publish: all but the first start after a pause. */
  private searchesSinceAck = 0;
  /** Runs only while messages are outstanding, so an idle publisher holds no timer. */
  private deadlineTimer: TimerHandle | null = null;
  /** producerSeq of the first message of the current producer session. */
  private sessionFirstSeq: number;
  private closed = false;
  /** Settles when close() has closed the sockets. */
  private closing: Promise<void> | null = null;
  /** @internal How often the cluster had forgotten this producer and a new session began. */
  sessionsRestarted = 0;

  constructor(options: PublisherOptions) {
    // Every option is checked here: a mistake found later, inside a timer,
    // would have no caller to report to.
    if (options === null || typeof options !== 'object')
      throw new InvalidRequestError('a publisher needs options: { brokers: [...] }');
    this.endpoints = parseEndpoints(options.brokers, 'a publisher');
    const runtime = resolveClientRuntime(options.runtime);
    this.clock = runtime.clock;
    const clock = this.clock;
    this.publishClock = new TurnClock(() => clock.nowMs());
    this.random = runtime.random;
    this.connections = new ConnectionPool(runtime, (endpoint) => this.onDisconnect(endpoint));
    this.ackMode =
      choiceOption(options.ackMode, 'ackMode', ['quorum', 'sequenced'], 'quorum') === 'sequenced'
        ? ordo.AckMode.ACK_MODE_SEQUENCED
        : ordo.AckMode.ACK_MODE_QUORUM;
    this.maxInFlight = wholeNumberOption(
      options.maxInFlightMessages,
      'maxInFlightMessages',
      LIMITS.publisherWindowMessages,
    );
    this.maxBatch = wholeNumberOption(
      options.maxBatchMessages,
      'maxBatchMessages',
      LIMITS.publisherBatchMessages,
      1,
      LIMITS.maxBatchEntries,
    );
    this.requestTimeoutMs = wholeNumberOption(
      options.requestTimeoutMs,
      'requestTimeoutMs',
      LIMITS.publisherRequestTimeoutMs,
    );
    this.publishTimeoutMs = wholeNumberOption(
      options.publishTimeoutMs,
      'publishTimeoutMs',
      LIMITS.publisherPublishTimeoutMs,
    );
    if (
      options.producerId !== undefined &&
      (typeof options.producerId !== 'string' ||
        options.producerId.length === 0 ||
        Buffer.byteLength(options.producerId) > LIMITS.maxProducerIdBytes)
    ) {
      throw new InvalidRequestError(
        `producerId must be 1 to ${LIMITS.maxProducerIdBytes} bytes, got ${JSON.stringify(options.producerId)}`,
      );
    }
    this.producerIdValue = options.producerId ?? randomProducerId(this.random);
    this.nextProducerSeq = wholeNumberOption(options.firstProducerSeq, 'firstProducerSeq', 1);
    this.sessionFirstSeq = this.nextProducerSeq;
  }

  get producerId(): string {
    return this.producerIdValue;
  }

  get inFlightMessages(): number {
    return this.outstanding.size;
  }

  /**
   * Publishes one message; resolves with its seq once acknowledged under the
   * ack mode. Not an async function: with room in the window the message is
   * queued at once and the caller gets the promise that settles it, with no
   * second promise wrapped around it (this runs once per message).
   */
  publish(topic: string, payload: Uint8Array | string): Promise<PublishAck> {
    let bytes: Uint8Array;
    try {
      bytes = this.checkPublish(topic, payload);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.outstanding.size >= this.maxInFlight) return this.publishWhenRoom(topic, bytes);
    // One executor for every call, reading the message from two fields set
    // just before (the Promise constructor runs it at once): a closure per
    // call over the topic and payload was one more object per message.
    this.topicToQueue = topic;
    this.bytesToQueue = bytes;
    return new Promise<PublishAck>(this.queueExecutor);
  }

  /** The message publish() is queueing, for queueExecutor. */
  private topicToQueue = '';
  private bytesToQueue: Uint8Array = EMPTY_PAYLOAD;
  private readonly queueExecutor = (
    resolve: (ack: PublishAck) => void,
    reject: (error: Error) => void,
  ): void => {
    const bytes = this.bytesToQueue;
    this.bytesToQueue = EMPTY_PAYLOAD;
    this.enqueue(this.topicToQueue, bytes, resolve, reject, null, 0);
    this.sendSoon();
  };

  /**
   * Publishes several messages, in order, as consecutive producerSeqs of
   * this publisher: one call and one promise for all of them, which
   * resolves with each message's ack, in order, once all are acknowledged.
   * It rejects with the first failure, as `Promise.all` over as many
   * `publish` calls would; the other messages still go on and may commit.
   * It waits until the window has room for all of them, so it may hold at
   * most `maxInFlightMessages`.
   */
  publishMany(
    messages: readonly { readonly topic: string; readonly payload: Uint8Array | string }[],
  ): Promise<PublishAck[]> {
    return this.publishAll('publishMany', messages, (count, resolve, reject) =>
      ManyAcks.all(count, resolve, reject),
    );
  }

  /**
   * Publishes several messages as publishMany does, and resolves once every
   * one has an outcome, with each message's ack or error in order (as
   * `Promise.allSettled` over as many `publish` calls would). For a caller
   * that must know which messages committed when some failed. A message
   * refused for good (ForbiddenError, InvalidRequestError) is not in the
   * stream; one that failed otherwise (UncertainOutcomeError, TimeoutError,
   * LimitError, ClosedError) may have been sequenced by an attempt that got
   * no answer. It rejects only when the call itself is
   * refused before any of its messages was queued: a bad message, more than
   * `maxInFlightMessages`, too many calls already waiting for room, or a
   * closed publisher.
   */
  publishManySettled(
    messages: readonly { readonly topic: string; readonly payload: Uint8Array | string }[],
  ): Promise<PublishOutcome[]> {
    return this.publishAll('publishManySettled', messages, (count, resolve) =>
      ManyAcks.settled(count, resolve),
    );
  }

  /** What publishMany and publishManySettled share: the checks, the wait for room, the queueing. */
  private publishAll<T>(
    call: string,
    messages: readonly { readonly topic: string; readonly payload: Uint8Array | string }[],
    waiterFor: (
      count: number,
      resolve: (value: T) => void,
      reject: (error: Error) => void,
    ) => ManyAcks,
  ): Promise<T> {
    let checked: Uint8Array[];
    try {
      if (!Array.isArray(messages))
        throw new InvalidRequestError(`${call} takes an array of { topic, payload }`);
      if (messages.length > this.maxInFlight) {
        throw new InvalidRequestError(
          `${call} of ${messages.length} messages exceeds maxInFlightMessages (${this.maxInFlight})`,
        );
      }
      checked = messages.map((m, i) => {
        if (m === null || typeof m !== 'object')
          throw new InvalidRequestError(`${call}: message ${i} is not a { topic, payload }`);
        return this.checkPublish(m.topic, m.payload);
      });
    } catch (error) {
      return Promise.reject(error);
    }
    if (messages.length === 0) return Promise.resolve([] as T);
    const enqueueAll = (): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const waiter = waiterFor(messages.length, resolve, reject);
        for (let i = 0; i < messages.length; i++)
          this.enqueue(messages[i]!.topic, checked[i]!, ignore, ignore, waiter, i);
        this.sendSoon();
      });
    if (this.outstanding.size + messages.length > this.maxInFlight)
      return this.waitForRoom(messages.length).then(enqueueAll);
    return enqueueAll();
  }

  /** The payload as bytes, once the call is checked; throws what publish() rejects with. */
  private checkPublish(topic: string, payload: Uint8Array | string): Uint8Array {
    if (this.closed) throw new ClosedError('publisher is closed');
    const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    // Most publishers use few topics: the last one that passed is not measured again.
    if (topic !== this.lastValidTopic) {
      if (topic.length === 0 || Buffer.byteLength(topic) > LIMITS.maxTopicBytes) {
        throw new InvalidRequestError(`topic must be 1 to ${LIMITS.maxTopicBytes} bytes`);
      }
      this.lastValidTopic = topic;
    }
    if (bytes.length > LIMITS.maxPayloadBytes) {
      throw new InvalidRequestError(
        `payload of ${bytes.length} bytes exceeds the limit of ${LIMITS.maxPayloadBytes}`,
      );
    }
    return bytes;
  }

  /** Waits for room in the window (the backpressure), then queues the message. */
  private async publishWhenRoom(topic: string, bytes: Uint8Array): Promise<PublishAck> {
    await this.waitForRoom(1);
    return new Promise<PublishAck>((resolve, reject) => {
      this.enqueue(topic, bytes, resolve, reject, null, 0);
      this.sendSoon();
    });
  }

  /** Resolves once the window has room for `count` more messages; rejects if the publisher closes. */
  private async waitForRoom(count: number): Promise<void> {
    this.callsWaitingForRoom++;
    try {
      let turns = 0;
      while (this.outstanding.size + count > this.maxInFlight) {
        // Callers that do not await their publishes would otherwise queue without end.
        if (this.roomWaiters.length >= LIMITS.publisherMaxWaitingCalls) {
          throw new OrdoError(
            `${this.roomWaiters.length} publish calls already wait for room in the window: await earlier publishes`,
            { retriable: true },
          );
        }
        // Each settled message wakes one waiter. One woken still short of
        // room (a publishMany) waits again at the front, keeping its turn.
        await new Promise<void>((resolve) =>
          turns++ === 0 ? this.roomWaiters.push(resolve) : this.roomWaiters.unshift(resolve),
        );
        if (this.closed) throw new ClosedError('publisher is closed');
      }
    } finally {
      this.callsWaitingForRoom--;
    }
  }

  /** Gives the message the next producerSeq and queues it for the next request. */
  private enqueue(
    topic: string,
    bytes: Uint8Array,
    resolve: (ack: PublishAck) => void,
    reject: (error: Error) => void,
    many: ManyAcks | null,
    index: number,
  ): void {
    const producerSeq = this.nextProducerSeq++;
    const message: Outstanding = {
      producerSeq,
      topic,
      payload: bytes,
      createdMs: this.publishTimeMs(),
      resolve,
      reject,
      many,
      index,
      sentTo: null,
      uncertain: false,
      attemptsInFlight: 0,
    };
    this.outstanding.add(producerSeq, message);
    this.unsent.push(message);
  }

  /**
   * The time a message queued now was published at, read once per run of
   * publish calls (TurnClock): a clock read per message was 5% of a
   * saturated publisher's CPU, and the publish timeout it starts does not
   * need finer time than one run.
   */
  private publishTimeMs(): number {
    return this.publishClock.nowMs();
  }

  /** After messages were queued: their deadline runs, and a request goes out soon. */
  private sendSoon(): void {
    this.armDeadlineTimer();
    this.queueFlush();
  }

  /**
   * Resolves once every message published so far (including calls still
   * waiting for room in the window) is acknowledged or failed; never rejects.
   */
  async drain(): Promise<void> {
    while ((this.outstanding.size > 0 || this.callsWaitingForRoom > 0) && !this.closed)
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    // The last publish promises settled just now; what their callers chained
    // on them runs as microtasks. Resolve after those, so that once drain()
    // resolves every publish's callbacks have run.
    await new Promise<void>((resolve) => this.clock.defer(resolve));
  }

  /** The same as drain(). */
  flush(): Promise<void> {
    return this.drain();
  }

  /**
   * Fails every message not yet acknowledged with ClosedError and closes the
   * sockets; the promise resolves once they are closed (it never rejects).
   * `drain()` first to wait for what is in flight instead.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.disarmDeadlineTimer();
    this.flushTimer?.cancel();
    this.searchTimer?.cancel();
    for (const message of this.outstanding.values())
      failMessage(message, new ClosedError('publisher closed before the message was acknowledged'));
    this.outstanding.clear();
    for (const wake of this.roomWaiters.splice(0)) wake();
    for (const wake of this.idleWaiters.splice(0)) wake();
    this.closing = closeQuietly(() => this.connections.closeAll());
    return this.closing;
  }

  // ----------------------------------------------------------- sending

  /**
   * Sends what was published soon. With no request in flight the batch
   * leaves in a microtask, once the caller's synchronous run of publish
   * calls is over: a lone message waits for nothing. Under load it leaves
   * after the current turn of the event loop, so that the acks arriving in
   * it and the publishes they let in go out together in one request.
   */
  private queueFlush(): void {
    if (this.flushQueued || this.flushTimer !== null) return;
    this.flushQueued = true;
    const flush = (): void => {
      this.flushQueued = false;
      this.flushUnsent();
    };
    if (this.requestsInFlight === 0) queueMicrotask(flush);
    else this.clock.defer(flush);
  }

  /**
   * Runs from a timer or setImmediate: nothing may escape it, so a failure
   * to send (a socket that cannot be opened) fails the messages instead,
   * through the promises their callers hold.
   */
  private flushUnsent(): void {
    // The search sends everything outstanding once it found the sequencer.
    if (this.closed || this.searching) return;
    try {
      this.sendUnsent();
    } catch (error) {
      this.failAll(error);
    }
  }

  private sendUnsent(): void {
    const unsent = this.unsent;
    this.unsent = [];
    let batch: Outstanding[] = [];
    for (const message of unsent) {
      // Settled meanwhile (a late answer to an earlier attempt): nothing to send.
      if (this.outstanding.get(message.producerSeq) !== message) continue;
      batch.push(message);
      if (batch.length >= this.maxBatch) {
        this.sendBatch(batch);
        batch = [];
      }
    }
    if (batch.length > 0) this.sendBatch(batch);
  }

  private sendBatch(batch: Outstanding[]): void {
    const endpoint = this.endpoints[this.target % this.endpoints.length]!;
    const generation = this.generation;
    const session = this.sessionsRestarted;
    for (const message of batch) {
      message.sentTo = endpoint;
      message.attemptsInFlight++;
    }
    const request = this.connections.get(endpoint).request(
      {
        publish: {
          producerId: this.producerIdValue,
          ackMode: this.ackMode,
          // Encoded before request() returns: the messages serve as the
          // items themselves (their producerSeq, topic and payload).
          items: batch,
        },
      },
      this.requestTimeoutMs,
    );
    this.requestsInFlight++;
    request.then(
      (response) => {
        this.requestsInFlight--;
        for (const message of batch) message.attemptsInFlight--;
        // An answer for an earlier producer session names producerSeqs that
        // now belong to other messages: it must not settle them.
        if (session !== this.sessionsRestarted) return;
        this.onResponse(response, generation, endpoint);
      },
      (error: Error) => {
        this.requestsInFlight--;
        for (const message of batch) message.attemptsInFlight--;
        this.lastProblem = error.message;
        this.lastProblemWasLimit = error instanceof BrokerError && error.code === 'limit';
        // No answer: the broker may or may not have sequenced these.
        for (const message of batch) message.uncertain = true;
        if (this.closed || generation !== this.generation) return;
        // Unanswered: try the next broker, resending everything outstanding
        // in order. A busy sequencer answers late rather than not at all, so
        // sending goes on here; a broker that is gone drops its connection,
        // and that starts a search for the sequencer (onDisconnect).
        this.advanceTarget();
        this.rewind(
          error instanceof TimeoutError
            ? 0
            : this.backoff(
                LIMITS.publisherSendFailureBackoffBaseMs,
                LIMITS.publisherSendFailureBackoffMaxMs,
              ),
        );
      },
    );
  }

  private onResponse(response: ClientResponse, generation: number, endpoint: string): void {
    if (this.closed) return;
    this.suspectUntilMs.delete(endpoint);
    const publish = response.publish;
    if (response.body !== 'publish' || publish === undefined || publish === null) return;
    let notLeader = false;
    let mustRetry = false;
    let forgotten = false;
    let firstRefused = Number.POSITIVE_INFINITY;
    let refusedUncertain = false;
    const current = generation === this.generation;
    // The OK answers of a batch come as runs: a message settles straight
    // from its run, with no result object between.
    for (const run of okRunsOf(publish)) {
      for (let k = 0; k < run.count; k++) {
        const message = this.outstanding.get(run.producerSeq + k);
        if (message !== undefined) this.acknowledge(message, run.seq + k, false);
      }
    }
    for (const result of publish.results ?? []) {
      const message = this.outstanding.get(result.producerSeq ?? 0);
      if (message === undefined) continue;
      switch (result.status) {
        case PublishStatus.PUBLISH_STATUS_OK:
        case PublishStatus.PUBLISH_STATUS_DUPLICATE:
          this.acknowledge(
            message,
            result.seq ?? 0,
            result.status === PublishStatus.PUBLISH_STATUS_DUPLICATE,
          );
          break;
        case PublishStatus.PUBLISH_STATUS_INVALID:
        case PublishStatus.PUBLISH_STATUS_FORBIDDEN:
          // A stale refusal may name a producerSeq that a later message has
          // taken since (closeGapFrom); the message went again, and that
          // attempt's answer counts.
          if (!current) break;
          this.settle(message);
          failMessage(
            message,
            result.status === PublishStatus.PUBLISH_STATUS_FORBIDDEN
              ? new ForbiddenError(result.detail ?? 'forbidden by the broker')
              : new InvalidRequestError(result.detail ?? 'rejected by the broker'),
          );
          firstRefused = Math.min(firstRefused, message.producerSeq);
          refusedUncertain ||= message.uncertain;
          break;
        case PublishStatus.PUBLISH_STATUS_NOT_LEADER:
          notLeader = true;
          this.notSequencer.set(endpoint, this.clock.nowMs());
          this.lastProblem = `${endpoint} is not the sequencer`;
          this.lastProblemWasLimit = false;
          break;
        case PublishStatus.PUBLISH_STATUS_OUT_OF_ORDER:
          // The cluster does not know this producer (its bounded dedup table
          // forgot it) and wants it to start at 1: nothing can dedup the
          // outstanding messages any more, so they go out in a new session.
          // While this session's first message is still outstanding, "expected
          // 1" only means it is not in the log yet (refused as busy in this
          // very batch, say): the messages go again in order, same session.
          if (
            (result.expectedProducerSeq ?? 0) === 1 &&
            message.producerSeq > 1 &&
            !this.outstanding.has(this.sessionFirstSeq)
          )
            forgotten = true;
          mustRetry = true;
          break;
        default:
          // BUSY, RETRY: resend in order after a pause.
          if (result.detail) {
            this.lastProblem = `${endpoint}: ${result.detail}`;
            this.lastProblemWasLimit = /\(limit \d+, max\w+\)/.test(result.detail);
          }
          mustRetry = true;
      }
    }
    if (firstRefused !== Number.POSITIVE_INFINITY) {
      // A refused message sent before without an answer may have been
      // sequenced by a broker that allowed it (permissions changing across
      // the cluster): then its producerSeq is no gap, and only a new
      // session is safe for the messages after it.
      if (refusedUncertain) {
        forgotten = true;
        mustRetry = true;
      } else if (this.closeGapFrom(firstRefused)) mustRetry = true;
    }
    if (forgotten && generation === this.generation) this.startNewSession();
    // Answers to requests sent before the last rewind are stale: only their successes count.
    if (generation !== this.generation) return;
    if (notLeader) {
      const hint = this.usableHint(publish.leader?.clientEndpoint ?? '', endpoint);
      if (hint !== null && !this.unconfirmedTarget) {
        this.followHint(hint);
        this.unconfirmedTarget = true;
        this.rewind(0);
      } else {
        // No usable hint (an election is running, or the hint names a
        // broker that just dropped, or the broker itself), or the broker a
        // hint led to is not the sequencer either: ask every broker at once
        // and follow the first that names one.
        this.searchSequencer();
      }
    } else if (mustRetry) {
      this.rewind(
        this.backoff(LIMITS.publisherBusyBackoffBaseMs, LIMITS.publisherBusyBackoffMaxMs),
      );
    }
  }

  /** The cluster holds the message at `seq`: it settles, and the publisher is past any trouble. */
  private acknowledge(message: Outstanding, seq: number, duplicate: boolean): void {
    this.attempt = 0;
    this.unconfirmedTarget = false;
    this.searchesSinceAck = 0;
    // Map.clear() allocates a new table even when empty, and this runs per message.
    if (this.notSequencer.size > 0) this.notSequencer.clear();
    this.settle(message);
    ackMessage(message, {
      seq,
      producerId: this.producerIdValue,
      producerSeq: message.producerSeq,
      duplicate,
    });
  }

  /**
   * The broker we send to went away: ask every broker at once which one is
   * the sequencer now, and resend everything outstanding there.
   */
  private onDisconnect(endpoint: string): void {
    // Other brokers may still name it as sequencer for a moment: do not follow such hints.
    this.suspectUntilMs.set(endpoint, this.clock.nowMs() + LIMITS.publisherSuspectBrokerMs);
    for (const message of this.outstanding.values()) {
      if (message.sentTo === endpoint) message.uncertain = true;
    }
    if (this.closed || endpoint !== this.endpoints[this.target % this.endpoints.length]) return;
    this.advanceTarget();
    if (this.outstanding.size > 0) this.searchSequencer();
  }

  /** A leader hint worth following: a valid endpoint, not the broker that gave it, not one that just dropped. */
  private usableHint(named: string, from: string): string | null {
    if (named === '') return null;
    const hint = tryParseEndpoint(named);
    if (hint === null || hint === from || this.isSuspect(hint) || this.saidNotSequencer(hint))
      return null;
    return hint;
  }

  /**
   * Asks every broker at once which one is the sequencer (a read index
   * request: the sequencer answers it, any other broker names the sequencer
   * it knows) and follows the first answer that names one, resending
   * everything outstanding there. Nothing is sent while it runs. A hint
   * naming a broker that dropped or said it is not the sequencer is stale
   * and ignored. When no broker names a sequencer (an election is still
   * running), it asks again after a short pause: the publisher follows the
   * election as it ends, instead of waiting out a timeout or a backoff per
   * broker. Only the first search after an acknowledged publish starts at
   * once; later ones pause first, so that no answer can make it spin.
   */
  private searchSequencer(): void {
    if (this.closed || this.searching) return;
    this.searching = true;
    // Answers to requests sent before the search are stale: the search resends.
    this.generation++;
    this.flushTimer?.cancel();
    this.flushTimer = null;
    const round = ++this.searchRound;
    if (this.searchesSinceAck++ === 0) {
      this.askEveryBroker(round);
      return;
    }
    this.searchTimer = this.clock.setTimeout(
      () => {
        this.searchTimer = null;
        this.askEveryBroker(round);
      },
      this.backoff(LIMITS.publisherNoLeaderBackoffBaseMs, LIMITS.publisherNoLeaderBackoffMaxMs),
    );
  }

  private askEveryBroker(round: number): void {
    if (this.closed || round !== this.searchRound) return;
    // Brokers whose connection dropped recently are asked too, but only
    // their own word counts: one that restarted and won the election since
    // answers as the sequencer, while the others' hints naming it are still
    // distrusted. They are not waited for: one still down would hold up
    // the conclusion that nobody knows a sequencer until its request timed out.
    const live = this.endpoints.filter((e) => !this.isSuspect(e));
    const counted = new Set(live.length > 0 ? live : this.endpoints);
    let unanswered = counted.size;
    const found = (sequencer: string): void => {
      if (round !== this.searchRound || !this.searching) return;
      this.searching = false;
      this.followHint(sequencer);
      this.unconfirmedTarget = true;
      this.rewind(0);
    };
    const noSequencer = (endpoint: string): void => {
      if (!counted.has(endpoint)) return;
      if (round !== this.searchRound || !this.searching || --unanswered > 0) return;
      // Nobody named one (an election is running, or the brokers are too
      // busy to answer in time): sending resumes, to the next broker; its
      // "not the sequencer" starts the next search, after a pause.
      this.searching = false;
      this.advanceTarget();
      this.rewind(0);
    };
    for (const endpoint of this.endpoints) {
      // One question at a time to a broker that may be down: unanswered ones
      // would pile up in its connection and reach it all at once when it is back.
      if (!counted.has(endpoint) && this.suspectsAsked.has(endpoint)) continue;
      let request: Promise<ClientResponse>;
      try {
        request = this.connections
          .get(endpoint)
          .request({ readIndex: {} }, LIMITS.publisherLeaderSearchTimeoutMs);
      } catch (error) {
        // A broker that cannot even be dialled (no key for it): it names no one.
        this.lastProblem = (error as Error).message;
        noSequencer(endpoint);
        continue;
      }
      if (!counted.has(endpoint)) {
        this.suspectsAsked.add(endpoint);
        const asked = (): void => {
          this.suspectsAsked.delete(endpoint);
        };
        request.then(asked, asked);
      }
      request.then(
        (response) => {
          // It answered: its connection works again.
          this.suspectUntilMs.delete(endpoint);
          const answer = response.readIndex;
          if (response.body !== 'readIndex' || answer === null || answer === undefined)
            return noSequencer(endpoint);
          // The sequencer, confirmed by a majority just now.
          if (answer.ok === true) return found(endpoint);
          // A sequencer that has not yet committed an entry of its epoch
          // refuses, naming itself: it takes publishes (unless it refused them).
          const named = answer.leader?.clientEndpoint ?? '';
          if (
            named !== '' &&
            tryParseEndpoint(named) === endpoint &&
            !this.saidNotSequencer(endpoint)
          )
            return found(endpoint);
          // Else the sequencer this broker knows, unless the hint is stale.
          this.notSequencer.set(endpoint, this.clock.nowMs());
          const hint = counted.has(endpoint) ? this.usableHint(named, endpoint) : null;
          if (hint !== null) return found(hint);
          this.lastProblem = `${endpoint} knows no sequencer${answer.detail ? ` (${answer.detail})` : ''}`;
          this.lastProblemWasLimit = false;
          noSequencer(endpoint);
        },
        (error: Error) => {
          if (!counted.has(endpoint)) return;
          this.lastProblem = error.message;
          this.lastProblemWasLimit = error instanceof BrokerError && error.code === 'limit';
          noSequencer(endpoint);
        },
      );
    }
  }

  /** Moves to the next broker, skipping those whose connection dropped recently (unless all did). */
  private advanceTarget(): void {
    for (let step = 1; step <= this.endpoints.length; step++) {
      const candidate = this.target + step;
      if (!this.isSuspect(this.endpoints[candidate % this.endpoints.length]!)) {
        this.target = candidate;
        return;
      }
    }
    this.target++;
  }

  /** The broker said it is not the sequencer within the last LIMITS.publisherNotSequencerMs. */
  private saidNotSequencer(endpoint: string): boolean {
    const atMs = this.notSequencer.get(endpoint);
    if (atMs === undefined) return false;
    if (this.clock.nowMs() - atMs < LIMITS.publisherNotSequencerMs) return true;
    this.notSequencer.delete(endpoint);
    return false;
  }

  private isSuspect(endpoint: string): boolean {
    const untilMs = this.suspectUntilMs.get(endpoint);
    if (untilMs === undefined) return false;
    if (this.clock.nowMs() < untilMs) return true;
    this.suspectUntilMs.delete(endpoint);
    return false;
  }

  /**
   * Starts a fresh producer id. Outstanding messages the cluster surely
   * never sequenced are renumbered, in order, and sent again. One that was
   * sent without a definite answer may already be in the log, and nothing can
   * dedup it any more: it fails with UncertainOutcomeError rather than risk
   * a duplicate (integrity over availability); the caller decides.
   */
  /**
   * A message refused for good (forbidden, invalid) was never sequenced, so
   * its producerSeq is a gap the cluster would wait on for ever: a
   * producer's messages must run on, and every later one would be answered
   * "out of order". The messages after the gap cannot have been sequenced
   * either, for the same reason, so they take the producerSeqs from the gap
   * on, and the next message continues from there. Returns whether any
   * outstanding message was renumbered (it must go again): every one after
   * the gap is.
   */
  private closeGapFrom(firstGap: number): boolean {
    const messages = this.outstanding.values();
    this.outstanding.clear();
    let next = firstGap;
    for (const message of messages) {
      if (message.producerSeq > firstGap) message.producerSeq = next++;
      this.outstanding.add(message.producerSeq, message);
    }
    this.nextProducerSeq = next;
    return next > firstGap;
  }

  private startNewSession(): void {
    const messages = this.outstanding.values();
    this.outstanding.clear();
    this.producerIdValue = randomProducerId(this.random);
    this.nextProducerSeq = 1;
    this.sessionFirstSeq = 1;
    for (const message of messages) {
      // An attempt still unanswered may yet be sequenced under the old producer id.
      if (message.uncertain || message.attemptsInFlight > 0) {
        failMessage(
          message,
          new UncertainOutcomeError(
            `message ${message.producerSeq} may or may not have been sequenced: the cluster no longer knows its producer, so it was not sent again`,
          ),
        );
        continue;
      }
      message.producerSeq = this.nextProducerSeq++;
      this.outstanding.add(message.producerSeq, message);
    }
    for (const wake of this.roomWaiters.splice(0)) wake();
    if (this.outstanding.size === 0) {
      this.disarmDeadlineTimer();
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
    this.sessionsRestarted++;
  }

  private followHint(hint: string): void {
    // A hint comes from a broker: one that is not a valid endpoint is ignored.
    const endpoint = tryParseEndpoint(hint);
    if (endpoint === null) {
      this.advanceTarget();
      return;
    }
    let index = this.endpoints.indexOf(endpoint);
    if (index < 0) {
      this.endpoints.push(endpoint);
      index = this.endpoints.length - 1;
    }
    this.target = index;
  }

  /** Marks every outstanding message unsent and sends them again, in order, after `delayMs`. */
  private rewind(delayMs: number): void {
    this.generation++;
    this.unsent = this.outstanding.values();
    this.flushTimer?.cancel();
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = null;
      this.flushUnsent();
    }, delayMs);
  }

  private settle(message: Outstanding): void {
    this.outstanding.delete(message.producerSeq);
    this.roomWaiters.shift()?.();
    if (this.outstanding.size === 0) {
      this.disarmDeadlineTimer();
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** The next backoff of the current run of failures, with the runtime's randomness. */
  private backoff(baseMs: number, maxMs: number): number {
    return backoffMs(this.attempt++, baseMs, maxMs, this.random);
  }

  private armDeadlineTimer(): void {
    if (this.deadlineTimer !== null) return;
    this.deadlineTimer = this.clock.setInterval(
      () => this.expire(),
      Math.min(LIMITS.publisherDeadlineCheckIntervalMs, this.publishTimeoutMs),
    );
  }

  private disarmDeadlineTimer(): void {
    this.deadlineTimer?.cancel();
    this.deadlineTimer = null;
  }

  /** Fails everything outstanding with `cause` (an unexpected failure to send) and starts a new session. */
  private failAll(cause: unknown): void {
    const error =
      cause instanceof OrdoError
        ? cause
        : new OrdoError(`cannot send to the brokers: ${(cause as Error)?.message ?? cause}`, {
            cause,
          });
    const failed = this.outstanding.values();
    this.outstanding.clear();
    this.unsent = [];
    this.generation++;
    this.producerIdValue = randomProducerId(this.random);
    this.nextProducerSeq = 1;
    this.sessionFirstSeq = 1;
    for (const message of failed) failMessage(message, error);
    for (const wake of this.roomWaiters.splice(0)) wake();
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /**
   * Fails messages older than publishTimeoutMs. The publisher's order is
   * broken at that point (a later message cannot be appended before an
   * earlier one), so everything outstanding fails and a new producer
   * session (fresh producerId, producerSeq from 1) starts.
   */
  private expire(): void {
    const first = this.outstanding.first();
    if (first === undefined || this.clock.nowMs() - first.createdMs < this.publishTimeoutMs) return;
    const failed = this.outstanding.values();
    this.outstanding.clear();
    this.disarmDeadlineTimer();
    this.generation++;
    this.producerIdValue = randomProducerId(this.random);
    this.nextProducerSeq = 1;
    this.sessionFirstSeq = 1;
    for (const message of failed) {
      const text =
        `message ${message.producerSeq} not acknowledged within ${this.publishTimeoutMs} ms ` +
        `(brokers ${this.endpoints.join(', ')}; last problem: ${this.lastProblem ?? 'none reported'})`;
      failMessage(
        message,
        this.lastProblemWasLimit ? new LimitError(text) : new TimeoutError(text),
      );
    }
    for (const wake of this.roomWaiters.splice(0)) wake();
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

/** Runs a synchronous close and settles once it ran, whatever it threw: close() never rejects. */
function closeQuietly(close: () => void): Promise<void> {
  try {
    close();
  } catch {
    // The sockets are being torn down: an error here has no one to tell and changes nothing.
  }
  return Promise.resolve();
}
