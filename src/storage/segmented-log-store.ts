import { invariant } from '../core/assert.js';
import { EpochIndex } from '../core/epoch-index.js';
import { type Entry, payloadBytesOf } from '../core/types.js';
import { LIMITS } from '../limits.js';
import type { PackedSlice } from '../wire/packed-slice.js';
import { EntryCache } from './entry-cache.js';
import { validateEntries } from './entry-validator.js';
import { type FileSystem, type FsFile, nodeFileSystem } from './file-system.js';
import { type FsyncPolicy, IntervalFsyncTimer, isFsyncPolicy } from './fsync-policy.js';
import { type RecoveryReport, recoverSegments } from './log-recovery.js';
import { type DamagedRange, LogRangeError, type LogStore, type RecoveredLog } from './log-store.js';
import { type SizedEntry, sizeEntry } from './record-codec.js';
import { SEGMENT_HEADER_BYTES, type Segment } from './segment.js';
import { type ReadSink, SegmentChain } from './segment-chain.js';
import {
  DamagedRecordError,
  InvalidLogRequestError,
  LogStoreUnavailableError,
  RepairRejectedError,
  StorageFailedError,
} from './storage-errors.js';

export interface SegmentedLogStoreOptions {
  /** Directory of the segment files; created when missing. One store per directory. */
  readonly dir: string;
  /** When writes reach stable storage, and so what a power loss can take (see FsyncPolicy). Default 'always'. */
  readonly fsync?: FsyncPolicy;
  /** With fsync 'interval', the longest a write waits for its fsync. Default LIMITS.logFsyncIntervalMs. */
  readonly fsyncIntervalMs?: number;
  /** Told how long each fsync of the log took (for metrics). */
  readonly onSyncMs?: (ms: number) => void;
  /** A new segment starts once the active one would grow past this. Default LIMITS.logSegmentBytes. */
  readonly segmentBytes?: number;
  /** Retention by size; null keeps any size. Default LIMITS.logRetentionBytes. */
  readonly retentionBytes?: number | null;
  /** Retention by age of a segment's newest entry; null keeps any age. Default LIMITS.logRetentionAgeMs. */
  readonly retentionAgeMs?: number | null;
  /** Bounds of the in-memory cache of recent entries. Defaults LIMITS.logCacheEntries and logCacheBytes. */
  readonly cacheEntries?: number;
  readonly cacheBytes?: number;
  /** Bounds of `recentEntries` returned by open(). Defaults LIMITS.logRecoveredEntries and logRecoveredBytes. */
  readonly recoveredEntries?: number;
  readonly recoveredBytes?: number;
  /** Closed segments whose offset index stays in memory. Default LIMITS.logIndexCacheSegments. */
  readonly indexCacheSegments?: number;
  /**
   * Most entries one record holds, 1 to LIMITS.maxLogRecordEntries (the
   * default). 1 writes each entry as a record of its own: more records, more
   * hashing, the finest repair granularity.
   */
  readonly recordEntries?: number;
  /** The file system the segments live on. Default nodeFileSystem (the local disk). */
  readonly fs?: FileSystem;
  /**
   * What a damaged record in the middle of the log does: 'report' (default)
   * notes it in damagedRanges() for repair() and goes on; 'refuse' makes
   * open() (or the read that finds it) throw CorruptLogError.
   */
  readonly damagedRecords?: 'report' | 'refuse';
  /**
   * Scan every record of every segment at open, not only the last segment's,
   * so that damage anywhere is reported at once. Default false: closed
   * segments with a valid sidecar index are trusted until read.
   */
  readonly verifyClosedSegments?: boolean;
  /**
   * False only where the simulator plants the defect 'unchecked-repair':
   * repaired records are then written without being checked against the
   * hash chain. Never set it anywhere else.
   */
  readonly checkRepairsAgainstChain?: boolean;
  /** How the writer loop waits before trying a failed write again (a timer by default). */
  readonly retryWait?: (ms: number) => Promise<void>;
}

type Deferred<T> = { resolve: (value: T) => void; reject: (error: unknown) => void };

type Operation =
  | ({
      kind: 'write';
      truncateAfter: number | null;
      entries: SizedEntry[];
      /** Its truncation was carried out (a batch carried out again after a failed write skips the count). */
      truncated?: boolean;
    } & Deferred<void>)
  | ({ kind: 'sync' } & Deferred<void>)
  | ({ kind: 'retention'; commitSeq: number; nowMs: number } & Deferred<number>)
  | ({ kind: 'reset'; firstSeq: number; epochBeforeFirst: number } & Deferred<void>)
  | ({ kind: 'repair'; candidates: Map<number, SizedEntry> } & Deferred<{ repaired: number }>)
  | ({ kind: 'cutDamaged'; keep: SizedEntry[]; done?: boolean } & Deferred<void>);

/** An operation's own refusal, which rejects that operation alone and leaves the store usable. */
class Refused {
  constructor(readonly error: unknown) {}
}

