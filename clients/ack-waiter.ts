import type { PublishAck } from './publisher.js';

/** Who hears how an outstanding message ended: the promise of its publish() call, or of its publishMany() call. */
export interface AckWaiter {
  /** Message `index` of the call was acknowledged. */
  ack(index: number, ack: PublishAck): void;
  fail(error: Error): void;
}

/** The promise of one publish(). */
export class SingleAck implements AckWaiter {
  constructor(
    private readonly resolve: (ack: PublishAck) => void,
    private readonly reject: (error: Error) => void,
  ) {}

  ack(_index: number, ack: PublishAck): void {
    this.resolve(ack);
  }

  fail(error: Error): void {
    this.reject(error);
  }
}

/**
 * The promise of one publishMany(): it resolves with every message's ack,
 * in order, once all are acknowledged, and rejects with the first failure
 * (as `Promise.all` over as many publish() calls would, with one promise
 * instead of one per message).
 */
export class ManyAcks implements AckWaiter {
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
