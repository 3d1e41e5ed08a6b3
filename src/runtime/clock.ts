/** A scheduled callback that can be cancelled before it runs. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * Time as the node host and the clients see it. Production uses the system
 * clock and Node's timers; the simulator supplies a virtual clock that only
 * moves when it says so, so that one seed replays a run exactly.
 */
export interface Clock {
  /** Milliseconds since the epoch (wall time in production, virtual time in the simulator). */
  nowMs(): number;
  /** Runs `callback` once after `delayMs`. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  /** Runs `callback` every `intervalMs` until cancelled. */
  setInterval(callback: () => void, intervalMs: number): TimerHandle;
  /** Runs `callback` after the work already queued (as `setImmediate` does). */
  defer(callback: () => void): void;
}

/** A source of uniformly distributed numbers in [0, 1). */
export type Random = () => number;

/** The system clock and Node's timers. */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
  setInterval(callback, intervalMs) {
    const timer = setInterval(callback, intervalMs);
    return { cancel: () => clearInterval(timer) };
  },
  defer(callback) {
    setImmediate(callback);
  },
};

export const systemRandom: Random = Math.random;