/**
 * The durable log: an append-only, segmented, checksummed and hash-chained
 * log on disk (see docs/storage.md for the format and recovery rules).
 *
 * `write` changes the log as seen by `read`, `firstSeq` and `lastSeq` at
 * once, and queues the disk work; one writer loop carries queued work out
 * in order, taking everything queued meanwhile as one batch, so concurrent
 * or back-to-back writes share one write syscall per segment and, with
 * fsync 'always', one fdatasync (group commit). Recent entries are served
 * from a bounded cache; older ones with positional reads through the
 * segments' offset indexes, so memory stays bounded however far behind a
 * reader is.
 */
export class SegmentedLogStore implements LogStore {
  private readonly dir: string;
  private readonly fs: FileSystem;
  private readonly tolerateDamage: boolean;
  private readonly verifyClosedSegments: boolean;
  private readonly policy: FsyncPolicy;
  private readonly fsyncIntervalMs: number;
  private readonly recordEntries: number;
  private readonly onSyncMs: (ms: number) => void;
  private readonly segmentBytes: number;
  private readonly retentionBytes: number | null;
  private readonly retentionAgeMs: number | null;
  private readonly cacheEntries: number;
  private readonly cacheBytes: number;
  private readonly recoveredEntries: number;
  private readonly recoveredBytes: number;
  private readonly indexCacheSegments: number;

  private chain: SegmentChain | null = null;
  private epochs: EpochIndex | null = null;
  private cache: EntryCache | null = null;
  /** The log as `write` has shaped it; the disk catches up through the queue. */
  private first = 1;
  private last = 0;
  private queue: Operation[] = [];
  private draining = false;
  /** Settles once every operation queued so far has been carried out. */
  private drained: Promise<void> = Promise.resolve();
  private pendingTruncations = 0;
  private timer: IntervalFsyncTimer | null = null;
  private failure: Error | null = null;
  private state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  private report: RecoveryReport | null = null;

  private readonly checkRepairs: boolean;
  /** Errors thrown by an fsync (of a file or a directory): never retried. */
  private readonly syncErrors = new WeakSet<object>();
  /** Why the writer loop is waiting to try a failed write again (out of space or descriptors), or null. */
  private writeTrouble: string | null = null;
  private failedWrites = 0;
  /** Wakes the writer loop's wait between attempts; set while it waits. */
  private wakeRetry: (() => void) | null = null;
  private retriesInterrupted = false;
  private readonly retryWait: (ms: number) => Promise<void>;

  constructor(options: SegmentedLogStoreOptions) {
    this.checkRepairs = options.checkRepairsAgainstChain ?? true;
    this.dir = options.dir;
    this.fs = watchSyncs(options.fs ?? nodeFileSystem, this.syncErrors);
    this.retryWait =
      options.retryWait ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.tolerateDamage = (options.damagedRecords ?? 'report') === 'report';
    this.verifyClosedSegments = options.verifyClosedSegments ?? false;
    if (
      options.damagedRecords !== undefined &&
      !['report', 'refuse'].includes(options.damagedRecords)
    )
      throw new TypeError(`damagedRecords must be 'report' or 'refuse'`);
    this.policy = options.fsync ?? 'always';
    this.fsyncIntervalMs = options.fsyncIntervalMs ?? LIMITS.logFsyncIntervalMs;
    this.onSyncMs = options.onSyncMs ?? (() => {});
    this.segmentBytes = options.segmentBytes ?? LIMITS.logSegmentBytes;
    this.recordEntries = options.recordEntries ?? LIMITS.maxLogRecordEntries;
    if (
      !Number.isSafeInteger(this.recordEntries) ||
      this.recordEntries < 1 ||
      this.recordEntries > LIMITS.maxLogRecordEntries
    ) {
      throw new InvalidLogRequestError(
        `recordEntries must be an integer from 1 to ${LIMITS.maxLogRecordEntries}, got ${String(options.recordEntries)}`,
      );
    }
    this.retentionBytes =
      options.retentionBytes === undefined ? LIMITS.logRetentionBytes : options.retentionBytes;
    this.retentionAgeMs =
      options.retentionAgeMs === undefined ? LIMITS.logRetentionAgeMs : options.retentionAgeMs;
    this.cacheEntries = options.cacheEntries ?? LIMITS.logCacheEntries;
    this.cacheBytes = options.cacheBytes ?? LIMITS.logCacheBytes;
    this.recoveredEntries = options.recoveredEntries ?? LIMITS.logRecoveredEntries;
    this.recoveredBytes = options.recoveredBytes ?? LIMITS.logRecoveredBytes;
    this.indexCacheSegments = options.indexCacheSegments ?? LIMITS.logIndexCacheSegments;
    if (typeof this.dir !== 'string' || this.dir.length === 0)
      throw new TypeError('dir must be a path');
    if (!isFsyncPolicy(this.policy))
      throw new TypeError(`unknown fsync policy ${String(this.policy)}`);
    requirePositive(this.fsyncIntervalMs, 'fsyncIntervalMs');
    requirePositive(this.segmentBytes, 'segmentBytes');
    if (
      this.segmentBytes <= SEGMENT_HEADER_BYTES ||
      this.segmentBytes > LIMITS.maxLogSegmentBytes
    ) {
      throw new RangeError(
        `segmentBytes must be in (${SEGMENT_HEADER_BYTES}, ${LIMITS.maxLogSegmentBytes}]`,
      );
    }
    if (this.retentionBytes !== null) requirePositive(this.retentionBytes, 'retentionBytes');
    if (this.retentionAgeMs !== null) requirePositive(this.retentionAgeMs, 'retentionAgeMs');
    requirePositive(this.cacheEntries + 1, 'cacheEntries');
    requirePositive(this.cacheBytes + 1, 'cacheBytes');
    requirePositive(this.recoveredEntries + 1, 'recoveredEntries');
    requirePositive(this.recoveredBytes + 1, 'recoveredBytes');
    requirePositive(this.indexCacheSegments, 'indexCacheSegments');
  }

