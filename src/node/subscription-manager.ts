import { type Entry, EntryKind } from '../core/types.js';
import { LIMITS } from '../limits.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { LogRangeError } from '../storage/log-store.js';
import { encodePackedEntries } from '../wire/packed-entries.js';
import { PackedSlice } from '../wire/packed-slice.js';
import { ordo } from '../wire/schema.js';
import type { ClientId } from './client-server.js';
import type { FaultInjection } from './fault-injection.js';

export interface EntryReader {
  read(fromSeq: number, toSeq: number, maxBytes: number): Promise<Entry[]>;
  /** As `LogStore.readPacked`: the entries as packed bytes when they are in memory. */
  readPacked(slice: PackedSlice): boolean;
  firstSeq(): number;
}

interface Subscription {
  readonly key: string;
  readonly client: ClientId;
  /** Who holds it on a secured cluster (null on an insecure one), for the budget per identity. */
  readonly identity: string | null;
  readonly id: number;
  readonly topics: ReadonlySet<string> | null;
  readonly includeControl: boolean;
  readonly windowEntries: number;
  nextSeq: number;
  ackedSeq: number;
  pumping: boolean;
  lastSentMs: number;
  lastHeardMs: number;
  /** Delivery bytes handed to the client socket that have not left the node's send queue yet. */
  queuedBytes: number;
  /** A NACK that came while deliveries were still queued: applied once they have left. */
  pendingRewindSeq: number | null;
  /**
   * A delivery could not be sent (the client does not read, or is gone):
   * nothing more is read and encoded for it until it acknowledges or NACKs.
   */
  stalled: boolean;
  /** Start of the current one-second window of the NACK budget, and NACKs served in it. */
  nackWindowStartMs: number;
  nacksInWindow: number;
}

/** Queues a response; `onLeft` is called once it has left the node's send queue (never when this returns false). */
type Send = (
  client: ClientId,
  response: ordo.ClientResponse.$Properties,
  onLeft?: (sent: boolean) => void,
) => boolean;

/** Bytes a delivery is counted for besides its payloads and topics: its fields and framing. */
const deliveryOverheadBytes = 64;
/** Bytes counted per entry besides its payload and topic. */
const entryOverheadBytes = 48;

/**
 * Streams the committed log to subscribers. Each delivery names the seq
 * range it covers and carries the entries of that range that match the
 * subscriber's topics, so a subscriber detects a lost delivery from the
 * ranges even when its filter leaves most seqs out. Credit (the subscriber's
 * acknowledged seq plus its window) bounds what is in flight; entries are
 * read from the log in bounded chunks, so a slow subscriber costs no memory.
 */
export class SubscriptionManager {
  private readonly subscriptions = new Map<string, Subscription>();
  /** Subscriptions per client connection (hex routing id), for its budget. */
  private readonly perClient = new Map<string, number>();
  /** Subscriptions per identity (secured clusters), for its budget over all its connections. */
  private readonly perIdentity = new Map<string, number>();
  private readonly silentLog: RateLimitedLog;
  private commitSeq = 0;
  private closed = false;
  deliveriesDropped = 0;
  /** Requests refused because a budget was spent (node or connection subscription limits). */
  limitRefusals = 0;
  /** NACKs ignored because their subscriber spent its NACK budget. */
  nacksIgnored = 0;

  constructor(
    private readonly reader: EntryReader,
    private readonly send: Send,
    private readonly faults: FaultInjection,
    private readonly now: () => number,
    logger: Logger,
    /** A read failed for another reason than retention (a damaged record, a failed store). */
    private readonly onReadError: (error: Error) => void = () => {},
  ) {
    this.silentLog = new RateLimitedLog(logger, LIMITS.repeatedLogIntervalMs, now);
  }

  get size(): number {
    return this.subscriptions.size;
  }

