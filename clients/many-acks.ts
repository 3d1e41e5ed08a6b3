import type { PublishAck } from './publisher.js';

/**
 * The promise of one publishMany(): it resolves with every message's ack,
 * in order, once all are acknowledged, and rejects with the first failure
 * (as `Promise.all` over as many publish() calls would, with one promise
 * instead of one per message).
 */
export class ManyAcks {
  private readonly acks: PublishAck[];
  private remaining: number;
  private settled = false;

  constructor(
    count: number,
    private readonly resolve: (acks: PublishAck[]) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.acks = new Array(count);
    this.remaining = count;
  }

  ack(index: number, ack: PublishAck): void {
    if (this.settled) return;
    this.acks[index] = ack;
    if (--this.remaining === 0) {
      this.settled = true;
      this.resolve(this.acks);
    }
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}