  async open(): Promise<RecoveredLog> {
    invariant(this.state === 'new', 'a log store is opened once');
    this.state = 'opening';
    try {
      return await this.recover();
    } catch (error) {
      // A log that cannot be opened is left as it is on disk, with no file held open.
      this.state = 'closed';
      await this.chain?.close();
      throw error;
    }
  }

  private async recover(): Promise<RecoveredLog> {
    await this.fs.mkdirp(this.dir);
    const { segments, report } = await recoverSegments(this.fs, this.dir, {
      tolerateDamage: this.tolerateDamage,
      verifyClosedSegments: this.verifyClosedSegments,
    });
    const chain = this.chainOver(segments);
    this.chain = chain;
    this.report = report;
    this.first = chain.firstSeq;
    this.last = chain.lastSeq;
    const epochBeforeFirst = chain.oldest.header.epochBeforeFirst;
    const epochStarts = this.collectEpochStarts();
    this.epochs = new EpochIndex(
      this.first,
      this.last,
      epochBeforeFirst,
      epochStarts,
      LIMITS.maxEpochBoundaries,
    );
    const recentEntries = await this.readRecent();
    const damaged = this.damagedRanges();
    this.cache = new EntryCache(
      this.cacheEntries,
      this.cacheBytes,
      this.last - recentEntries.length + 1,
    );
    this.cache.append(recentEntries);
    if (this.policy === 'interval') {
      this.timer = new IntervalFsyncTimer(this.fsyncIntervalMs, () => this.requestSync());
    }
    this.state = 'open';
    return {
      firstSeq: this.first,
      lastSeq: this.last,
      epochBeforeFirst,
      epochStarts,
      lastTimestampMs: chain.active.lastTimestampMs,
      recentEntries,
      ...(damaged.length > 0 ? { damaged } : {}),
    };
  }

  /**
   * What open() returned, as the log stands now: after a repair the epochs
   * of the repaired seqs and the recent entries (which start after the
   * newest damage) are known at last, so a host that repaired its log
   * before starting its core takes this instead.
   */
  async recovered(): Promise<RecoveredLog> {
    invariant(this.state === 'open' && this.chain !== null, 'recovered() needs an open log');
    const chain = this.chain;
    const recentEntries = await this.readRecent();
    const damaged = this.damagedRanges();
    return {
      firstSeq: this.first,
      lastSeq: this.last,
      epochBeforeFirst: chain.oldest.header.epochBeforeFirst,
      epochStarts: this.collectEpochStarts(),
      lastTimestampMs: chain.active.lastTimestampMs,
      recentEntries,
      ...(damaged.length > 0 ? { damaged } : {}),
    };
  }

  /**
   * Seqs whose records are damaged on disk, ascending: found by open() or
   * by a later read from disk. Reading one throws DamagedRecordError.
   */
  damagedRanges(): DamagedRange[] {
    if (this.chain === null) return [];
    const ranges: DamagedRange[] = [];
    for (const span of this.chain.damagedSpans()) {
      if (span.fromSeq > this.last) break;
      const toSeq = Math.min(span.toSeq, this.last);
      const previous = ranges[ranges.length - 1];
      if (previous !== undefined && previous.toSeq + 1 === span.fromSeq) {
        ranges[ranges.length - 1] = { fromSeq: previous.fromSeq, toSeq };
      } else {
        ranges.push({ fromSeq: span.fromSeq, toSeq });
      }
    }
    return ranges;
  }

