import type { Clock, TimerHandle } from '../../src/runtime/clock.js';

interface Timer {
  readonly id: number;
  atMs: number;
  readonly intervalMs: number | null;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A virtual clock for unit tests: time stands still until the test moves it
 * with `advance`, which runs every timer that falls due, in time order (ties
 * in the order they were set), letting promise callbacks settle after each.
 * `defer` is a timer due now, so `settle()` runs it without moving time.
 */
export class ManualClock implements Clock {
  private readonly timers: Timer[] = [];
  private nextId = 1;

  constructor(private currentMs = 1_700_000_000_000) {}

  nowMs(): number {
    return this.currentMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return this.add(callback, Math.max(0, delayMs), null);
  }

  setInterval(callback: () => void, intervalMs: number): TimerHandle {
    return this.add(callback, Math.max(1, intervalMs), Math.max(1, intervalMs));
  }

  defer(callback: () => void): void {
    this.add(callback, 0, null);
  }

  /** Runs everything due now (deferred work, zero-delay timers) until nothing more is. */
  async settle(): Promise<void> {
    await this.advance(0);
  }

  /** Moves time forward by `deltaMs`, running each timer at its due time. */
  async advance(deltaMs: number): Promise<void> {
    const untilMs = this.currentMs + deltaMs;
    await flushPromises();
    for (let steps = 0; ; steps++) {
      if (steps > 100_000)
        throw new Error('ManualClock: more than 100000 timers ran in one advance');
      const next = this.nextDue(untilMs);
      if (next === undefined) break;
      this.currentMs = next.atMs;
      if (next.intervalMs === null) next.cancelled = true;
      else next.atMs += next.intervalMs;
      next.callback();
      await flushPromises();
    }
    this.currentMs = untilMs;
  }

  private add(callback: () => void, delayMs: number, intervalMs: number | null): TimerHandle {
    const timer: Timer = {
      id: this.nextId++,
      atMs: this.currentMs + delayMs,
      intervalMs,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  private nextDue(untilMs: number): Timer | undefined {
    let best: Timer | undefined;
    for (let i = this.timers.length - 1; i >= 0; i--) {
      const timer = this.timers[i]!;
      if (timer.cancelled) {
        this.timers.splice(i, 1);
        continue;
      }
      if (timer.atMs > untilMs) continue;
      if (
        best === undefined ||
        timer.atMs < best.atMs ||
        (timer.atMs === best.atMs && timer.id < best.id)
      )
        best = timer;
    }
    return best;
  }
}

/**
 * Lets every promise callback queued so far run, and those they queue in
 * turn: the microtask queue drains completely before the next turn of the
 * event loop. No time passes on the virtual clock.
 */
async function flushPromises(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}