  /**
   * `identity` names who asks on a secured cluster (null on an insecure one,
   * where the budget per connection is all there is).
   */
  subscribe(
    client: ClientId,
    requestId: number,
    request: ordo.SubscribeRequest,
    identity: string | null = null,
  ): void {
    const key = subscriptionKey(client, request.subscriptionId);
    const clientKey = client.toString('hex');
    const existing = this.subscriptions.get(key);
    if (existing === undefined) {
      const refusal =
        this.subscriptions.size >= LIMITS.maxSubscribers
          ? `this node already serves ${LIMITS.maxSubscribers} subscribers, its limit (maxSubscribers)`
          : (this.perClient.get(clientKey) ?? 0) >= LIMITS.maxSubscriptionsPerConnection
            ? `this connection already holds ${LIMITS.maxSubscriptionsPerConnection} subscriptions on this node, its limit (maxSubscriptionsPerConnection)`
            : identity !== null &&
                (this.perIdentity.get(identity) ?? 0) >= LIMITS.maxSubscriptionsPerIdentity
              ? `identity '${identity}' already holds ${LIMITS.maxSubscriptionsPerIdentity} subscriptions on this node over all its connections, its limit (maxSubscriptionsPerIdentity)`
              : null;
      if (refusal !== null) {
        this.limitRefusals++;
        this.sendError(
          client,
          requestId,
          request.subscriptionId,
          ordo.ErrorCode.ERROR_CODE_LIMIT,
          refusal,
        );
        return;
      }
    }
    const fromSeq = request.fromSeq === 0 ? this.commitSeq + 1 : request.fromSeq;
    const firstSeq = this.reader.firstSeq();
    if (fromSeq < firstSeq) {
      this.sendSeqUnavailable(client, requestId, request.subscriptionId, fromSeq, firstSeq);
      return;
    }
    const windowEntries = Math.min(
      Math.max(request.windowEntries || LIMITS.subscriberWindowEntries, 1),
      LIMITS.subscriberWindowEntries,
    );
    const nowMs = this.now();
    const subscription: Subscription = {
      key,
      client,
      identity,
      id: request.subscriptionId,
      topics: request.topics.length > 0 ? new Set(request.topics) : null,
      includeControl: request.includeControl,
      windowEntries,
      nextSeq: fromSeq,
      ackedSeq: fromSeq - 1,
      pumping: false,
      lastSentMs: nowMs,
      lastHeardMs: nowMs,
      queuedBytes: 0,
      pendingRewindSeq: null,
      stalled: false,
      nackWindowStartMs: nowMs,
      nacksInWindow: 0,
    };
    if (existing !== undefined) this.remove(existing);
    this.subscriptions.set(key, subscription);
    this.perClient.set(clientKey, (this.perClient.get(clientKey) ?? 0) + 1);
    if (identity !== null)
      this.perIdentity.set(identity, (this.perIdentity.get(identity) ?? 0) + 1);
    this.send(client, { requestId, ok: {} });
    this.heartbeat(subscription);
    void this.pump(subscription);
  }

  ack(client: ClientId, subscriptionId: number, ackedSeq: number): void {
    const subscription = this.find(client, subscriptionId);
    if (subscription === undefined) return;
    subscription.lastHeardMs = this.now();
    subscription.stalled = false;
    if (ackedSeq > subscription.ackedSeq)
      subscription.ackedSeq = Math.min(ackedSeq, subscription.nextSeq - 1);
    void this.pump(subscription);
  }

  /**
   * The subscriber lacks `fromSeq`: resend from there. Each subscriber is
   * served at most LIMITS.subscriberMaxNacksPerSecond NACKs a second (it
   * asks again after its retry interval), and a NACK never queues again
   * what is still waiting in the send queue: while deliveries to this
   * subscriber are queued, the rewind waits until they have left.
   */
  nack(client: ClientId, subscriptionId: number, fromSeq: number): void {
    const subscription = this.find(client, subscriptionId);
    if (subscription === undefined) return;
    const nowMs = this.now();
    subscription.lastHeardMs = nowMs;
    if (nowMs - subscription.nackWindowStartMs >= 1000) {
      subscription.nackWindowStartMs = nowMs;
      subscription.nacksInWindow = 0;
    }
    if (subscription.nacksInWindow >= LIMITS.subscriberMaxNacksPerSecond) {
      this.nacksIgnored++;
      return;
    }
    subscription.nacksInWindow++;
    subscription.stalled = false;
    if (subscription.queuedBytes > 0) {
      subscription.pendingRewindSeq = Math.min(
        subscription.pendingRewindSeq ?? Number.POSITIVE_INFINITY,
        fromSeq,
      );
      return;
    }
    this.rewind(subscription, fromSeq);
  }

  unsubscribe(client: ClientId, subscriptionId: number): void {
    const subscription = this.find(client, subscriptionId);
    if (subscription !== undefined) this.remove(subscription);
  }

  /** The client's socket is gone: forget all its subscriptions. */
  dropClient(client: ClientId): void {
    const prefix = client.toString('hex');
    for (const [key, subscription] of this.subscriptions)
      if (key.startsWith(`${prefix}/`)) this.remove(subscription);
  }

