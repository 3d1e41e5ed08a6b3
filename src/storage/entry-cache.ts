import { invariant } from '../core/assert.js';
import type { Entry } from '../core/types.js';

/** Rough cost of an entry's object and fields beyond its payload, for the byte bound. */
const ENTRY_OVERHEAD_BYTES = 128;

export function cachedEntryBytes(entry: Entry): number {
  return (
    entry.payload.length + 2 * (entry.topic.length + entry.producerId.length) + ENTRY_OVERHEAD_BYTES
  );
}

/**
 * The most recent entries of the log, decoded, so that delivery and
 * retransmission of recent entries never touch the disk. It always holds a
 * contiguous run that ends at the log's last seq (possibly empty), bounded
 * by an entry count and a byte count: the oldest entries leave first.
 */
export class EntryCache {
  private items: Entry[] = [];
  /** Index in `items` of the oldest cached entry; the array is compacted when it grows past half. */
  private head = 0;
  private first: number;
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    nextSeq: number,
  ) {
    invariant(maxEntries >= 0 && maxBytes >= 0, 'cache bounds must not be negative');
    this.first = nextSeq;
  }

  /** Seq of the oldest cached entry; lastSeq + 1 when empty. */
  get firstSeq(): number {
    return this.first;
  }

  get lastSeq(): number {
    return this.first + this.size - 1;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get(seq: number): Entry | undefined {
    if (seq < this.first || seq > this.lastSeq) return undefined;
    return this.items[this.head + seq - this.first];
  }

  append(entry: Entry): void {
    invariant(
      entry.seq === this.lastSeq + 1,
      `cache append of seq ${entry.seq} after ${this.lastSeq}`,
    );
    this.items.push(entry);
    this.bytes += cachedEntryBytes(entry);
    while (this.size > 0 && (this.size > this.maxEntries || this.bytes > this.maxBytes))
      this.dropOldest();
    this.compact();
  }

  /** Forgets every entry above `seq`; below the cached run, the cache empties and restarts after `seq`. */
  truncateAfter(seq: number): void {
    if (seq >= this.lastSeq) return;
    if (seq < this.first) {
      this.items = [];
      this.head = 0;
      this.bytes = 0;
      this.first = seq + 1;
      return;
    }
    while (this.lastSeq > seq) this.bytes -= cachedEntryBytes(this.items.pop()!);
  }

  /** Forgets every entry below `seq` (retention). */
  dropBefore(seq: number): void {
    while (this.size > 0 && this.first < seq) this.dropOldest();
    if (this.size === 0 && this.first < seq) this.first = seq;
    this.compact();
  }

  private dropOldest(): void {
    const entry = this.items[this.head]!;
    this.items[this.head] = undefined as unknown as Entry;
    this.head++;
    this.first++;
    this.bytes -= cachedEntryBytes(entry);
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
