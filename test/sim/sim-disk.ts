import {
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
 */
export class SimDisk {
  /** The log as reads see it (synced and unsynced writes). */
  private log: Entry[] = [];
  /** The first `syncedPrefixLength` entries of `log` are exactly the synced ones... */
  private syncedPrefixLength = 0;
  /** ...followed by these, which unsynced truncations hid from `log`. */
  private syncedTail: Entry[] = [];
  private unsynced: UnsyncedWrite[] = [];
  private hardState: HardState = EMPTY_RECOVERED_STATE.hardState;

  get lastSeq(): number {
    return this.log.length;
  }

  get unsyncedWriteCount(): number {
    return this.unsynced.length;
  }

  /** Removes entries above `truncateAfter` (when not null), then appends `entries`; nothing is durable yet. */
  write(truncateAfter: number | null, entries: readonly Entry[]): void {
    if (truncateAfter !== null && truncateAfter < this.log.length) {
      invariant(truncateAfter >= 0, `truncation to ${truncateAfter} is below the log start`);
      if (truncateAfter < this.syncedPrefixLength) {
        this.syncedTail = this.log
          .slice(truncateAfter, this.syncedPrefixLength)
          .concat(this.syncedTail);
        this.syncedPrefixLength = truncateAfter;
      }
      this.log.length = truncateAfter;
      this.unsynced.push({ kind: 'truncate', afterSeq: truncateAfter });
    }
    for (const entry of entries) {
      invariant(
        entry.seq === this.log.length + 1,
        `append of seq ${entry.seq} after ${this.log.length}`,
      );
      this.log.push(entry);
      this.unsynced.push({ kind: 'append', entry });
    }
  }

  /** Writes `count` of the pending work only (a crash in the middle of a write), without syncing. */
  writePartially(truncateAfter: number | null, entries: readonly Entry[], count: number): void {
    if (count <= 0) return;
    const truncates = truncateAfter !== null && truncateAfter < this.log.length ? 1 : 0;
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
   * Loses power: keeps the synced log plus a random prefix of the writes
   * made since. Returns how many unsynced writes were lost.
   */
  crash(prng: Prng): number {
    const kept = prng.int(0, this.unsynced.length);
    const log = this.log.slice(0, this.syncedPrefixLength).concat(this.syncedTail);
    for (const write of this.unsynced.slice(0, kept)) {
      if (write.kind === 'truncate') log.length = Math.min(log.length, write.afterSeq);
      else {
        invariant(
          write.entry.seq === log.length + 1,
          `replayed append of seq ${write.entry.seq} after ${log.length}`,
        );
        log.push(write.entry);
      }
    }
    const lost = this.unsynced.length - kept;
    this.log = log;
    this.sync();
    return lost;
  }

  /** Entries in [fromSeq, toSeq] that the log holds, contiguous from fromSeq (empty when it holds none). */
  read(fromSeq: number, toSeq: number): Entry[] {
    invariant(fromSeq >= 1, `read from seq ${fromSeq}`);
    return this.log.slice(fromSeq - 1, Math.min(toSeq, this.log.length));
  }

  entryAt(seq: number): Entry | undefined {
    return this.log[seq - 1];
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
      firstSeq: 1,
      lastSeq: this.log.length,
      epochBeforeFirst: 0,
      epochStarts,
      lastTimestampMs,
      // The whole log: the simulated logs are short, and a partial window
      // would let a retry of an older message look like a new one.
      recentEntries: this.log.slice(),
    };
  }
}