  /** Delivery bytes waiting in the node's send queue, over all subscribers. */
  queuedBytes(): number {
    let total = 0;
    for (const subscription of this.subscriptions.values()) total += subscription.queuedBytes;
    return total;
  }

  onCommit(commitSeq: number): void {
    this.commitSeq = Math.max(this.commitSeq, commitSeq);
    for (const subscription of this.subscriptions.values()) void this.pump(subscription);
  }

  /** Heartbeats idle subscribers and forgets silent ones. */
  tick(): void {
    const nowMs = this.now();
    for (const subscription of this.subscriptions.values()) {
      if (nowMs - subscription.lastHeardMs > LIMITS.subscriberTimeoutMs) {
        this.silentLog.info(`forgetting silent subscriber ${subscription.key}`);
        this.remove(subscription);
        continue;
      }
      if (nowMs - subscription.lastSentMs >= LIMITS.subscriberHeartbeatMs)
        this.heartbeat(subscription);
    }
  }

  status(): ordo.SubscriberStatus.$Properties[] {
    return [...this.subscriptions.values()].map((s) => ({
      subscriptionId: s.id,
      nextSeq: s.nextSeq,
      ackedSeq: s.ackedSeq,
      lagEntries: Math.max(0, this.commitSeq - s.ackedSeq),
      topics: s.topics === null ? [] : [...s.topics],
    }));
  }

  close(): void {
    this.closed = true;
    this.subscriptions.clear();
    this.perClient.clear();
    this.perIdentity.clear();
  }

  private remove(subscription: Subscription): void {
    if (this.subscriptions.get(subscription.key) !== subscription) return;
    this.subscriptions.delete(subscription.key);
    const clientKey = subscription.client.toString('hex');
    const count = (this.perClient.get(clientKey) ?? 1) - 1;
    if (count > 0) this.perClient.set(clientKey, count);
    else this.perClient.delete(clientKey);
    const identity = subscription.identity;
    if (identity === null) return;
    const held = (this.perIdentity.get(identity) ?? 1) - 1;
    if (held > 0) this.perIdentity.set(identity, held);
    else this.perIdentity.delete(identity);
  }

  private rewind(subscription: Subscription, fromSeq: number): void {
    // Resend from the first seq the subscriber lacks; it has everything before.
    subscription.ackedSeq = Math.max(subscription.ackedSeq, fromSeq - 1);
    subscription.nextSeq = Math.min(
      subscription.nextSeq,
      Math.max(fromSeq, subscription.ackedSeq + 1),
    );
    void this.pump(subscription);
  }

  /** Some of the subscriber's deliveries left the send queue: apply a waiting NACK, send more. */
  private onDeliveryLeft(subscription: Subscription, bytes: number, sent: boolean): void {
    subscription.queuedBytes -= bytes;
    if (!sent) subscription.stalled = true;
    if (this.closed || this.subscriptions.get(subscription.key) !== subscription) return;
    if (subscription.queuedBytes > 0) {
      if (subscription.pendingRewindSeq === null) void this.pump(subscription);
      return;
    }
    const rewindSeq = subscription.pendingRewindSeq;
    subscription.pendingRewindSeq = null;
    if (rewindSeq !== null) this.rewind(subscription, rewindSeq);
    else void this.pump(subscription);
  }

  private find(client: ClientId, subscriptionId: number): Subscription | undefined {
    return this.subscriptions.get(subscriptionKey(client, subscriptionId));
  }

  private heartbeat(subscription: Subscription): void {
    subscription.lastSentMs = this.now();
    this.deliver(
      subscription,
      subscription.nextSeq,
      subscription.nextSeq - 1,
      new Uint8Array(0),
      0,
    );
  }

