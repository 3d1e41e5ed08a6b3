import { invariant } from '../core/assert.js';
import type { Entry, HardState } from '../core/types.js';
import {
  type DamagedRange,
  LogRangeError,
  type LogStore,
  type MetaStore,
  type RecoveredLog,
} from './log-store.js';

/**
 * A log held in memory, for `fsync=none` development clusters and tests. It
 * keeps at most `maxEntries` committed entries (older ones are dropped by
 * `applyRetention`), so memory stays bounded.
 */
export class MemoryLogStore implements LogStore {
  /**
   * The log as the runs it was written in (a copy of each write's array),
   * from `runs[head]` on: a write of a Ready's thousands of entries is one
   * array copy rather than a push per entry into one ever longer array.
   * The runs before `head` were dropped by retention and are cut off in one
   * slice once they are as many as the live ones.
   */
  private runs: Entry[][] = [];
  /** The seq of each run's first entry. */
  private runFirstSeqs: number[] = [];
  private head = 0;
  /** Seq of the first entry held. */
  private first = 1;
  /** How many entries are held. */
  private count = 0;

  constructor(private readonly maxEntries: number) {}

  async open(): Promise<RecoveredLog> {
    return this.recovered();
  }

  /** A memory log starts empty and is never damaged. */
  async recovered(): Promise<RecoveredLog> {
    return {
      firstSeq: this.first,
      lastSeq: this.lastSeq(),
      epochBeforeFirst: 0,
      epochStarts: [],
      lastTimestampMs: 0,
      recentEntries: [],
    };
  }

  async write(truncateAfter: number | null, entries: readonly Entry[]): Promise<void> {
    if (truncateAfter !== null && truncateAfter < this.lastSeq()) {
      invariant(truncateAfter >= this.first - 1, 'truncation below the log start');
      this.truncateAfter(truncateAfter);
    }
    if (entries.length === 0) return;
    const next = this.lastSeq() + 1;
    for (let i = 0; i < entries.length; i++) {
      // Checked before building the message: this runs for every entry.
      const seq = entries[i]!.seq;
      if (seq !== next + i) invariant(false, `append of seq ${seq} after ${next + i - 1}`);
    }
    this.runs.push(entries.slice());
    this.runFirstSeqs.push(next);
    this.count += entries.length;
  }

  async read(fromSeq: number, toSeq: number, maxBytes: number): Promise<Entry[]> {
    if (fromSeq < this.first) throw new LogRangeError(fromSeq, this.first);
    const out: Entry[] = [];
    const last = Math.min(toSeq, this.lastSeq());
    if (fromSeq > last) return out;
    let bytes = 0;
    let run = this.runHolding(fromSeq);
    let index = fromSeq - this.runFirstSeqs[run]!;
    for (let seq = fromSeq; seq <= last; seq++) {
      if (index >= this.runs[run]!.length) {
        run++;
        index = 0;
      }
      const entry = this.runs[run]![index++]!;
      if (out.length > 0 && bytes + entry.payload.length > maxBytes) break;
      bytes += entry.payload.length;
      out.push(entry);
    }
    return out;
  }

  async reset(firstSeq: number): Promise<void> {
    this.runs = [];
    this.runFirstSeqs = [];
    this.head = 0;
    this.first = firstSeq;
    this.count = 0;
  }

  /** Memory is never damaged. */
  damagedRanges(): readonly DamagedRange[] {
    return [];
  }

  /** Nothing is ever damaged, so every entry is ignored. */
  async repair(): Promise<{ repaired: number }> {
    return { repaired: 0 };
  }

  firstSeq(): number {
    return this.first;
  }

  lastSeq(): number {
    return this.first + this.count - 1;
  }

  async applyRetention(commitSeq: number): Promise<number> {
    const excess = this.count - this.maxEntries;
    const droppable = Math.min(excess, commitSeq - this.first + 1);
    if (droppable <= 0) return this.first;
    const newFirst = this.first + droppable;
    // Whole runs go at once; a run that straddles the new start keeps a copy
    // of its tail, so dropped entries are released at once (their payloads
    // may be large).
    while (
      this.head < this.runs.length &&
      this.runFirstSeqs[this.head]! + this.runs[this.head]!.length <= newFirst
    ) {
      this.runs[this.head] = [];
      this.head++;
    }
    const skip = this.head < this.runs.length ? newFirst - this.runFirstSeqs[this.head]! : 0;
    if (skip > 0) {
      this.runs[this.head] = this.runs[this.head]!.slice(skip);
      this.runFirstSeqs[this.head] = newFirst;
    }
    this.first = newFirst;
    this.count -= droppable;
    if (this.head > 0 && this.head * 2 >= this.runs.length) {
      this.runs = this.runs.slice(this.head);
      this.runFirstSeqs = this.runFirstSeqs.slice(this.head);
      this.head = 0;
    }
    return this.first;
  }

  async close(): Promise<void> {}

  /** Drops every entry after `seq` (at least the log start minus one, below the last seq). */
  private truncateAfter(seq: number): void {
    if (seq < this.first) {
      this.runs = [];
      this.runFirstSeqs = [];
      this.head = 0;
      this.count = 0;
      return;
    }
    const run = this.runHolding(seq);
    const keep = seq - this.runFirstSeqs[run]! + 1;
    if (keep < this.runs[run]!.length) this.runs[run] = this.runs[run]!.slice(0, keep);
    this.runs.length = run + 1;
    this.runFirstSeqs.length = run + 1;
    this.count = seq - this.first + 1;
  }

  /** The index of the run holding `seq`, which must be held. */
  private runHolding(seq: number): number {
    invariant(seq >= this.first && seq <= this.lastSeq(), `seq ${seq} is not held`);
    let low = this.head;
    let high = this.runs.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.runFirstSeqs[mid]! <= seq) low = mid;
      else high = mid - 1;
    }
    return low;
  }
}

export class MemoryMetaStore implements MetaStore {
  private state: HardState = { epoch: 0, votedFor: null, commitSeq: 0 };

  async load(): Promise<HardState> {
    return this.state;
  }

  async save(state: HardState): Promise<void> {
    this.state = state;
  }

  async close(): Promise<void> {}
}