  /**
   * Writes good copies of damaged records back in place (see
   * SegmentChain.repair for the check against the hash chain), in the
   * writer queue's order with the writes; durable when it resolves. Entries
   * for seqs that are not damaged are ignored. A candidate that does not fit
   * rejects the call with RepairRejectedError and nothing is written; the
   * store stays usable.
   */
  repair(entries: readonly Entry[]): Promise<{ repaired: number }> {
    try {
      this.requireUsable();
      if (!Array.isArray(entries)) throw new InvalidLogRequestError('entries must be an array');
      for (const entry of entries) {
        if (entry === null || typeof entry !== 'object') {
          throw new InvalidLogRequestError('every entry to repair must be an object');
        }
        requireSeqArgument(entry.seq, 'entry seq');
      }
      const sorted = [...entries].sort((a, b) => a.seq - b.seq);
      const candidates = new Map<number, SizedEntry>();
      // Each run of consecutive seqs is validated as entries continuing the one before it.
      let runStart = 0;
      for (let i = 1; i <= sorted.length; i++) {
        if (i < sorted.length && sorted[i]!.seq === sorted[i - 1]!.seq + 1) continue;
        const run = sorted.slice(runStart, i);
        const first = run[0]!;
        for (const sized of validateEntries(run, first.seq - 1, 0)) {
          candidates.set(sized.entry.seq, sized);
        }
        runStart = i;
      }
      return this.enqueue<{ repaired: number }>({ kind: 'repair', candidates });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * How many leading entries of `copy` (starting at the first seq of a
   * damaged record) match the record's per-entry digests; null when that
   * cannot be told (see SegmentChain.matchDamaged).
   */
  async matchDamaged(copy: readonly Entry[]): Promise<number | null> {
    this.requireUsable();
    if (!Array.isArray(copy) || copy.length === 0) return null;
    return this.chain!.matchDamaged(copy.map(sizeEntry));
  }

  /**
   * Cuts the log inside a damaged record, keeping `keep` (its first
   * entries, which must match its per-entry digests) and removing
   * everything after it, durably (see SegmentChain.cutInsideDamaged). In the
   * writer queue's order with writes.
   */
  async cutDamaged(keep: readonly Entry[]): Promise<void> {
    this.requireUsable();
    if (!Array.isArray(keep) || keep.length === 0) {
      throw new InvalidLogRequestError('a cut inside a damaged record keeps at least one entry');
    }
    const first = keep[0]!.seq;
    const range = this.damagedRanges().find((r) => r.fromSeq === first);
    if (range === undefined || keep[keep.length - 1]!.seq >= range.toSeq) {
      throw new InvalidLogRequestError(
        `seqs ${first} to ${keep[keep.length - 1]!.seq} are not the first part of a damaged record`,
      );
    }
    const base = first - 1;
    const epochs = this.epochs!;
    const baseEpoch = epochs.epochAt(base) ?? this.chain!.oldest.header.epochBeforeFirst;
    const sized = validateEntries(keep, base, baseEpoch);
    if ((await this.chain!.matchDamaged(sized)) !== sized.length) {
      throw new RepairRejectedError(
        first,
        "the entries to keep do not match the damaged record's digests",
      );
    }
    // Checked: from here on the change is visible at once, as a truncation's is.
    this.showInMemory(base, sized, true);
    return this.enqueue<void>({ kind: 'cutDamaged', keep: sized });
  }

  /** What open() found and repaired (a torn tail cut off, indexes rebuilt), for the host to log. */
  get recovery(): RecoveryReport | null {
    return this.report;
  }

  write(truncateAfter: number | null, entries: readonly Entry[]): Promise<void> {
    try {
      return this.acceptWrite(truncateAfter, entries);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async read(fromSeq: number, toSeq: number, maxBytes: number): Promise<Entry[]> {
    this.requireUsable();
    requireSeqArgument(fromSeq, 'fromSeq');
    if (typeof toSeq !== 'number' || Number.isNaN(toSeq)) {
      throw new InvalidLogRequestError(`toSeq must be a number, got ${String(toSeq)}`);
    }
    if (typeof maxBytes !== 'number' || Number.isNaN(maxBytes) || maxBytes < 0) {
      throw new InvalidLogRequestError(
        `maxBytes must be a non-negative number, got ${String(maxBytes)}`,
      );
    }
    if (fromSeq < this.first) throw new LogRangeError(fromSeq, this.first);
    const out: Entry[] = [];
    let bytes = 0;
    let full = false;
    const take = (entry: Entry): boolean => {
      const payloadBytes = payloadBytesOf(entry);
      if (out.length > 0 && bytes + payloadBytes > maxBytes) {
        full = true;
        return false;
      }
      bytes += payloadBytes;
      out.push(entry);
      return true;
    };
    const sink: ReadSink = { take, remainingBytes: () => Math.max(0, maxBytes - bytes) };
    let next = fromSeq;
    while (!full && next <= Math.min(toSeq, this.last)) {
      const afterCached = this.cache!.read(next, Math.min(toSeq, this.last), take);
      if (full) break;
      if (afterCached > next) {
        next = afterCached;
        continue;
      }
      let after: number;
      try {
        after = await this.readFromDisk(next, Math.min(toSeq, this.last), sink);
      } catch (error) {
        // What was read before a damaged record is returned; the next read names the damage.
        if (error instanceof DamagedRecordError && out.length > 0) break;
        throw error;
      }
      if (after === next) {
        // Nothing could be read: retention deleted it, or a truncation removed it meanwhile.
        if (next < this.first) throw new LogRangeError(next, this.first);
        break;
      }
      next = after;
    }
    return out;
  }

  /**
   * Serves from the cache of recent entries only: older ones come from disk
   * through `read`, and so does the error of a store that failed or closed.
   */
  readPacked(slice: PackedSlice): boolean {
    if (this.failure !== null || this.state !== 'open') return false;
    if (slice.nextSeq < this.first) return false;
    return this.cache!.copyInto(slice);
  }

  /**
   * Forgets every entry and starts the log empty at `firstSeq`. Visible at
   * once, like `write`; the files follow through the writer queue.
   */
  reset(firstSeq: number, epochBeforeFirst: number): Promise<void> {
    try {
      this.requireUsable();
      // It may start inside the log: a follower whose uncommitted entries
      // conflict with the sequencer's log start drops them too.
      requireSeqArgument(firstSeq, 'firstSeq');
      this.first = firstSeq;
      this.last = firstSeq - 1;
      this.epochs!.resetAfter(firstSeq - 1, epochBeforeFirst);
      this.cache = new EntryCache(this.cacheEntries, this.cacheBytes, firstSeq);
      return this.enqueue<void>({ kind: 'reset', firstSeq, epochBeforeFirst });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  firstSeq(): number {
    return this.first;
  }

  lastSeq(): number {
    return this.last;
  }

  /**
   * Deletes whole closed segments, oldest first, while the log is larger
   * than `retentionBytes` or the segment's newest entry is older than
   * `retentionAgeMs` at `nowMs`; never the active segment and never a
   * segment holding a seq above `commitSeq`. Returns the new firstSeq.
   */
  applyRetention(commitSeq: number, nowMs: number): Promise<number> {
    try {
      this.requireUsable();
      requireSeqArgument(commitSeq, 'commitSeq');
      if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) {
        throw new InvalidLogRequestError(`nowMs must be a finite number, got ${String(nowMs)}`);
      }
      return this.enqueue<number>({ kind: 'retention', commitSeq, nowMs });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The log digest (hex, 16 digits) after `seq`, by default after the last
   * entry written to disk: a CRC32C and a CRC-32 run over every entry from
   * the log's start (record-codec.ts), so equal digests at the same seq
   * mean, but for a 64-bit collision, equal logs up to there, however each
   * node grouped its entries into records. Call it with no write in flight
   * to compare with the log as `lastSeq()` reports it. Seq firstSeq - 1
   * gives the digest the log starts from (zeros for a log starting at seq 1).
   */
  chainHash(seq?: number): string {
    this.requireUsable();
    const chain = this.chain!;
    const at = seq ?? chain.lastSeq;
    requireSeqArgument(at, 'seq');
    if (at < chain.firstSeq - 1) throw new LogRangeError(at, chain.firstSeq);
    if (at > chain.lastSeq) {
      throw new InvalidLogRequestError(
        `seq ${at} is beyond the last seq written, ${chain.lastSeq}`,
      );
    }
    return Buffer.from(chain.logDigest(at)).toString('hex');
  }

  /** Segment files and sizes, for operators and tests. */
  describe(): {
    segments: { file: string; firstSeq: number; lastSeq: number; bytes: number }[];
    totalBytes: number;
  } {
    this.requireUsable();
    const chain = this.chain!;
    return {
      segments: chain.list.map((s) => ({
        file: s.logPath,
        firstSeq: s.firstSeq,
        lastSeq: s.lastSeq,
        bytes: s.endBytes,
      })),
      totalBytes: chain.totalBytes,
    };
  }

  /** Waits for queued writes, syncs what the policy owes (not under 'never') and closes the files. */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closed';
    // A write waiting for space is given up: what it held was never acknowledged.
    this.interruptWrites();
    await this.drained;
    this.timer?.stop();
    const chain = this.chain!;
    if (this.failure === null && this.policy !== 'never') await chain.sync();
    await chain.close();
  }

  // ------------------------------------------------------------ writing

  private acceptWrite(truncateAfter: number | null, entries: readonly Entry[]): Promise<void> {
    this.requireUsable();
    if (!Array.isArray(entries)) throw new InvalidLogRequestError('entries must be an array');
    let base = this.last;
    if (truncateAfter !== null) {
      requireSeqArgument(truncateAfter, 'truncateAfter');
      if (truncateAfter < this.first - 1) {
        throw new InvalidLogRequestError(
          `cannot truncate after seq ${truncateAfter}: the log starts at seq ${this.first}`,
        );
      }
      base = Math.min(base, truncateAfter);
      const damage = this.damagedRanges().find((r) => base >= r.fromSeq && base <= r.toSeq);
      if (damage !== undefined && base < this.last) {
        throw new InvalidLogRequestError(
          `cannot truncate after seq ${base}: its record is damaged; repair it or truncate below ${damage.fromSeq}`,
        );
      }
    }
    const epochs = this.epochs!;
    const baseEpoch = epochs.epochAt(base);
    invariant(baseEpoch !== undefined, `no epoch known for seq ${base}`);
    const sized = validateEntries(entries, base, baseEpoch);
    // Validated: from here on nothing throws, and the change is visible at once.
    const truncating = base < this.last;
    this.showInMemory(base, sized, truncating);
    if (!truncating && sized.length === 0) return Promise.resolve();
    return this.enqueue<void>({
      kind: 'write',
      truncateAfter: truncating ? base : null,
      entries: sized,
    });
  }

  /**
   * Makes a change visible at once, before it reaches the disk: the log now
   * ends at `base` (a truncation, counted until carried out, when
   * `truncating`) and continues with `sized`.
   */
  private showInMemory(base: number, sized: readonly SizedEntry[], truncating: boolean): void {
    const epochs = this.epochs!;
    if (truncating) {
      epochs.truncateAfter(base);
      this.cache!.truncateAfter(base);
      this.last = base;
      this.pendingTruncations++;
    }
    const entries: Entry[] = new Array(sized.length);
    for (let i = 0; i < sized.length; i++) {
      const entry = sized[i]!.entry;
      epochs.append(entry.seq, entry.epoch);
      entries[i] = entry;
    }
    this.cache!.append(entries);
    this.last = base + sized.length;
  }

  private requestSync(): void {
    if (this.state !== 'open' || this.failure !== null) return;
    // A failed sync fails the store; the next write reports it.
    this.enqueue<void>({ kind: 'sync' }).catch(() => {});
  }

  private enqueue<T>(operation: DistributiveOmit<Operation, 'resolve' | 'reject'>): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.queue.push({ ...operation, resolve, reject } as Operation);
    });
    this.drained = promise.then(
      () => {},
      () => {},
    );
    if (!this.draining) void this.drain();
    return promise;
  }

  /** The writer loop: takes everything queued as one batch, carries it out, settles it, repeats. */
  private async drain(): Promise<void> {
    this.draining = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      try {
        const results = await this.carryOutUntilWritten(batch);
        for (let i = 0; i < batch.length; i++) {
          const result = results[i];
          if (result instanceof Refused) batch[i]!.reject(result.error);
          else (batch[i]!.resolve as (value: unknown) => void)(result);
        }
      } catch (cause) {
        this.failure = new StorageFailedError(
          `log store failed writing to ${this.dir}; reopen it from disk`,
          { cause },
        );
        for (const operation of [...batch, ...this.queue.splice(0)]) operation.reject(this.failure);
      }
    }
    invariant(
      this.failure !== null || this.chain!.lastSeq === this.last,
      'disk and memory disagree on the last seq',
    );
    this.draining = false;
  }

  /**
   * Why a write is waiting to be tried again (the disk is full, the quota
   * spent, no file descriptor free), or null: meanwhile nothing queued is
   * written or resolved, so the host acknowledges none of it.
   */
  writeProblem(): string | null {
    return this.writeTrouble;
  }

  /** Writes that failed for want of space or descriptors, since open. */
  writeFailures(): number {
    return this.failedWrites;
  }

  /** A write waiting to be tried again fails at once (StorageFailedError): the host is stopping. */
  interruptWrites(): void {
    this.retriesInterrupted = true;
    this.wakeRetry?.();
  }

  /**
   * Carries the batch out. A write that fails for want of disk space, quota
   * or file descriptors (not an fsync: a failed fsync is never retried) is
   * not the end of the store: the chain is opened again from what is on
   * disk (a partly written record is cut off, as after a crash), and the
   * whole batch is carried out again after a pause, doubling up to
   * LIMITS.resourceRetryMaxMs, until it succeeds. Entries already on disk
   * are not written twice; truncations and resets are carried out again,
   * which changes nothing the second time.
   */
  private async carryOutUntilWritten(batch: readonly Operation[]): Promise<unknown[]> {
    let waitMs: number = LIMITS.resourceRetryBaseMs;
    let reload = false;
    for (;;) {
      try {
        if (reload) {
          await this.reloadChain();
          reload = false;
        }
        const results = await this.carryOut(batch);
        this.writeTrouble = null;
        return results;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        const exhausted =
          code === 'ENOSPC' || code === 'EDQUOT' || code === 'EMFILE' || code === 'ENFILE';
        if (!exhausted || this.syncErrors.has(error as object)) throw error;
        if (this.retriesInterrupted) throw error;
        this.failedWrites++;
        this.writeTrouble = `${code}: ${(error as Error).message}`;
        reload = true;
        await new Promise<void>((resolve) => {
          this.wakeRetry = resolve;
          void this.retryWait(waitMs).then(resolve);
        });
        this.wakeRetry = null;
        if (this.retriesInterrupted) throw error;
        waitMs = Math.min(waitMs * 2, LIMITS.resourceRetryMaxMs);
      }
    }
  }

  /** Opens the chain again from what is on disk, after a failed write left its files in doubt. */
  private async reloadChain(): Promise<void> {
    try {
      await this.chain!.close();
    } catch {
      // Its files are replaced below; a close that fails leaves nothing to keep.
    }
    const { segments } = await recoverSegments(this.fs, this.dir, {
      tolerateDamage: this.tolerateDamage,
      verifyClosedSegments: false,
    });
    this.chain = this.chainOver(segments);
  }

  /** The chain over recovered segments, with this store's settings. */
  private chainOver(segments: Segment[]): SegmentChain {
    return new SegmentChain(
      this.fs,
      this.dir,
      segments,
      this.segmentBytes,
      this.indexCacheSegments,
      this.tolerateDamage,
      this.checkRepairs,
      this.recordEntries,
    );
  }

  private async timedSync(chain: SegmentChain): Promise<void> {
    const startedMs = performance.now();
    await chain.sync();
    this.onSyncMs(performance.now() - startedMs);
  }

  private async carryOut(batch: readonly Operation[]): Promise<unknown[]> {
    const chain = this.chain!;
    const results: unknown[] = [];
    let appends: SizedEntry[] = [];
    const flushAppends = async () => {
      // Carried out again after a failed write: what reached the disk stays.
      const missing = appends.filter((sized) => sized.entry.seq > chain.lastSeq);
      if (missing.length > 0) await chain.append(missing);
      appends = [];
    };
    for (const operation of batch) {
      switch (operation.kind) {
        case 'write':
          if (operation.truncateAfter !== null) {
            await flushAppends();
            await chain.truncateAfter(operation.truncateAfter);
            if (operation.truncated !== true) this.pendingTruncations--;
            operation.truncated = true;
          }
          for (const sized of operation.entries) appends.push(sized);
          results.push(undefined);
          break;
        case 'sync':
          await flushAppends();
          this.timer?.syncStarted();
          await this.timedSync(chain);
          this.timer?.syncDone();
          results.push(undefined);
          break;
        case 'retention':
          await flushAppends();
          results.push(await this.retain(operation.commitSeq, operation.nowMs));
          break;
        case 'reset':
          await flushAppends();
          await chain.reset(operation.firstSeq, operation.epochBeforeFirst);
          results.push(undefined);
          break;
        case 'repair':
          await flushAppends();
          results.push(await this.repairNow(operation.candidates));
          break;
        case 'cutDamaged':
          await flushAppends();
          if (operation.done !== true) {
            await chain.cutInsideDamaged(operation.keep);
            this.pendingTruncations--;
            operation.done = true;
          }
          results.push(undefined);
          break;
      }
    }
    await flushAppends();
    // One fdatasync covers the whole batch (group commit).
    if (this.policy === 'always') await this.timedSync(chain);
    else if (this.policy === 'interval' && chain.isDirty) this.timer!.markDirty();
    return results;
  }

  private async repairNow(
    candidates: Map<number, SizedEntry>,
  ): Promise<{ repaired: number } | Refused> {
    let repaired: Entry[];
    try {
      repaired = await this.chain!.repair(candidates);
    } catch (error) {
      if (error instanceof RepairRejectedError) return new Refused(error);
      throw error;
    }
    // While damaged, the epochs of these seqs were inferred: correct the index if they were wrong.
    const epochs = this.epochs!;
    const wrong = repaired.some((e) => e.seq <= this.last && epochs.epochAt(e.seq) !== e.epoch);
    const chain = this.chain!;
    // Rebuilt only when the disk and memory start alike; otherwise a queued reset or truncation replaces them anyway.
    if (wrong && chain.firstSeq === this.first && this.pendingTruncations === 0)
      this.rebuildEpochs();
    return { repaired: repaired.length };
  }

  /** Rebuilds the epoch index from the segments, keeping what queued writes added beyond them. */
  private rebuildEpochs(): void {
    const chain = this.chain!;
    const beyond = this.epochs!.boundaries.filter((b) => b.startSeq > chain.lastSeq);
    const fromDisk = this.collectEpochStarts();
    this.epochs = new EpochIndex(
      this.first,
      this.last,
      chain.oldest.header.epochBeforeFirst,
      [...fromDisk, ...beyond].filter((b, i, all) => i === 0 || b.epoch > all[i - 1]!.epoch),
      LIMITS.maxEpochBoundaries,
    );
  }

  private async retain(commitSeq: number, nowMs: number): Promise<number> {
    const chain = this.chain!;
    // A truncation queued after this call already shortened the log in memory: never delete past it.
    const limit = Math.min(commitSeq, this.last);
    let total = chain.totalBytes;
    while (chain.segmentCount > 1) {
      const oldest = chain.oldest;
      if (oldest.lastSeq > limit) break;
      const tooBig = this.retentionBytes !== null && total > this.retentionBytes;
      // Log time 0 is no time: epoch-start entries written before any message
      // carry it, and they must not make a segment look decades old.
      const tooOld =
        this.retentionAgeMs !== null &&
        oldest.lastTimestampMs > 0 &&
        nowMs - oldest.lastTimestampMs > this.retentionAgeMs;
      if (!tooBig && !tooOld) break;
      total -= oldest.endBytes;
      await chain.deleteOldest();
    }
    if (chain.firstSeq > this.first) {
      this.first = chain.firstSeq;
      this.epochs!.compactBefore(this.first);
      this.cache!.dropBefore(this.first);
    }
    return this.first;
  }

  // ------------------------------------------------------------ reading

  private async readFromDisk(fromSeq: number, toSeq: number, sink: ReadSink): Promise<number> {
    const chain = this.chain!;
    // The disk lags the log only while the queue runs: wait when what is
    // asked is not written yet, or when a queued truncation may move it.
    if (this.pendingTruncations > 0 || chain.lastSeq < fromSeq) await this.drained;
    if (fromSeq < chain.firstSeq) throw new LogRangeError(fromSeq, chain.firstSeq);
    return chain.read(fromSeq, Math.min(toSeq, chain.lastSeq), sink);
  }

  /** The newest entries, within the recovered-entries bounds, read from disk at open. */
  private async readRecent(): Promise<Entry[]> {
    const chain = this.chain!;
    let start = this.last + 1;
    let bytes = 0;
    newestFirst: for (let i = chain.list.length - 1; i >= 0; i--) {
      const segment = chain.list[i]!;
      if (segment.count === 0) continue;
      const index = await chain.loadIndex(segment);
      for (let seq = segment.lastSeq; seq >= segment.firstSeq; seq--) {
        const frameBytes = index.endOf(seq) - index.startOf(seq);
        if (
          this.last - seq + 1 > this.recoveredEntries ||
          bytes + frameBytes > this.recoveredBytes
        ) {
          break newestFirst;
        }
        bytes += frameBytes;
        start = seq;
      }
    }
    // Recent entries must be contiguous: they start after the newest damage.
    for (const span of chain.damagedSpans()) start = Math.max(start, span.toSeq + 1);
    const out: Entry[] = [];
    if (start > this.last) return out;
    await chain.read(start, this.last, {
      take: (entry) => {
        out.push(entry);
        return true;
      },
      remainingBytes: () => this.recoveredBytes,
    });
    invariant(out.length === this.last - start + 1, 'recent entries could not all be read back');
    return out;
  }

  private collectEpochStarts(): { epoch: number; startSeq: number }[] {
    const chain = this.chain!;
    if (chain.lastSeq < chain.firstSeq) return [];
    const starts: { epoch: number; startSeq: number }[] = [];
    const oldest = chain.oldest;
    if (oldest.epochChanges[0]?.startSeq !== oldest.firstSeq) {
      starts.push({ epoch: oldest.header.epochBeforeFirst, startSeq: oldest.firstSeq });
    }
    for (const segment of chain.list)
      for (const change of segment.epochChanges) starts.push({ ...change });
    return starts.slice(-LIMITS.maxEpochBoundaries);
  }

  private requireUsable(): void {
    if (this.failure !== null) throw this.failure;
    if (this.state === 'closed')
      throw new LogStoreUnavailableError(`log store ${this.dir} is closed`);
    if (this.state !== 'open')
      throw new LogStoreUnavailableError(`log store ${this.dir} is not open yet`);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function requirePositive(value: number, what: string): void {
  if (typeof value !== 'number' || !(value > 0))
    throw new RangeError(`${what} must be a positive number`);
}

function requireSeqArgument(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidLogRequestError(
      `${what} must be a non-negative safe integer, got ${String(value)}`,
    );
  }
}

/** `fs`, with every error an fsync throws (of a file or a directory) added to `syncErrors`. */
function watchSyncs(fs: FileSystem, syncErrors: WeakSet<object>): FileSystem {
  const watch = async (sync: () => Promise<void>): Promise<void> => {
    try {
      await sync();
    } catch (error) {
      if (typeof error === 'object' && error !== null) syncErrors.add(error);
      throw error;
    }
  };
  const wrapFile = (file: FsFile): FsFile => ({
    read: (buf, offset, length, position) => file.read(buf, offset, length, position),
    write: (buf, offset, length, position) => file.write(buf, offset, length, position),
    truncate: (length) => file.truncate(length),
    sync: () => watch(() => file.sync()),
    datasync: () => watch(() => file.datasync()),
    size: () => file.size(),
    close: () => file.close(),
  });
  return {
    open: async (path, mode) => wrapFile(await fs.open(path, mode)),
    readFile: (path) => fs.readFile(path),
    writeFile: (path, bytes) => fs.writeFile(path, bytes),
    rename: (from, to) => fs.rename(from, to),
    unlink: (path) => fs.unlink(path),
    readdir: (dir) => fs.readdir(dir),
    mkdirp: (dir) => fs.mkdirp(dir),
    size: (path) => fs.size(path),
    syncDirectory: (dir) => watch(() => fs.syncDirectory(dir)),
    readRangeSync: (path, position, length) => fs.readRangeSync(path, position, length),
    readFileSync: (path) => fs.readFileSync(path),
  };
}
