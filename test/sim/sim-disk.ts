import {
  type DedupCheckpoint,
  EMPTY_RECOVERED_STATE,
  type Entry,
  type HardState,
  invariant,
  type RecoveredState,
} from '../../src/core/index.js';
import type { Prng } from './prng.js';

type UnsyncedWrite =
  | { readonly kind: 'truncate'; readonly afterSeq: number }
  | { readonly kind: 'append'; readonly entry: Entry };

/**
 * One node's disk. Log writes land in a page cache first and are durable
 * only once synced; the hard state is saved atomically (write, fsync,
 * rename), so it is either old or new. A crash keeps what was synced plus a
 * random prefix of the writes made since (they reach the platter in order,
 * and a torn last write is dropped by the checksum on open, which is the
 * same as losing it).
 *
 * The log need not start at seq 1: retention drops its oldest entries
 * (`compactBefore`) and a log reset starts it empty after some seq
 * (`resetAfter`). Both are durable at once, like the real store's segment
 * deletions followed by a directory sync, and the disk remembers the epoch
 * of the entry just before its first one.
 */
export class SimDisk {
  /** The log as reads see it (synced and unsynced writes); `log[0]` has seq `base + 1`. */
  private log: Entry[] = [];
  /** Seq of the entry just before the first one held. */
  private base = 0;
  private epochBeforeFirst = 0;
  /** The first `syncedPrefixLength` entries of `log` are exactly the synced ones... */
  private syncedPrefixLength = 0;
  /** ...followed by these, which unsynced truncations hid from `log`. */
  private syncedTail: Entry[] = [];
  private unsynced: UnsyncedWrite[] = [];
  private hardState: HardState = EMPTY_RECOVERED_STATE.hardState;
  /** The last dedup checkpoint whose save completed (a separate small file, replaced atomically). */
  private checkpoint: DedupCheckpoint | null = null;

  get lastSeq(): number {
    return this.base + this.log.length;
  }

  get firstSeq(): number {
    return this.base + 1;
  }

  /** How many entries the log holds. */
  get heldEntries(): number {
    return this.log.length;
  }

  get unsyncedWriteCount(): number {
    return this.unsynced.length;
  }

  /** Removes entries above `truncateAfter` (when not null), then appends `entries`; nothing is durable yet. */
  write(truncateAfter: number | null, entries: readonly Entry[]): void {
    if (truncateAfter !== null && truncateAfter < this.lastSeq) {
      invariant(
        truncateAfter >= this.base,
        `truncation to ${truncateAfter} is below the log start ${this.firstSeq}`,
      );
      const keep = truncateAfter - this.base;
      if (keep < this.syncedPrefixLength) {
        this.syncedTail = this.log.slice(keep, this.syncedPrefixLength).concat(this.syncedTail);
        this.syncedPrefixLength = keep;
      }
      this.log.length = keep;
      this.unsynced.push({ kind: 'truncate', afterSeq: truncateAfter });
    }
    for (const entry of entries) {
      invariant(entry.seq === this.lastSeq + 1, `append of seq ${entry.seq} after ${this.lastSeq}`);
      this.log.push(entry);
      this.unsynced.push({ kind: 'append', entry });
    }
  }

  /** Writes `count` of the pending work only (a crash in the middle of a write), without syncing. */
  writePartially(truncateAfter: number | null, entries: readonly Entry[], count: number): void {
    if (count <= 0) return;
    const truncates = truncateAfter !== null && truncateAfter < this.lastSeq ? 1 : 0;
    this.write(truncateAfter, entries.slice(0, Math.max(0, count - truncates)));
  }

  sync(): void {
    this.syncedPrefixLength = this.log.length;
    this.syncedTail = [];
    this.unsynced = [];
  }

  saveHardState(state: HardState): void {
    this.hardState = state;
  }

  /**
   * Replaces the dedup checkpoint. Atomic like the hard state (the real host
   * writes a temporary file, syncs it and renames it): a crash before this
   * call keeps the previous checkpoint whole.
   */
  saveDedupCheckpoint(checkpoint: DedupCheckpoint): void {
    this.checkpoint = checkpoint;
  }

