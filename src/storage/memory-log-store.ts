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
   * The entries from `head` on are the log; the prefix before `head` was
   * dropped by retention and is cut off in one slice once it is longer than
   * the live part, so dropping an entry costs O(1), not a copy of the log.
   */
  private entries: (Entry | undefined)[] = [];
  private head = 0;
  /** Seq of entries[head]. */
  private first = 1;

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
      this.entries.length = this.head + truncateAfter - this.first + 1;
    }
    let next = this.lastSeq() + 1;
    for (const entry of entries) {
      // Checked before building the message: this runs for every entry.
      if (entry.seq !== next) invariant(false, `append of seq ${entry.seq} after ${next - 1}`);
      this.entries.push(entry);
      next++;
    }
  }

  async read(fromSeq: number, toSeq: number, maxBytes: number): Promise<Entry[]> {
    if (fromSeq < this.first) throw new LogRangeError(fromSeq, this.first);
    const out: Entry[] = [];
    let bytes = 0;
    const last = Math.min(toSeq, this.lastSeq());
    for (let seq = fromSeq; seq <= last; seq++) {
      const entry = this.entries[this.head + seq - this.first]!;
      if (out.length > 0 && bytes + entry.payload.length > maxBytes) break;
      bytes += entry.payload.length;
      out.push(entry);
    }
    return out;
  }

  async reset(firstSeq: number): Promise<void> {
    this.entries = [];
    this.head = 0;
    this.first = firstSeq;
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
    return this.first + this.entries.length - this.head - 1;
  }

  async applyRetention(commitSeq: number): Promise<number> {
    const excess = this.entries.length - this.head - this.maxEntries;
    const droppable = Math.min(excess, commitSeq - this.first + 1);
    if (droppable > 0) {
      // Dropped entries are released at once (their payloads may be large).
      this.entries.fill(undefined, this.head, this.head + droppable);
      this.head += droppable;
      this.first += droppable;
      if (this.head > this.entries.length - this.head) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
    }
    return this.first;
  }

  async close(): Promise<void> {}
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
