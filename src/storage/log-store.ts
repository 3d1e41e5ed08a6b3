import type { Entry, HardState, RecoveredState } from '../core/types.js';
import type { PackedSlice } from '../wire/packed-slice.js';

/** Seqs whose records are damaged on disk and must be repaired from a peer (inclusive). */
export interface DamagedRange {
  readonly fromSeq: number;
  readonly toSeq: number;
}

/**
 * What a log store found on open, minus the hard state (kept by the
 * MetaStore), and the damaged records it found (none when absent).
 */
export type RecoveredLog = Omit<RecoveredState, 'hardState'> & {
  readonly damaged?: readonly DamagedRange[];
};

/**
 * A node's log of entries. The host calls `write` once per Ready, in order,
 * and never calls it again before the previous call resolved. Reads may run
 * concurrently with a write and see every entry passed to `write` so far.
 */
export interface LogStore {
  /** Reads and validates what is stored; called once, before anything else. */
  open(): Promise<RecoveredLog>;
  /**
   * Removes entries above `truncateAfter` (when not null), then appends
   * `entries` (contiguous, continuing the log). Resolves once they are as
   * durable as the store's fsync policy promises.
   */
  write(truncateAfter: number | null, entries: readonly Entry[]): Promise<void>;
  /**
   * Entries from `fromSeq` up to `toSeq` (inclusive), in order, stopping early
   * once `maxBytes` of payload is reached (always at least one entry when
   * any is in range). Throws LogRangeError when `fromSeq` is below firstSeq().
   */
  read(fromSeq: number, toSeq: number, maxBytes: number): Promise<Entry[]>;
  /**
   * Adds the entries from `slice.nextSeq` on to `slice` as packed bytes,
   * without building an entry, when the store holds them in memory; false
   * (nothing added) when it would have to read them from disk, or no longer
   * holds them (then `read` says which).
   */
  readPacked(slice: PackedSlice): boolean;
  /**
   * Forgets every entry and starts the log empty at `firstSeq`, the entry
   * before it having epoch `epochBeforeFirst` (the sequencer no longer holds
   * what this node lacks). Durable when it resolves.
   */
  reset(firstSeq: number, epochBeforeFirst: number): Promise<void>;
  /**
   * Seqs whose records are damaged on disk, ascending: found by open() or
   * by a later read. Reading one throws DamagedRecordError.
   */
  damagedRanges(): readonly DamagedRange[];
  /**
   * Writes good copies of damaged records, fetched from a peer, back in
   * place, once each fits the log's hash chain; durable when it resolves.
   * Entries for seqs that are not damaged are ignored. Rejects with
   * RepairRejectedError, writing nothing, when any entry does not fit.
   */
  repair(entries: readonly Entry[]): Promise<{ repaired: number }>;
  /**
   * How many leading entries of `copy`, which starts at the first seq of a
   * damaged record, are the entries that were written there (checked
   * against the record's per-entry digests); null when that cannot be told
   * (its header is damaged too). Absent: the store has no such records.
   */
  matchDamaged?(copy: readonly Entry[]): Promise<number | null>;
  /**
   * Cuts the log inside a damaged record: keeps `keep` (its first entries,
   * as matchDamaged accepts them) and removes everything after, durably.
   */
  cutDamaged?(keep: readonly Entry[]): Promise<void>;
  /** What open() returned, as the log stands now (after repairs). */
  recovered(): Promise<RecoveredLog>;
  /** First seq still held (lastSeq() + 1 when empty). */
  firstSeq(): number;
  lastSeq(): number;
  /**
   * Drops old entries under the retention policy, never above `commitSeq`.
   * Returns the new firstSeq.
   */
  applyRetention(commitSeq: number, nowMs: number): Promise<number>;
  /**
   * Why a write is waiting to be tried again (out of disk space or file
   * descriptors), or null. Meanwhile the write has not resolved: the host
   * acknowledges none of its entries. Absent: writes never wait.
   */
  writeProblem?(): string | null;
  /** Writes that failed for want of space or descriptors and were tried again. */
  writeFailures?(): number;
  /** A write waiting to be tried again fails at once: the host is stopping. */
  interruptWrites?(): void;
  close(): Promise<void>;
}

/** Holds the epoch, the vote and the commit point. `save` is durable when it resolves. */
export interface MetaStore {
  load(): Promise<HardState>;
  save(state: HardState): Promise<void>;
  close(): Promise<void>;
}

export class LogRangeError extends Error {
  override readonly name = 'LogRangeError';
  readonly retriable = false;
  constructor(
    readonly requestedSeq: number,
    readonly firstAvailableSeq: number,
  ) {
    super(
      `seq ${requestedSeq} is no longer in the log: the oldest available seq is ${firstAvailableSeq}`,
    );
  }
}
