import { invariant } from '../core/assert.js';
import type { Entry } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { decodePackedEntries, encodePackedEntries } from '../wire/packed-entries.js';
import type { PackedSlice } from '../wire/packed-slice.js';
import { packedSourceAt, rememberPackedSource } from '../wire/packed-source.js';

/** One stored run: consecutive entries from `firstSeq`, packed as appends carry them. */
interface StoredRun {
  readonly firstSeq: number;
  readonly count: number;
  readonly bytes: Uint8Array;
}

/** What a dropped run's slot holds until the array is cut, so its bytes are released at once. */
const DROPPED: StoredRun = { firstSeq: 0, count: 0, bytes: new Uint8Array(0) };

/**
 * Consecutive entries of a log held in memory as packed runs (the byte form
 * appends and deliveries carry, `packed-entries.ts`), not as one object per
 * entry. A log that kept hundreds of thousands of entry objects, each with
 * a view of its payload, spent more CPU in the garbage collector moving and
 * marking them than in anything it did with them; a run of up to
 * `LIMITS.memoryRunEntries` entries is two objects. Reads decode the runs
 * they touch, building objects only for the seqs asked for.
 *
 * It always holds a contiguous range of seqs (possibly empty). Writes add at
 * the end; truncation cuts the end, retention the start; a cut inside a run
 * packs the part that stays again.
 */
export class PackedEntryRuns {
  private runs: StoredRun[] = [];
  /** Index of the oldest live run; runs before it were dropped and are cut off in one slice. */
  private head = 0;
  private first: number;
  private count = 0;
  private bytes = 0;

  /** Starts empty; the first entry appended must have seq `nextSeq`. */
  constructor(nextSeq: number) {
    this.first = nextSeq;
  }

  /** Seq of the oldest entry held; lastSeq + 1 when empty. */
  get firstSeq(): number {
    return this.first;
  }

  get lastSeq(): number {
    return this.first + this.count - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.count;
  }

  /** Packed bytes held. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Adds entries that continue the held range (seqs lastSeq + 1, lastSeq + 2, ...). */
  append(entries: readonly Entry[]): void {
    const next = this.lastSeq + 1;
    for (let i = 0; i < entries.length; i++) {
      // Checked before building the message: this runs for every entry.
      const seq = entries[i]!.seq;
      if (seq !== next + i) invariant(false, `append of seq ${seq} after ${next + i - 1}`);
    }
    const perRun = LIMITS.memoryRunEntries;
    let start = 0;
    while (start < entries.length) {
      // Entries exactly as a received append held them keep its bytes.
      const source = packedSourceAt(entries, start);
      if (source !== null && source.count <= perRun) {
        this.push({ firstSeq: next + start, count: source.count, bytes: source.bytes });
        start += source.count;
        continue;
      }
      // Otherwise pack the entries up to the next that starts known bytes.
      let end = start + 1;
      while (end < entries.length && end - start < perRun && packedSourceAt(entries, end) === null)
        end++;
      const part = start === 0 && end === entries.length ? entries : entries.slice(start, end);
      const bytes = encodePackedEntries(part);
      // A sequencer multicasts these same entries next: it sends these bytes.
      rememberPackedSource(part, bytes);
      this.push({ firstSeq: next + start, count: part.length, bytes });
      start = end;
    }
  }

  /**
   * Entries from `fromSeq` to `toSeq` (clipped to what is held), in seq
   * order, for as long as `take` accepts them. Their payloads are views into
   * the stored runs.
   */
  read(fromSeq: number, toSeq: number, take: (entry: Entry) => boolean): void {
    const last = Math.min(toSeq, this.lastSeq);
    let seq = Math.max(fromSeq, this.first);
    if (seq > last) return;
    let index = this.runHolding(seq);
    while (seq <= last) {
      const run = this.runs[index++]!;
      const upTo = Math.min(last, run.firstSeq + run.count - 1);
      for (const entry of this.decode(run, seq, upTo)) if (!take(entry)) return;
      seq = upTo + 1;
    }
  }

