import { invariant } from '../core/assert.js';
import type { Entry } from '../core/types.js';
import type { PackedSlice } from '../wire/packed-slice.js';
import { PackedEntryRuns } from './packed-entry-runs.js';

/**
 * The most recent entries of the log, packed in memory (`PackedEntryRuns`),
 * so that delivery and retransmission of recent entries never touch the
 * disk. It always holds a contiguous run that ends at the log's last seq
 * (possibly empty), bounded by an entry count and by its packed bytes: the
 * oldest entries leave first, a run at a time.
 */
export class EntryCache {
  private readonly runs: PackedEntryRuns;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    nextSeq: number,
  ) {
    invariant(maxEntries >= 0 && maxBytes >= 0, 'cache bounds must not be negative');
    this.runs = new PackedEntryRuns(nextSeq);
  }

  /** Seq of the oldest cached entry; lastSeq + 1 when empty. */
  get firstSeq(): number {
    return this.runs.firstSeq;
  }

  get lastSeq(): number {
    return this.runs.lastSeq;
  }

  get size(): number {
    return this.runs.size;
  }

  get sizeBytes(): number {
    return this.runs.sizeBytes;
  }

  /**
   * The cached entries from `fromSeq` to `toSeq`, in order, while `take`
   * accepts them; returns the seq after the last one taken (`fromSeq` when
   * the cache does not hold `fromSeq`).
   */
  read(fromSeq: number, toSeq: number, take: (entry: Entry) => boolean): number {
    if (fromSeq < this.firstSeq || fromSeq > this.lastSeq) return fromSeq;
    let next = fromSeq;
    this.runs.read(fromSeq, toSeq, (entry) => {
      if (!take(entry)) return false;
      next = entry.seq + 1;
      return true;
    });
    return next;
  }

  /** Adds the cached entries from `slice.nextSeq` on to `slice`; false when the cache lacks that seq. */
  copyInto(slice: PackedSlice): boolean {
    return this.runs.copyInto(slice);
  }

  /**
   * Adds entries that continue the cached run, then drops the oldest runs,
   * whole, until both bounds hold. A cut inside a run would pack its tail
   * again, which the entry bound made happen on every write (the cut moves
   * with each append): the cache holds up to one run fewer than
   * `maxEntries` instead.
   */
  append(entries: readonly Entry[]): void {
    this.runs.append(entries);
    while (
      this.runs.size > 0 &&
      (this.runs.size > this.maxEntries || this.runs.sizeBytes > this.maxBytes)
    )
      this.runs.dropOldestRun();
  }

  /** Forgets every entry above `seq`; below the cached run, the cache empties and restarts after `seq`. */
  truncateAfter(seq: number): void {
    this.runs.truncateAfter(seq);
  }

  /** Forgets every entry below `seq` (retention). */
  dropBefore(seq: number): void {
    this.runs.dropBefore(seq);
  }
}
