import type { ClientRuntime } from '../../clients/client-runtime.js';
import { type PublishAck, Publisher } from '../../clients/publisher.js';
import { payloadHex } from './history.js';
import type { Prng } from './prng.js';
import type { PublisherPlan } from './seed-plan.js';
import type { SimStats } from './sim-stats.js';

const TOPICS = ['orders', 'prices', 'audit'] as const;
/** Most messages one publishManySettled() call of the simulator holds. */
const MAX_BATCH_MESSAGES = 8;

/** What the world records of a publisher's outcomes. */
export interface PublisherRecorder {
  readonly stats: SimStats;
  readonly onAck: (publisherId: string, payload: string, seq: number | null) => void;
}

/**
 * Drives one real `Publisher` over the simulated network and clock: it
 * publishes unique payloads (`<id>:<n>`) at the seed's rate while it has
 * room in its window, and records every outcome. Retries, producer
 * sessions, leader hints and moving between brokers are the client's own.
 */
export class SimPublisherDriver {
  private readonly publisher: Publisher;
  private inFlight = 0;
  private nextIndex = 1;
  private creating = true;
  private messagesLeft = 0;
  /** Payloads in the order they were published, as hex. */
  readonly published: string[] = [];
  /** Payloads (hex) whose publish failed with UncertainOutcomeError: they may be in the log anywhere later. */
  readonly uncertain = new Set<string>();

  constructor(
    readonly id: string,
    brokers: readonly string[],
    private readonly plan: PublisherPlan,
    private readonly prng: Prng,
    runtime: ClientRuntime,
    private readonly recorder: PublisherRecorder,
  ) {
    this.publisher = new Publisher({
      brokers,
      runtime,
      maxInFlightMessages: plan.windowMessages,
      maxBatchMessages: plan.windowMessages,
      requestTimeoutMs: plan.requestTimeoutMs,
      publishTimeoutMs: plan.publishTimeoutMs,
    });
  }

  get done(): boolean {
    return !this.creating && this.messagesLeft === 0 && this.inFlight === 0;
  }

  describeOutstanding(): string {
    return `${this.id}: ${this.inFlight} in flight, ${this.messagesLeft} still to publish`;
  }

  /** Stops publishing at random and sends exactly `count` more messages (after the heal). */
  finishWith(count: number): void {
    this.creating = false;
    this.messagesLeft = count;
  }

  tick(): void {
    if (this.creating) {
      const left = this.plan.maxMessages - this.published.length;
      if (left <= 0) return;
      if (this.inFlight >= this.plan.windowMessages) return;
      if (!this.prng.chance(this.plan.publishChancePerTick)) return;
      this.publishSome(left);
      return;
    }
    while (this.messagesLeft > 0 && this.inFlight < this.plan.windowMessages) {
      this.messagesLeft -= this.publishSome(this.messagesLeft);
    }
  }

  /** Publishes one message, or, in the plan's share of turns, a batch of up to `most`; returns how many. */
  private publishSome(most: number): number {
    const room = Math.min(most, this.plan.windowMessages - this.inFlight, MAX_BATCH_MESSAGES);
    if (room >= 2 && this.prng.chance(this.plan.publishManyShare)) {
      const count = this.prng.int(2, room);
      this.publishBatch(count);
      return count;
    }
    this.publishOne();
    return 1;
  }

  close(): void {
    void this.publisher.close();
  }

  private publishOne(): void {
    const { topic, payload, hex } = this.nextMessage();
    this.publisher.publish(topic, payload).then(
      (ack) => this.onAck(hex, ack),
      (error: Error) => this.onFailure(hex, error),
    );
  }

  /** Publishes `count` messages with one publishManySettled() call, recording each outcome as publishOne does. */
  private publishBatch(count: number): void {
    const messages = Array.from({ length: count }, () => this.nextMessage());
    this.recorder.stats.publishBatches++;
    this.publisher.publishManySettled(messages).then(
      (outcomes) => {
        if (outcomes.length !== count)
          throw new Error(`publishManySettled gave ${outcomes.length} outcomes for ${count}`);
        outcomes.forEach((outcome, i) => {
          if (outcome.ok) this.onAck(messages[i]!.hex, outcome.ack);
          else this.onFailure(messages[i]!.hex, outcome.error);
        });
      },
      // Refused as a whole before anything was queued: none of them was sent.
      (error: Error) => {
        for (const message of messages) this.onFailure(message.hex, error);
      },
    );
  }

  private nextMessage(): { topic: string; payload: Uint8Array; hex: string } {
    const text = `${this.id}:${this.nextIndex++}`;
    const payload = new TextEncoder().encode(text);
    const hex = payloadHex(payload);
    this.published.push(hex);
    this.inFlight++;
    this.recorder.stats.publishes++;
    return { topic: this.prng.pick(TOPICS), payload, hex };
  }

  private onAck(hex: string, ack: PublishAck): void {
    this.inFlight--;
    if (ack.duplicate) this.recorder.stats.duplicateProposals++;
    if (ack.seq === 0) this.recorder.stats.acksWithoutSeq++;
    this.recorder.onAck(this.id, hex, ack.seq === 0 ? null : ack.seq);
  }

  private onFailure(hex: string, error: Error): void {
    this.inFlight--;
    if (error.name === 'UncertainOutcomeError') this.uncertain.add(hex);
    this.recorder.stats.publishesFailed++;
    const name = error.name;
    this.recorder.stats.publishFailuresByKind[name] =
      (this.recorder.stats.publishFailuresByKind[name] ?? 0) + 1;
  }
}
