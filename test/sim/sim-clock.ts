import type { Clock, TimerHandle } from '../../src/runtime/clock.js';
import type { EventOwner, SimScheduler } from './sim-scheduler.js';

/** Virtual wall time starts here, so that log timestamps look like real ones. */
export const SIM_EPOCH_MS = 1_800_000_000_000;

/**
 * One process's view of virtual time: the scheduler's clock plus this
 * process's skew, and timers that belong to the process (they stop when it
 * crashes and wait while it is paused).
 */
export class SimClock implements Clock {
  constructor(
    private readonly scheduler: SimScheduler,
    private readonly owner: EventOwner,
    private readonly skewMs: number,
  ) {}

  nowMs(): number {
    // Whole milliseconds, as Date.now() gives.
    return SIM_EPOCH_MS + Math.floor(this.scheduler.nowMs) + this.skewMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const cancel = this.scheduler.after(Math.max(0, delayMs), this.owner, callback);
    return { cancel };
  }

  setInterval(callback: () => void, intervalMs: number): TimerHandle {
    const period = Math.max(1, intervalMs);
    let cancelNext: () => void = () => {};
    let cancelled = false;
    const fire = (): void => {
      if (cancelled) return;
      // The next firing is scheduled first, so a callback that throws does not stop the timer.
      cancelNext = this.scheduler.after(period, this.owner, fire);
      callback();
    };
    cancelNext = this.scheduler.after(period, this.owner, fire);
    return {
      cancel: () => {
        cancelled = true;
        cancelNext();
      },
    };
  }

  defer(callback: () => void): void {
    this.scheduler.after(0, this.owner, callback);
  }
}