  /**
   * Adds the held entries from `slice.nextSeq` on to `slice`, as packed
   * bytes, until it is done or they end; false (and nothing added) when
   * `slice.nextSeq` is not held.
   */
  copyInto(slice: PackedSlice): boolean {
    if (slice.nextSeq < this.first || slice.nextSeq > this.lastSeq) return false;
    let index = this.runHolding(slice.nextSeq);
    while (!slice.done && index < this.runs.length) {
      const run = this.runs[index++]!;
      slice.add(run.bytes, run.firstSeq);
    }
    return true;
  }

  /** Drops every entry after `seq`; below the held range, it empties and restarts after `seq`. */
  truncateAfter(seq: number): void {
    if (seq >= this.lastSeq) return;
    if (seq < this.first) {
      this.clear(seq + 1);
      return;
    }
    const index = this.runHolding(seq);
    for (let i = index + 1; i < this.runs.length; i++) this.bytes -= this.runs[i]!.bytes.length;
    this.runs.length = index + 1;
    const run = this.runs[index]!;
    if (seq < run.firstSeq + run.count - 1) {
      this.runs[index] = this.repack(run, run.firstSeq, seq);
    }
    this.count = seq - this.first + 1;
  }

  /** Drops every entry below `seq` (retention); past the held range, it empties and restarts at `seq`. */
  dropBefore(seq: number): void {
    if (seq <= this.first) return;
    if (seq > this.lastSeq) {
      this.clear(seq);
      return;
    }
    const index = this.runHolding(seq);
    for (let i = this.head; i < index; i++) {
      this.bytes -= this.runs[i]!.bytes.length;
      this.runs[i] = DROPPED;
    }
    this.head = index;
    const run = this.runs[index]!;
    if (seq > run.firstSeq) this.runs[index] = this.repack(run, seq, run.firstSeq + run.count - 1);
    this.count -= seq - this.first;
    this.first = seq;
    this.compact();
  }

  /** Drops the oldest run whole (a cache over its byte bound). */
  dropOldestRun(): void {
    if (this.count === 0) return;
    const run = this.runs[this.head]!;
    this.dropBefore(run.firstSeq + run.count);
  }

  /** Empties it; the next entry appended must have seq `nextSeq`. */
  clear(nextSeq: number): void {
    this.runs = [];
    this.head = 0;
    this.first = nextSeq;
    this.count = 0;
    this.bytes = 0;
  }

  private push(run: StoredRun): void {
    this.runs.push(run);
    this.count += run.count;
    this.bytes += run.bytes.length;
  }

  private decode(run: StoredRun, fromSeq: number, toSeq: number): Entry[] {
    return decodePackedEntries(run.bytes, { firstSeq: run.firstSeq }, 'stored run', {
      window: { fromSeq, toSeq },
    });
  }

  /** The part of `run` from `fromSeq` to `toSeq`, packed on its own (the bytes counted again). */
  private repack(run: StoredRun, fromSeq: number, toSeq: number): StoredRun {
    const bytes = encodePackedEntries(this.decode(run, fromSeq, toSeq));
    this.bytes += bytes.length - run.bytes.length;
    return { firstSeq: fromSeq, count: toSeq - fromSeq + 1, bytes };
  }

  private compact(): void {
    if (this.head > 0 && this.head * 2 >= this.runs.length) {
      this.runs = this.runs.slice(this.head);
      this.head = 0;
    }
  }

  /** The index of the run holding `seq`, which must be held. */
  private runHolding(seq: number): number {
    if (seq < this.first || seq > this.lastSeq) invariant(false, `seq ${seq} is not held`);
    let low = this.head;
    let high = this.runs.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.runs[mid]!.firstSeq <= seq) low = mid;
      else high = mid - 1;
    }
    return low;
  }
}
