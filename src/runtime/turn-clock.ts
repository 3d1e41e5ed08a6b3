/**
 * A clock read once per turn: the first read in a run of synchronous code
 * and its microtasks reads the underlying clock, every later one in that run
 * gets the same time, and the next microtask checkpoint forgets it. A
 * saturating publisher queues a window's worth of messages in one run and
 * settles a batch's acks in one; a clock read for each was a noticeable
 * share of its CPU, and nothing it times needs finer time than one run.
 */
export class TurnClock {
  private startMs = Number.NaN;
  private turns = 0;
  private readonly forget = (): void => {
    this.startMs = Number.NaN;
    this.turns++;
  };

  constructor(private readonly read: () => number) {}

  /** The time, as read at the start of this run. */
  nowMs(): number {
    if (Number.isNaN(this.startMs)) {
      this.startMs = this.read();
      queueMicrotask(this.forget);
    }
    return this.startMs;
  }

  /** Counts the runs that read this clock: what was made for one run is known by it. */
  get turn(): number {
    return this.turns;
  }
}
