import type { PublishAck } from './publisher.js';

/** How one message of a publishManySettled() call ended. */
export type PublishOutcome =
  | { readonly ok: true; readonly ack: PublishAck }
  | { readonly ok: false; readonly error: Error };

/**
 * The promise of one publishMany() or publishManySettled() call, with one
 * promise for all its messages instead of one each.
 * - `all` (publishMany): resolves with every message's ack, in order, once
 *   all are acknowledged, and rejects with the first failure, as
 *   `Promise.all` over as many publish() calls would.
 * - `settled` (publishManySettled): resolves once every message has an
 *   outcome, with each message's ack or error in order, as
 *   `Promise.allSettled` would; it never rejects.
 */
export class ManyAcks {
  private readonly acks: PublishAck[] | null;
  private readonly outcomes: PublishOutcome[] | null;
  private remaining: number;
  private settled = false;

  private constructor(
    count: number,
    settledMode: boolean,
    private readonly resolve: (value: never) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.acks = settledMode ? null : new Array(count);
    this.outcomes = settledMode ? new Array(count) : null;
    this.remaining = count;
  }

  static all(
    count: number,
    resolve: (acks: PublishAck[]) => void,
    reject: (error: Error) => void,
  ): ManyAcks {
    return new ManyAcks(count, false, resolve as (value: never) => void, reject);
  }

  static settled(count: number, resolve: (outcomes: PublishOutcome[]) => void): ManyAcks {
    return new ManyAcks(count, true, resolve as (value: never) => void, () => {});
  }

  ack(index: number, ack: PublishAck): void {
    if (this.settled) return;
    if (this.outcomes !== null) this.outcomes[index] = { ok: true, ack };
    else this.acks![index] = ack;
    this.countDown();
  }

  fail(index: number, error: Error): void {
    if (this.settled) return;
    if (this.outcomes !== null) {
      this.outcomes[index] = { ok: false, error };
      this.countDown();
      return;
    }
    this.settled = true;
    this.reject(error);
  }

  private countDown(): void {
    if (--this.remaining > 0) return;
    this.settled = true;
    this.resolve((this.outcomes ?? this.acks) as never);
  }
}
