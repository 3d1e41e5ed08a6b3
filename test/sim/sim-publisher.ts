import { invariant, type NodeId } from '../../src/core/index.js';
import { payloadHex } from './history.js';
import type { Prng } from './prng.js';
import type { PublisherPlan } from './seed-plan.js';
import type { PublishReply, PublishRequest } from './sim-messages.js';
import type { SimStats } from './sim-stats.js';

export interface PublisherEnvironment {
  readonly stats: SimStats;
  readonly send: (from: string, to: NodeId, request: PublishRequest) => void;
  readonly onAck: (producerId: string, producerSeq: number, seq: number | null) => void;
}

interface Unacked {
  readonly request: PublishRequest;
  lastSentTick: number;
}

const TOPICS = ['orders', 'prices', 'audit'] as const;

/**
 * A publisher as the client library behaves: producerSeq 1, 2, 3, … with at
 * most a window of them unacknowledged, sent to the node it believes is the
 * sequencer. It follows notLeader hints, moves round-robin to the next node
 * when the oldest reply is overdue, and always resends with the same
 * producerSeq and in order, so the sequencer's dedup table can make every
 * retry safe.
 */
export class SimPublisher {
  private nextProducerSeq = 1;
  private readonly unacked = new Map<number, Unacked>();
  private targetIndex: number;
  private resendFromSeq: number | null = null;
  private resendAtTick = 0;
  private creating = true;
  private messagesLeft = 0;
  /** The producer session it publishes as; a new one starts when the cluster forgot the last. */
  private producerId: string;
  private published = new Map<number, string>();
  /** What each of its producer sessions published: producerSeq to payload in hex. */
  readonly sessions = new Map<string, Map<number, string>>();

  constructor(
    readonly id: string,
    private readonly nodeIds: readonly NodeId[],
    private readonly plan: PublisherPlan,
    private readonly prng: Prng,
    private readonly env: PublisherEnvironment,
  ) {
    this.targetIndex = prng.int(0, nodeIds.length - 1);
    this.producerId = id;
    this.sessions.set(id, this.published);
  }

  get done(): boolean {
    return !this.creating && this.messagesLeft === 0 && this.unacked.size === 0;
  }

  /** Stops publishing at random and sends exactly `count` more messages (after the heal). */
  finishWith(count: number): void {
    this.creating = false;
    this.messagesLeft = Math.min(count, this.plan.maxMessages - this.nextProducerSeq + 1);
  }

  describeOutstanding(): string {
    const seqs = [...this.unacked.keys()];
    return `${this.producerId}: ${seqs.length} unacked (producerSeq ${seqs.join(',') || '-'}), ${this.messagesLeft} unsent, target ${this.target}`;
  }

  private get target(): NodeId {
    return this.nodeIds[this.targetIndex]!;
  }

  tick(tick: number): void {
    this.publishNew(tick);
    const oldest = this.unacked.values().next().value;
    if (oldest !== undefined && tick - oldest.lastSentTick >= this.plan.requestTimeoutTicks) {
      // No answer in time: the node may be down or cut off. Try the next one.
      this.env.stats.publisherTimeouts++;
      this.targetIndex = (this.targetIndex + 1) % this.nodeIds.length;
      this.scheduleResend(oldest.request.producerSeq, tick);
    }
    if (this.resendFromSeq !== null && tick >= this.resendAtTick) {
      const from = this.resendFromSeq;
      this.resendFromSeq = null;
      for (const [producerSeq, u] of this.unacked) {
        if (producerSeq < from) continue;
        this.env.stats.publisherRetries++;
        u.lastSentTick = tick;
        this.env.send(this.id, this.target, u.request);
      }
    }
  }

  onReply(from: NodeId, producerId: string, reply: PublishReply, tick: number): void {
    if (reply.kind === 'ack') {
      // Every ack is recorded, repeats included: a repeat with another seq is a violation the checkers find.
      this.env.onAck(producerId, reply.producerSeq, reply.seq);
      if (producerId !== this.producerId) return;
      this.unacked.delete(reply.producerSeq);
      return;
    }
    // Answers about messages already acknowledged, or from a node we have left, are stale.
    if (
      producerId !== this.producerId ||
      !this.unacked.has(reply.producerSeq) ||
      from !== this.target
    )
      return;
    switch (reply.kind) {
      case 'retry':
        this.scheduleResend(reply.producerSeq, tick + 1);
        return;
      case 'notLeader': {
        const hinted = reply.leaderId === null ? -1 : this.nodeIds.indexOf(reply.leaderId);
        this.targetIndex =
          hinted >= 0 && hinted !== this.targetIndex
            ? hinted
            : (this.targetIndex + 1) % this.nodeIds.length;
        this.scheduleResend(reply.producerSeq, tick);
        return;
      }
      case 'outOfOrder':
        if (reply.expectedProducerSeq === 1 && !this.unacked.has(1)) {
          this.startNewSession();
          return;
        }
        // An earlier message never reached the sequencer: resend from there, in order.
        this.scheduleResend(Math.min(reply.producerSeq, reply.expectedProducerSeq), tick);
        return;
    }
  }

  /**
   * The sequencer no longer knows this producer (its dedup table, rebuilt
   * from a log that retention shortened, forgot it) though message 1 was
   * acknowledged. As the client library does, the outstanding messages fail
   * and a new producer session starts at producerSeq 1.
   */
  private startNewSession(): void {
    this.env.stats.publisherSessions++;
    this.env.stats.publishesFailed += this.unacked.size;
    this.unacked.clear();
    this.resendFromSeq = null;
    this.producerId = `${this.id}.${this.sessions.size + 1}`;
    this.published = new Map();
    this.sessions.set(this.producerId, this.published);
    this.nextProducerSeq = 1;
  }

  private publishNew(tick: number): void {
    while (
      this.unacked.size < this.plan.windowMessages &&
      this.nextProducerSeq <= this.plan.maxMessages
    ) {
      if (this.creating) {
        if (!this.prng.chance(this.plan.publishChancePerTick)) return;
      } else if (this.messagesLeft > 0) {
        this.messagesLeft--;
      } else {
        return;
      }
      const producerSeq = this.nextProducerSeq++;
      const payload = new Uint8Array(this.prng.int(0, 16));
      for (let i = 0; i < payload.length; i++) payload[i] = this.prng.int(0, 255);
      const request: PublishRequest = {
        producerId: this.producerId,
        producerSeq,
        topic: this.prng.pick(TOPICS),
        payload,
      };
      this.published.set(producerSeq, payloadHex(payload));
      this.unacked.set(producerSeq, { request, lastSentTick: tick });
      this.env.send(this.id, this.target, request);
      if (this.creating) return;
    }
    invariant(this.unacked.size <= this.plan.windowMessages, `${this.id} overran its window`);
  }

  private scheduleResend(fromProducerSeq: number, atTick: number): void {
    this.resendFromSeq =
      this.resendFromSeq === null ? fromProducerSeq : Math.min(this.resendFromSeq, fromProducerSeq);
    this.resendAtTick = Math.max(this.resendAtTick, atTick);
  }
}