  get dedupCheckpoint(): DedupCheckpoint | null {
    return this.checkpoint;
  }

  /**
   * Retention: drops every entry below `seq`. Only runs between Readies,
   * when everything written is synced, and only on committed entries (the
   * caller checks), so it never races an unsynced write.
   */
  compactBefore(seq: number): void {
    invariant(this.unsynced.length === 0, 'retention runs only when every write is synced');
    invariant(
      seq > this.firstSeq && seq <= this.lastSeq + 1,
      `compaction before ${seq} is out of range`,
    );
    const dropped = seq - this.firstSeq;
    this.epochBeforeFirst = this.log[dropped - 1]!.epoch;
    this.log = this.log.slice(dropped);
    this.base = seq - 1;
    this.syncedPrefixLength = this.log.length;
  }

  /**
   * Forgets the whole log and starts it empty after `seq` (whose epoch is
   * `epoch`). Durable when it returns: the real store deletes every segment,
   * creates an empty one and syncs the directory before the Ready goes on.
   */
  resetAfter(seq: number, epoch: number): void {
    invariant(this.unsynced.length === 0, 'a log reset comes first in its Ready');
    this.log = [];
    this.base = seq;
    this.epochBeforeFirst = epoch;
    this.syncedPrefixLength = 0;
    this.syncedTail = [];
  }

  /**
   * Power fails while a log reset deletes the segments, newest first: a
   * random prefix of the old log survives, and the new empty log was never
   * created. Returns how many entries were lost.
   */
  tornResetAfter(prng: Prng): number {
    invariant(this.unsynced.length === 0, 'a log reset comes first in its Ready');
    const kept = prng.int(0, this.log.length);
    const lost = this.log.length - kept;
    this.log.length = kept;
    this.syncedPrefixLength = kept;
    return lost;
  }

  /**
   * Loses power: keeps the synced log plus a random prefix of the writes
   * made since. Returns how many unsynced writes were lost.
   */
  crash(prng: Prng): number {
    const kept = prng.int(0, this.unsynced.length);
    const log = this.log.slice(0, this.syncedPrefixLength).concat(this.syncedTail);
    for (const write of this.unsynced.slice(0, kept)) {
      if (write.kind === 'truncate') log.length = Math.min(log.length, write.afterSeq - this.base);
      else {
        invariant(
          write.entry.seq === this.base + log.length + 1,
          `replayed append of seq ${write.entry.seq} after ${this.base + log.length}`,
        );
        log.push(write.entry);
      }
    }
    const lost = this.unsynced.length - kept;
    this.log = log;
    this.sync();
    return lost;
  }

  /**
   * Entries in [fromSeq, toSeq] that the log holds, contiguous from fromSeq
   * (empty when it holds none, or when retention dropped fromSeq).
   */
  read(fromSeq: number, toSeq: number): Entry[] {
    invariant(fromSeq >= 1, `read from seq ${fromSeq}`);
    if (fromSeq <= this.base) return [];
    return this.log.slice(fromSeq - this.base - 1, Math.max(0, toSeq - this.base));
  }

  entryAt(seq: number): Entry | undefined {
    return seq <= this.base ? undefined : this.log[seq - this.base - 1];
  }

  /** What a node finds when it opens this disk after a restart. */
  recover(): RecoveredState {
    invariant(
      this.unsynced.length === 0,
      'recovery must follow a crash, which drops unsynced writes',
    );
    const epochStarts: { epoch: number; startSeq: number }[] = [];
    let lastTimestampMs = 0;
    for (const entry of this.log) {
      const last = epochStarts[epochStarts.length - 1];
      if (last === undefined || entry.epoch !== last.epoch)
        epochStarts.push({ epoch: entry.epoch, startSeq: entry.seq });
      lastTimestampMs = Math.max(lastTimestampMs, entry.timestampMs);
    }
    return {
      hardState: this.hardState,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      epochBeforeFirst: this.epochBeforeFirst,
      epochStarts,
      lastTimestampMs,
      // The whole log: the simulated logs are short, and a partial window
      // would let a retry of an older message look like a new one.
      recentEntries: this.log.slice(),
    };
  }
}