  private async pump(subscription: Subscription): Promise<void> {
    if (subscription.pumping) return;
    subscription.pumping = true;
    try {
      while (!this.closed && this.subscriptions.get(subscription.key) === subscription) {
        // Budget: a bounded number of bytes waits in the send queue per
        // subscriber; a waiting NACK first lets what is queued leave.
        if (subscription.queuedBytes >= LIMITS.subscriberMaxQueuedBytes) return;
        if (subscription.pendingRewindSeq !== null || subscription.stalled) return;
        const fromSeq = subscription.nextSeq;
        const limitSeq = Math.min(
          this.commitSeq,
          subscription.ackedSeq + subscription.windowEntries,
        );
        if (fromSeq > limitSeq) return;
        const toSeq = Math.min(limitSeq, fromSeq + LIMITS.maxDeliveryBatchEntries - 1);
        if (subscription.topics === null) {
          // Every data entry goes: the delivery is cut from the packed log
          // in memory as it is, without an object per entry.
          const slice = new PackedSlice(
            fromSeq,
            toSeq,
            LIMITS.maxDeliveryBatchBytes,
            subscription.includeControl,
          );
          let held: boolean;
          try {
            held = this.reader.readPacked(slice);
          } catch (error) {
            // As a failed read below: this node cannot serve the range.
            this.remove(subscription);
            this.onReadError(error as Error);
            return;
          }
          if (held) {
            this.deliver(subscription, fromSeq, slice.lastSeq, slice.finish(), slice.entryCount);
            subscription.nextSeq = slice.lastSeq + 1;
            subscription.lastSentMs = this.now();
            continue;
          }
        }
        let entries: Entry[];
        try {
          entries = await this.reader.read(fromSeq, toSeq, LIMITS.maxDeliveryBatchBytes);
        } catch (error) {
          if (!(error instanceof LogRangeError)) {
            // This node cannot serve the range: the subscriber hears nothing,
            // times out and resumes on another broker; the host decides
            // whether the node itself must stop.
            this.remove(subscription);
            this.onReadError(error as Error);
            return;
          }
          this.remove(subscription);
          this.sendSeqUnavailable(
            subscription.client,
            0,
            subscription.id,
            fromSeq,
            error.firstAvailableSeq,
          );
          return;
        }
        if (entries.length === 0) return;
        // A NACK may have moved the position while we read: start over from there.
        if (subscription.nextSeq !== fromSeq || subscription.pendingRewindSeq !== null) continue;
        const lastSeq = entries[entries.length - 1]!.seq;
        const matching = entries.filter((e) => this.matches(subscription, e));
        this.deliver(
          subscription,
          fromSeq,
          lastSeq,
          encodePackedEntries(matching),
          matching.length,
        );
        subscription.nextSeq = lastSeq + 1;
        subscription.lastSentMs = this.now();
      }
    } finally {
      subscription.pumping = false;
    }
  }

  private matches(subscription: Subscription, entry: Entry): boolean {
    if (entry.kind !== EntryKind.data) return subscription.includeControl;
    return subscription.topics === null || subscription.topics.has(entry.topic);
  }

  /**
   * Sends a delivery of `entryCount` packed entries covering `fromSeq` to
   * `toSeq`; their packed bytes, a fixed overhead per entry and one per
   * delivery count toward the subscriber's queued bytes.
   */
  private deliver(
    subscription: Subscription,
    fromSeq: number,
    toSeq: number,
    packedEntries: Uint8Array,
    entryCount: number,
  ): void {
    if (entryCount > 0 && this.faults.dropDelivery()) {
      this.deliveriesDropped++;
      return;
    }
    const bytes = deliveryOverheadBytes + entryCount * entryOverheadBytes + packedEntries.length;
    subscription.queuedBytes += bytes;
    const queued = this.send(
      subscription.client,
      {
        requestId: 0,
        delivery: {
          subscriptionId: subscription.id,
          fromSeq,
          toSeq,
          packedEntries,
          commitSeq: this.commitSeq,
        },
      },
      (sent) => this.onDeliveryLeft(subscription, bytes, sent),
    );
    // Dropped (a full queue): the subscriber notices the gap and NACKs.
    if (!queued) subscription.queuedBytes -= bytes;
  }

  private sendSeqUnavailable(
    client: ClientId,
    requestId: number,
    subscriptionId: number,
    seq: number,
    firstSeq: number,
  ): void {
    this.send(client, {
      requestId,
      error: {
        code: ordo.ErrorCode.ERROR_CODE_SEQ_UNAVAILABLE,
        message: `seq ${seq} is no longer in the log: the oldest available seq is ${firstSeq}; a replica can start from a snapshot instead`,
        firstAvailableSeq: firstSeq,
        subscriptionId,
      },
    });
  }

  private sendError(
    client: ClientId,
    requestId: number,
    subscriptionId: number,
    code: ordo.ErrorCode,
    message: string,
  ): void {
    this.send(client, { requestId, error: { code, message, subscriptionId } });
  }
}

function subscriptionKey(client: ClientId, subscriptionId: number): string {
  return `${client.toString('hex')}/${subscriptionId}`;
}
