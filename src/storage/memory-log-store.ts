import { invariant } from '../core/assert.js';
import { type Entry, type HardState, payloadBytesOf } from '../core/types.js';
import type { PackedSlice } from '../wire/packed-slice.js';
import {
  type DamagedRange,
  LogRangeError,
  type LogStore,
  type MetaStore,
  type RecoveredLog,
} from './log-store.js';
import { PackedEntryRuns } from './packed-entry-runs.js';

/**
 * A log held in memory, for `fsync=none` development clusters and tests. It
 * keeps at most `maxEntries` committed entries (older ones are dropped by
 * `applyRetention`), so memory stays bounded, and keeps them packed
 * (`PackedEntryRuns`): a write packs its entries once, a read unpacks the
 * ones it returns.
 */
export class MemoryLogStore implements LogStore {
  /** The log, as packed runs (one object per run, not per entry). */
  private readonly entries = new PackedEntryRuns(1);

  constructor(private readonly maxEntries: number) {}

  async open(): Promise<RecoveredLog> {
    return this.recovered();
  }

  /** A memory log starts empty and is never damaged. */
  async recovered(): Promise<RecoveredLog> {
    return {
      firstSeq: this.entries.firstSeq,
      lastSeq: this.entries.lastSeq,
      epochBeforeFirst: 0,
      epochStarts: [],
      lastTimestampMs: 0,
      recentEntries: [],
    };
  }

  async write(truncateAfter: number | null, entries: readonly Entry[]): Promise<void> {
    if (truncateAfter !== null && truncateAfter < this.entries.lastSeq) {
      invariant(truncateAfter >= this.entries.firstSeq - 1, 'truncation below the log start');
      this.entries.truncateAfter(truncateAfter);
    }
    this.entries.append(entries);
  }

  async read(fromSeq: number, toSeq: number, maxBytes: number): Promise<Entry[]> {
    if (fromSeq < this.entries.firstSeq) throw new LogRangeError(fromSeq, this.entries.firstSeq);
    const out: Entry[] = [];
    let bytes = 0;
    this.entries.read(fromSeq, toSeq, (entry) => {
      const payloadBytes = payloadBytesOf(entry);
      if (out.length > 0 && bytes + payloadBytes > maxBytes) return false;
      bytes += payloadBytes;
      out.push(entry);
      return true;
    });
    return out;
  }

  readPacked(slice: PackedSlice): boolean {
    return this.entries.copyInto(slice);
  }

  async reset(firstSeq: number): Promise<void> {
    this.entries.clear(firstSeq);
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
    return this.entries.firstSeq;
  }

  lastSeq(): number {
    return this.entries.lastSeq;
  }

  async applyRetention(commitSeq: number): Promise<number> {
    const first = this.entries.firstSeq;
    const droppable = Math.min(this.entries.size - this.maxEntries, commitSeq - first + 1);
    if (droppable > 0) this.entries.dropBefore(first + droppable);
    return this.entries.firstSeq;
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
