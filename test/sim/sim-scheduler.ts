import { invariant } from '../../src/core/index.js';

/** Who an event belongs to: cancelling an owner (a crashed process) cancels all its events. */
export class EventOwner {
  /** False once the owner is gone: none of its events runs again. */
  alive = true;
  /** While set, the owner's events wait until this virtual time (a paused process). */
  pausedUntilMs = -1;
  constructor(readonly name: string) {}
}

interface ScheduledEvent {
  atMs: number;
  readonly order: number;
  readonly owner: EventOwner | null;
  readonly run: () => void;
  cancelled: boolean;
}

/**
 * Virtual time for one seed: a queue of callbacks ordered by (time, order
 * of scheduling), so that the same seed always runs them in the same order.
 * Nothing here reads the real clock. An event whose owner is paused moves
 * to the end of the pause; one whose owner died is dropped.
 */
export class SimScheduler {
  private heap: ScheduledEvent[] = [];
  private nextOrder = 0;
  private current = 0;
  eventsRun = 0;

  get nowMs(): number {
    return this.current;
  }

  /** Runs `run` at `atMs` (not before now). Returns a cancel function. */
  at(atMs: number, owner: EventOwner | null, run: () => void): () => void {
    const event: ScheduledEvent = {
      atMs: Math.max(atMs, this.current),
      order: this.nextOrder++,
      owner,
      run,
      cancelled: false,
    };
    this.push(event);
    return () => {
      event.cancelled = true;
    };
  }

  after(delayMs: number, owner: EventOwner | null, run: () => void): () => void {
    return this.at(this.current + delayMs, owner, run);
  }

  /**
   * Takes the next event due at or before `untilMs` and runs it; false
   * when there is none. The clock moves to the event's time.
   */
  runNext(untilMs: number): boolean {
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.atMs > untilMs) {
        this.current = Math.max(this.current, Math.min(untilMs, next?.atMs ?? untilMs));
        return false;
      }
      this.pop();
      if (next.cancelled) continue;
      const owner = next.owner;
      if (owner !== null && !owner.alive) continue;
      if (owner !== null && owner.pausedUntilMs > next.atMs) {
        // A paused process runs nothing: the event waits for the resume, in order.
        this.push({ ...next, atMs: owner.pausedUntilMs, order: this.nextOrder++ });
        continue;
      }
      invariant(next.atMs >= this.current, 'virtual time went backwards');
      this.current = next.atMs;
      this.eventsRun++;
      next.run();
      return true;
    }
  }

  private push(event: ScheduledEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): ScheduledEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
}
