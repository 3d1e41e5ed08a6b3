import { invariant } from '../core/assert.js';
import type { Entry } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { isMissingFile, removeFile, syncDirectory } from './directory.js';
import type { FileSystem, FsFile } from './file-system.js';
import { loadClosedSegment } from './log-recovery.js';
import {
  CHAIN_HASH_BYTES,
  chainAfter,
  checkRecord,
  decodeRecord,
  digestAfterSeq,
  encodeRecord,
  LOG_DIGEST_BYTES,
  matchingDigests,
  RECORD_FIXED_BYTES,
  recordBytesOf,
  recordOverheadBytes,
  type SizedEntry,
  sizeEntry,
  storedEntryDigests,
} from './record-codec.js';
import { RecordCut } from './record-cut.js';
import {
  type AppendedRecord,
  type DamagedSpan,
  readFully,
  SEGMENT_HEADER_BYTES,
  Segment,
  writeFully,
} from './segment.js';
import { decodeIndexFile, encodeIndexFile, type SegmentIndex } from './segment-index.js';
import {
  CorruptLogError,
  DamagedRecordError,
  LogStoreUnavailableError,
  RepairRejectedError,
} from './storage-errors.js';

/** Takes the entries a disk read yields, in order, and says when it has enough. */
export interface ReadSink {
  /** Takes `entry`, or returns false to end the read without it. */
  take(entry: Entry): boolean;
  /** Payload bytes the reader may still take, to size the next disk read. */
  remainingBytes(): number;
}

/**
 * Recomputes a segment's epoch changes around repaired seqs [fromSeq, toSeq]:
 * while they were damaged their epochs were unknown and a change found
 * after them was placed at the next intact record.
 */
function fixEpochChanges(
  segment: Segment,
  fromSeq: number,
  toSeq: number,
  entries: readonly Entry[],
  nextEpoch: number | null,
): void {
  // A change found at the next intact record is recomputed from nextEpoch when that is known.
  const after = nextEpoch === null ? toSeq : toSeq + 1;
  const kept = segment.epochChanges.filter((c) => c.startSeq < fromSeq || c.startSeq > after);
  let epoch = segment.header.epochBeforeFirst;
  for (const change of kept) if (change.startSeq < fromSeq) epoch = change.epoch;
  const added: { epoch: number; startSeq: number }[] = [];
  for (const entry of entries) {
    if (entry.epoch !== epoch) added.push({ epoch: entry.epoch, startSeq: entry.seq });
    epoch = entry.epoch;
  }
  if (nextEpoch !== null && nextEpoch !== epoch)
    added.push({ epoch: nextEpoch, startSeq: toSeq + 1 });
  segment.epochChanges = [...kept, ...added].sort((a, b) => a.startSeq - b.startSeq);
  if (toSeq === segment.lastSeq) segment.lastEpoch = epoch;
}

/** A record planned for a write: `sized[from, to)`, `frameBytes` long. */
interface PlannedRecord {
  readonly from: number;
  readonly to: number;
  readonly frameBytes: number;
}

/**
 * Groups `sized` from `from` on into records that fit `roomBytes` together:
 * each closed at maxLogRecordEntries entries or before its bodies pass
 * maxLogRecordBytes (a larger single entry gets a record of its own). In
 * an empty segment the first entry is always taken.
 */
function planRecords(
  sized: readonly SizedEntry[],
  from: number,
  recordEntries: number,
  roomBytes: number,
  emptySegment: boolean,
): PlannedRecord[] {
  const records: PlannedRecord[] = [];
  let used = 0;
  let i = from;
  while (i < sized.length) {
    let body = 0;
    let j = i;
    while (j < sized.length && j - i < recordEntries) {
      const next = sized[j]!.bodyBytes;
      if (j > i && body + next > LIMITS.maxLogRecordBytes) break;
      // The first entry written to an empty segment is taken whatever its size.
      const firstOfSegment = emptySegment && records.length === 0 && j === i;
      if (!firstOfSegment && used + recordOverheadBytes(j - i + 1) + body + next > roomBytes) break;
      body += next;
      j++;
    }
    if (j === i) break;
    const frameBytes = recordOverheadBytes(j - i) + body;
    records.push({ from: i, to: j, frameBytes });
    used += frameBytes;
    i = j;
  }
  return records;
}

/** What a segment's index and summary need of the record of `sized[from, to)`. */
function appendedRecord(
  sized: readonly SizedEntry[],
  from: number,
  to: number,
  frameBytes: number,
): AppendedRecord {
  const epochChanges: { seq: number; epoch: number }[] = [];
  for (let k = from + 1; k < to; k++) {
    const entry = sized[k]!.entry;
    if (entry.epoch !== sized[k - 1]!.entry.epoch)
      epochChanges.push({ seq: entry.seq, epoch: entry.epoch });
  }
  const first = sized[from]!.entry;
  const last = sized[to - 1]!.entry;
  return {
    frameBytes,
    firstSeq: first.seq,
    lastSeq: last.seq,
    firstEpoch: first.epoch,
    lastEpoch: last.epoch,
    epochChanges,
    lastTimestampMs: last.timestampMs,
  };
}

/** Most ways of grouping damaged entries into records that one repair tries. */
const MAX_REPAIR_GROUPINGS = 4096;

/** The ways to cut `n` entries into `records` consecutive non-empty records (their sizes), up to `max` of them. */
function groupingsOf(n: number, records: number, max: number): number[][] {
  const out: number[][] = [];
  const sizes: number[] = [];
  const walk = (left: number, parts: number): void => {
    if (out.length > max) return;
    if (parts === 1) {
      out.push([...sizes, left]);
      return;
    }
    for (let size = 1; size <= left - (parts - 1); size++) {
      sizes.push(size);
      walk(left - size, parts - 1);
      sizes.pop();
    }
  };
  walk(n, records);
  return out;
}

/** Every choice of one item from each list, the first list varying slowest. */
function* product<T>(lists: readonly (readonly T[])[]): Generator<T[]> {
  if (lists.length === 0) {
    yield [];
    return;
  }
  for (const item of lists[0]!) for (const rest of product(lists.slice(1))) yield [item, ...rest];
}

/** The candidates for the seqs of `span`, from its first on, as far as they go without a gap. */
function coveredFrom(candidates: ReadonlyMap<number, SizedEntry>, span: DamagedSpan): SizedEntry[] {
  const out: SizedEntry[] = [];
  for (let seq = span.fromSeq; seq <= span.toSeq && candidates.has(seq); seq++) {
    out.push(candidates.get(seq)!);
  }
  return out;
}

/** Damaged spans that follow one another with no intact record between them, grouped. */
function adjacentRuns(spans: readonly DamagedSpan[]): DamagedSpan[][] {
  const runs: DamagedSpan[][] = [];
  for (const span of spans) {
    const run = runs[runs.length - 1];
    const last = run?.[run.length - 1];
    if (run !== undefined && last!.toSeq + 1 === span.fromSeq && last!.end === span.start)
      run.push(span);
    else runs.push([span]);
  }
  return runs;
}

/** Extra bytes read past the payload budget so that one disk read usually covers the record headers too. */
const READ_SLACK_BYTES = 64 * 1024;

/**
 * The segment files of one log, oldest first, as they are on disk: appends
 * (one write syscall per segment touched), rolling to a new segment,
 * truncating a suffix, deleting the oldest segment, and positional reads
 * through the offset index. It knows nothing of fsync policy beyond
 * `sync()`; the store decides when to call it. Only one mutating call runs
 * at a time (the store's write queue sees to it); reads may run alongside.
 */
export class SegmentChain {
  /** Closed segments whose offset index is in memory, least recently used first. */
  private loaded: Segment[] = [];
  private loads = new Map<Segment, Promise<SegmentIndex>>();
  private dirty = false;
  /** Bumped by every truncation, so that a read which finds bytes changed under it knows why. */
  private generation = 0;

  constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
    private readonly segments: Segment[],
    private readonly segmentBytes: number,
    private readonly indexCacheSegments: number,
    /** Damage found by a read is noted for repair (DamagedRecordError) rather than thrown as CorruptLogError. */
    private readonly tolerateDamage: boolean,
    /** False only for the simulator's planted defect: repairs are written without the chain check. */
    private readonly checkRepairs = true,
    /** Most entries one record holds. */
    private readonly recordEntries: number = LIMITS.maxLogRecordEntries,
  ) {
    invariant(segments.length > 0, 'a log has at least one segment');
    invariant(this.active.writer !== null, 'the last segment must be open for appends');
    for (const segment of segments.slice(0, -1)) this.touch(segment);
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  get oldest(): Segment {
    return this.segments[0]!;
  }

  get firstSeq(): number {
    return this.oldest.firstSeq;
  }

  get lastSeq(): number {
    return this.active.lastSeq;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  get list(): readonly Segment[] {
    return this.segments;
  }

  get totalBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.endBytes;
    return total;
  }

  /** True when the active segment holds writes not yet synced. */
  get isDirty(): boolean {
    return this.dirty;
  }

  get truncationGeneration(): number {
    return this.generation;
  }

  /**
   * Writes `sized` (contiguous, continuing the log) as records of up to
   * maxLogRecordEntries entries and maxLogRecordBytes of bodies, one buffer
   * and one write syscall per segment they land in, rolling to a new
   * segment when the active one would pass `segmentBytes`.
   */
  async append(sized: readonly SizedEntry[]): Promise<void> {
    let i = 0;
    while (i < sized.length) {
      const active = this.active;
      if (sized[i]!.entry.seq !== active.lastSeq + 1)
        invariant(false, `append of seq ${sized[i]!.entry.seq} after ${active.lastSeq}`);
      const records = planRecords(
        sized,
        i,
        this.recordEntries,
        this.segmentBytes - active.endBytes,
        active.count === 0,
      );
      if (records.length === 0) {
        await this.roll();
        continue;
      }
      let bytes = 0;
      for (const record of records) bytes += record.frameBytes;
      const buf = Buffer.allocUnsafe(bytes);
      const chains: Buffer[] = [];
      let offset = 0;
      let prevChain = active.lastHash;
      for (const record of records) {
        const { chain, frameBytes } = encodeRecord(
          buf,
          offset,
          sized,
          record.from,
          record.to,
          prevChain,
        );
        invariant(frameBytes === record.frameBytes, 'record size differs from its plan');
        chains.push(chain);
        prevChain = chain;
        offset += frameBytes;
      }
      await writeFully(active.writer!, buf, active.endBytes);
      this.dirty = true;
      for (const [k, record] of records.entries()) {
        active.recordAppended(
          appendedRecord(sized, record.from, record.to, record.frameBytes),
          chains[k]!,
        );
      }
      i = records[records.length - 1]!.to;
    }
  }

  /** Forces what was written to the active segment to stable storage. Returns false when nothing was pending. */
  async sync(): Promise<boolean> {
    if (!this.dirty) return false;
    await this.active.writer!.datasync();
    this.dirty = false;
    return true;
  }

  /**
   * Removes every entry above `seq`, durably: later segments are deleted
   * newest first (each deletion synced, so a crash leaves a prefix of the
   * log), then the segment holding `seq` is cut and synced. When `seq`
   * falls inside a record, that record is written again holding only its
   * entries up to `seq`; the rewrite goes through a cut file (record-cut.ts)
   * so that a crash in the middle of it loses none of the entries kept.
   */
  async truncateAfter(seq: number): Promise<void> {
    if (seq >= this.lastSeq) return;
    invariant(
      seq >= this.firstSeq - 1,
      `truncation to ${seq} below the log start ${this.firstSeq}`,
    );
    const { target, index, writer } = await this.lastSegmentHolding(seq);
    const recordFirst = seq >= target.firstSeq ? index.recordFirstSeqOf(seq) : target.firstSeq;
    const cutInside = seq >= target.firstSeq && index.recordLastSeqOf(seq) !== seq;
    let kept: Entry[] = [];
    if (cutInside) {
      const damage = target.damageAt(seq);
      if (damage !== undefined) throw new DamagedRecordError(seq, target.logPath, damage.reason);
      kept = (await this.readRecordMeta(target, index, seq)).entries.filter((e) => e.seq <= seq);
    }
    const keepThrough = cutInside ? recordFirst - 1 : seq;
    let hash = target.header.prevHash;
    let timestampMs = target.header.timestampBeforeFirstMs;
    let end = SEGMENT_HEADER_BYTES;
    if (keepThrough >= target.firstSeq) {
      const last = await this.readRecordMeta(target, index, keepThrough);
      hash = last.chain;
      timestampMs = last.lastTimestampMs;
      end = index.recordEndOf(keepThrough);
    }
    if (!cutInside) {
      await writer.truncate(end);
      await writer.sync();
      target.truncatedAfter(seq, hash, timestampMs);
      this.dirty = false;
      return;
    }
    await this.endWithRecord(target, writer, end, kept.map(sizeEntry), hash, timestampMs);
  }

  /**
   * Ends the last segment at byte `start` with one record of `kept`,
   * chained to `prevChain` (the value of the record before `start`, whose
   * last log time is `prevTimestampMs`), durably: the record and its place
   * are saved in a cut plan first (record-cut.ts), so a crash between the
   * cut and the write loses none of the entries kept.
   */
  private async endWithRecord(
    target: Segment,
    writer: FsFile,
    start: number,
    kept: readonly SizedEntry[],
    prevChain: Uint8Array,
    prevTimestampMs: number,
  ): Promise<void> {
    const buf = Buffer.allocUnsafe(recordBytesOf(kept, 0, kept.length));
    const { chain, frameBytes } = encodeRecord(buf, 0, kept, 0, kept.length, prevChain);
    const cut = new RecordCut(this.fs, this.dir);
    await cut.begin({ segmentFirstSeq: target.firstSeq, recordStart: start, record: buf });
    await writer.truncate(start);
    await writeFully(writer, buf, start);
    await writer.sync();
    await cut.finish();
    target.truncatedAfter(kept[0]!.entry.seq - 1, prevChain, prevTimestampMs);
    target.recordAppended(appendedRecord(kept, 0, kept.length, frameBytes), chain);
    this.dirty = false;
  }

  /**
   * Starts a truncation at `seq`: deletes the segments after the one
   * holding it, newest first (each deletion synced, so a crash leaves a
   * prefix of the log), and makes that one the active segment again.
   */
  private async lastSegmentHolding(
    seq: number,
  ): Promise<{ target: Segment; index: SegmentIndex; writer: FsFile }> {
    this.generation++;
    while (this.segments.length > 1 && this.active.firstSeq > seq) {
      const gone = this.segments.pop()!;
      await gone.writer?.close();
      gone.writer = null;
      await this.deleteFiles(gone);
    }
    const target = this.active;
    const index = await this.loadIndex(target);
    if (target.writer === null) {
      // A closed segment becomes the active one again: its sidecar index is
      // about to go stale. Once it has a writer, the index cache leaves it alone.
      target.writer = await this.fs.open(target.logPath, 'r+');
      this.forget(target);
      target.index = index;
      await removeFile(target.indexPath, this.fs);
    }
    return { target, index, writer: target.writer };
  }

  /**
   * Deletes every segment, newest first (so a crash leaves a prefix of the
   * log, which the node simply resets again), then starts one empty segment
   * at `firstSeq` whose header names the epoch before it. The chain hash
   * restarts from zero: this log no longer holds the prefix it would cover.
   */
  async reset(firstSeq: number, epochBeforeFirst: number): Promise<void> {
    this.generation++;
    const old = this.segments.splice(0);
    for (const segment of old.reverse()) {
      await segment.writer?.close();
      segment.writer = null;
      await this.deleteFiles(segment);
    }
    const fresh = await Segment.create(this.fs, this.dir, {
      firstSeq,
      epochBeforeFirst,
      timestampBeforeFirstMs: 0,
      prevHash: new Uint8Array(CHAIN_HASH_BYTES),
    });
    this.segments.push(fresh);
    await syncDirectory(this.dir, this.fs);
    this.dirty = false;
  }

  /** Deletes the oldest segment (retention); never the active one. */
  async deleteOldest(): Promise<void> {
    invariant(this.segments.length > 1, 'the active segment is never deleted');
    const gone = this.segments.shift()!;
    await this.deleteFiles(gone);
  }

  /**
   * Reads entries from `fromSeq` up to `toSeq` into `sink`, in chunks of
   * whole records of at most `logReadChunkBytes` (or one record, when
   * larger) read with positional reads at offsets from the index. A read
   * may start or end inside a record: the entries outside the range are
   * skipped. Returns the seq after the last entry taken. It stops early at
   * the log's current end, at a segment deleted meanwhile, or when a
   * truncation changed the bytes under it; damage found otherwise throws.
   */
  async read(fromSeq: number, toSeq: number, sink: ReadSink): Promise<number> {
    const generation = this.generation;
    let seq = fromSeq;
    let handle: FsFile | null = null;
    let handleFor: Segment | null = null;
    let took = false;
    try {
      while (seq <= toSeq) {
        const segment = this.segmentFor(seq);
        if (segment === null) break;
        const index = await this.loadIndex(segment).catch((error: unknown) => {
          // Retention may delete the segment while its index loads.
          if (segment.retired && isMissingFile(error)) return null;
          throw error;
        });
        if (index === null) break;
        if (handleFor !== segment) {
          await handle?.close();
          handle = null;
          handleFor = segment;
          try {
            handle = await this.fs.open(segment.logPath, 'r');
          } catch (error) {
            if (isMissingFile(error)) break;
            throw error;
          }
        }
        const damage = segment.damageAt(seq);
        if (damage !== undefined) {
          if (took) return seq;
          throw new DamagedRecordError(seq, segment.logPath, damage.reason);
        }
        let last = Math.min(toSeq, index.lastSeq);
        for (const span of segment.damaged) {
          if (span.fromSeq > seq) {
            last = Math.min(last, span.fromSeq - 1);
            break;
          }
        }
        if (seq > last) break;
        const start = index.startOf(seq);
        const chunkBytes = Math.min(
          LIMITS.logReadChunkBytes,
          sink.remainingBytes() + READ_SLACK_BYTES,
        );
        // Whole records from the one holding seq, while they fit the chunk (at least one).
        let endSeq = index.recordLastSeqOf(seq);
        let endBytes = index.recordEndOf(seq);
        while (endSeq < last && index.recordEndOf(endSeq + 1) - start <= chunkBytes) {
          endBytes = index.recordEndOf(endSeq + 1);
          endSeq = index.recordLastSeqOf(endSeq + 1);
        }
        const length = endBytes - start;
        const buf = Buffer.allocUnsafe(length);
        const got = await readFully(handle!, buf, length, start);
        let at = 0;
        while (seq <= Math.min(endSeq, toSeq)) {
          const check = checkRecord(buf, at, got - at);
          if (!check.ok || check.meta.firstSeq > seq || check.meta.lastSeq < seq) {
            if (this.generation !== generation) return seq;
            const reason = check.ok
              ? `record holds seqs from ${check.meta.firstSeq}`
              : check.reason;
            if (!this.tolerateDamage) {
              throw new CorruptLogError(segment.logPath, start + at, seq, reason);
            }
            this.noteDamage(segment, {
              fromSeq: index.recordFirstSeqOf(seq),
              toSeq: index.recordLastSeqOf(seq),
              start: start + at,
              end: index.recordEndOf(seq),
              reason,
            });
            if (took) return seq;
            throw new DamagedRecordError(seq, segment.logPath, reason);
          }
          for (const entry of decodeRecord(buf, at, seq, toSeq)) {
            if (!sink.take(entry)) return seq;
            took = true;
            seq = entry.seq + 1;
          }
          seq = Math.max(seq, Math.min(check.meta.lastSeq, toSeq) + 1);
          at += check.meta.frameBytes;
        }
      }
      return seq;
    } finally {
      await handle?.close();
    }
  }

  /**
   * The log digest after `seq` (or before the log's first entry): the
   * first 8 bytes of a chain value, the same on every node that holds the
   * same entries (record-codec.ts). Synchronous, for comparing logs: it
   * reads one record with a blocking positional read when the digest is
   * not in memory.
   */
  logDigest(seq: number): Uint8Array {
    if (seq === this.firstSeq - 1) return this.oldest.header.prevHash.subarray(0, LOG_DIGEST_BYTES);
    const segment = this.segmentFor(seq);
    invariant(segment !== null, `seq ${seq} is not in the log [${this.firstSeq}, ${this.lastSeq}]`);
    if (seq === segment.lastSeq) return segment.lastHash.subarray(0, LOG_DIGEST_BYTES);
    const damage = segment.damageAt(seq);
    if (damage !== undefined) throw new DamagedRecordError(seq, segment.logPath, damage.reason);
    const index = segment.index ?? this.loadIndexSync(segment);
    const start = index.startOf(seq);
    const length = index.recordEndOf(seq) - start;
    const buf = this.fs.readRangeSync(segment.logPath, start, length);
    const check = checkRecord(buf, 0, buf.length);
    if (!check.ok || check.meta.firstSeq > seq || check.meta.lastSeq < seq) {
      throw new CorruptLogError(segment.logPath, start, seq, check.ok ? 'wrong seq' : check.reason);
    }
    return digestAfterSeq(buf, 0, seq);
  }

  /** Every damaged span of the log, oldest first. */
  damagedSpans(): DamagedSpan[] {
    return this.segments.flatMap((segment) => segment.damaged);
  }

  /**
   * Writes good copies of damaged records back in place. `candidates` maps
   * seqs to entries (sized and validated); those of seqs not damaged are
   * ignored. A damaged span (the bytes of one record, or of several whose
   * framing was lost together) must be covered whole. Its candidates are
   * encoded as records filling exactly the span's bytes (how many records
   * follows from its size, since each adds its fixed header; which entries
   * each held is found by trying the groupings, at most
   * MAX_REPAIR_GROUPINGS), chained from the intact chain value before the
   * span (or the segment header's), and must lead to a value intact data
   * holds: the chain value stored in the next intact record (its SHA-256
   * part recomputed from the candidates'), or, when the span ends its
   * segment, the segment's last chain value, which the next segment's
   * header (or the appends of this process) vouch for. The damaged bytes'
   * own stored values are never trusted for that. A candidate that passes
   * is byte for byte the record that was written.
   *
   * Any span covered but not fitting throws RepairRejectedError and nothing
   * is written; its `kind` is 'mismatch' only when the sender surely holds
   * another entry at the span's first seq (see `firstEntryDiffers`).
   * Otherwise each span is written at its offset and fdatasynced. Returns
   * the entries repaired.
   */
  async repair(candidates: ReadonlyMap<number, SizedEntry>): Promise<Entry[]> {
    interface Plan {
      readonly segment: Segment;
      readonly span: DamagedSpan;
      readonly buf: Buffer;
      readonly entries: readonly SizedEntry[];
      /** Bytes of each repaired seq in the index: a record's seqs but its last span none. */
      readonly seqBytes: readonly number[];
      readonly nextEpoch: number | null;
    }
    const plans: Plan[] = [];
    for (const segment of this.segments) {
      for (const run of adjacentRuns(segment.damaged)) {
        const first = run[0]!;
        const wholes = run.map((span) => coveredFrom(candidates, span));
        if (wholes[0]!.length === 0) continue;
        const index = await this.loadIndex(segment);
        const prevChain = await this.chainBefore(segment, index, first.fromSeq);
        const uncovered = run.findIndex(
          (span, k) => wholes[k]!.length !== span.toSeq - span.fromSeq + 1,
        );
        let rejection: RepairRejectedError;
        if (uncovered < 0) {
          const whole = await this.planWhole(segment, index, run, wholes, prevChain);
          if (!(whole instanceof RepairRejectedError)) {
            for (const [k, span] of run.entries()) {
              plans.push({
                segment,
                span,
                buf: whole.bufs[k]!,
                entries: wholes[k]!,
                seqBytes: whole.seqBytes[k]!,
                nextEpoch: k === run.length - 1 ? whole.nextEpoch : null,
              });
            }
            continue;
          }
          rejection = whole;
        } else {
          const span = run[uncovered]!;
          rejection = new RepairRejectedError(
            span.fromSeq,
            run.length > 1
              ? `seqs ${first.fromSeq} to ${run[run.length - 1]!.toSeq} were damaged together and must be repaired together`
              : `seqs ${span.fromSeq} to ${span.toSeq} were written as one record and the copy covers only ${wholes[uncovered]!.length} of them`,
          );
        }
        if (rejection.kind === 'mismatch' && first.toSeq > first.fromSeq) {
          // A record of several entries that does not fit says only that the
          // copy differs somewhere in it.
          const differs = await this.firstEntryDiffers(segment, index, run, wholes[0]!);
          rejection = new RepairRejectedError(
            differs ? first.fromSeq : rejection.seq,
            rejection.reason,
            differs ? 'mismatch' : 'layout',
          );
        }
        throw rejection;
      }
    }
    // Every span planned fits: write them, each made durable before it counts as repaired.
    const repaired: Entry[] = [];
    for (const { segment, span, buf, entries, seqBytes, nextEpoch } of plans) {
      const handle = segment.writer ?? (await this.fs.open(segment.logPath, 'r+'));
      try {
        await writeFully(handle, buf, span.start);
        await handle.datasync();
      } finally {
        if (handle !== segment.writer) await handle.close();
      }
      segment.damaged = segment.damaged.filter((d) => d !== span);
      segment.index!.resize(span.fromSeq, seqBytes);
      const repairedEntries = entries.map((one) => one.entry);
      fixEpochChanges(segment, span.fromSeq, span.toSeq, repairedEntries, nextEpoch);
      repaired.push(...repairedEntries);
    }
    return repaired;
  }

  /**
   * How many leading entries of `copy` (from the first seq of a damaged
   * span) match the per-entry CRC32C digests of the span's record header,
   * when that header is intact: each that matches is, but for a 32-bit
   * collision, the entry that was written. Null when the header is damaged
   * too, or the copy does not start at a damaged span's first seq.
   */
  async matchDamaged(copy: readonly SizedEntry[]): Promise<number | null> {
    if (copy.length === 0) return null;
    const seq = copy[0]!.entry.seq;
    const segment = this.segmentFor(seq);
    const span = segment?.damageAt(seq);
    if (segment == null || span === undefined || span.fromSeq !== seq) return null;
    const stored = await this.storedDigests(segment, span);
    if (stored === null) return null;
    return matchingDigests(stored.before, stored.after, copy);
  }

  /**
   * Cuts the log inside a damaged record: the record starting at
   * `keep[0].seq` is written again holding only `keep` (which must match
   * its per-entry digests, see matchDamaged), and everything after it is
   * removed, durably, through a cut plan (record-cut.ts) as a truncation
   * inside an intact record is. For a node whose peers show that the
   * entries of a damaged record after `keep` were never committed.
   */
  async cutInsideDamaged(keep: readonly SizedEntry[]): Promise<void> {
    invariant(keep.length > 0, 'a cut inside a damaged record keeps at least one entry');
    const seq = keep[0]!.entry.seq;
    const lastKept = keep[keep.length - 1]!.entry.seq;
    const holder = this.segmentFor(seq);
    const span = holder?.damageAt(seq);
    if (holder == null || span === undefined || span.fromSeq !== seq || lastKept >= span.toSeq) {
      throw new RepairRejectedError(
        seq,
        `seqs ${seq} to ${lastKept} are not the first part of a damaged record`,
      );
    }
    if ((await this.matchDamaged(keep)) !== keep.length) {
      throw new RepairRejectedError(
        seq,
        "the entries to keep do not match the damaged record's digests",
      );
    }
    const { target, index, writer } = await this.lastSegmentHolding(seq);
    invariant(target === holder, 'the damaged record is in the segment now last');
    let prevChain = target.header.prevHash;
    let prevTimestampMs = target.header.timestampBeforeFirstMs;
    if (seq > target.firstSeq) {
      const before = await this.readRecordMeta(target, index, seq - 1);
      prevChain = before.chain;
      prevTimestampMs = before.lastTimestampMs;
    }
    await this.endWithRecord(target, writer, span.start, keep, prevChain, prevTimestampMs);
  }

  /**
   * Whether the sender of `copy` surely holds another entry at the first
   * seq of the damaged `run`: the per-entry digest of the record's intact
   * header says so, or the copy's epoch there is one the damaged entry
   * cannot have (it is at least the epoch of the intact entry before it, or
   * the segment header's epoch before its first seq, and at most that of
   * the intact entry after the run, or the segment's last epoch, which the
   * next segment's header gives when the damage ends the segment).
   */
  private async firstEntryDiffers(
    segment: Segment,
    index: SegmentIndex,
    run: readonly DamagedSpan[],
    copy: readonly SizedEntry[],
  ): Promise<boolean> {
    const span = run[0]!;
    const stored = await this.storedDigests(segment, span);
    if (stored !== null)
      return matchingDigests(stored.before, stored.after, copy.slice(0, 1)) === 0;
    const epoch = copy[0]!.entry.epoch;
    const lower =
      span.fromSeq === segment.firstSeq
        ? segment.header.epochBeforeFirst
        : segment.damageAt(span.fromSeq - 1) !== undefined
          ? null
          : (await this.readRecordMeta(segment, index, span.fromSeq - 1)).lastEpoch;
    const toSeq = run[run.length - 1]!.toSeq;
    const upper =
      toSeq === segment.lastSeq
        ? segment.lastEpoch
        : (await this.readRecordMeta(segment, index, toSeq + 1)).firstEpoch;
    return (lower !== null && epoch < lower) || epoch > upper;
  }

  /** The per-entry digests of the damaged span's record header, when it is intact and starts the span. */
  private async storedDigests(
    segment: Segment,
    span: DamagedSpan,
  ): Promise<{ before: number; after: number[] } | null> {
    // Only a record header is read: a span whose framing was lost may be far larger.
    const headerBytes = Math.min(
      span.end - span.start,
      recordOverheadBytes(LIMITS.maxLogRecordEntries),
    );
    const header = Buffer.alloc(headerBytes);
    const handle = await this.fs.open(segment.logPath, 'r');
    try {
      await readFully(handle, header, headerBytes, span.start);
    } finally {
      await handle.close();
    }
    const stored = storedEntryDigests(header, 0, headerBytes);
    if (stored === null || stored.firstSeq !== span.fromSeq) return null;
    // A span of several records (their framing lost together): the first
    // header describes only its own entries, which says nothing of the rest.
    if (stored.after.length !== span.toSeq - span.fromSeq + 1) return null;
    return stored;
  }

  /** The intact chain value before `seq` (a record's first seq) in `segment`. */
  private async chainBefore(
    segment: Segment,
    index: SegmentIndex,
    seq: number,
  ): Promise<Uint8Array> {
    if (seq === segment.firstSeq) return segment.header.prevHash;
    if (segment.damageAt(seq - 1) !== undefined) {
      throw new RepairRejectedError(
        seq,
        `seq ${seq - 1} before it is damaged too; repair them together`,
      );
    }
    return (await this.readRecordMeta(segment, index, seq - 1)).chain;
  }

  /**
   * The whole repair of a run of adjacent damaged spans, or why it does not
   * fit. A span usually held one record; when the framing of several was
   * lost together, how many it held follows from its size (each record adds
   * its fixed header), and which entries each held is found by trying the
   * ways to group them (at most MAX_REPAIR_GROUPINGS in all): only the
   * grouping that was written leads to the chain value stored after it.
   */
  private async planWhole(
    segment: Segment,
    index: SegmentIndex,
    run: readonly DamagedSpan[],
    covered: readonly (readonly SizedEntry[])[],
    prevChain: Uint8Array,
  ): Promise<
    { bufs: Buffer[]; seqBytes: number[][]; nextEpoch: number | null } | RepairRejectedError
  > {
    const groupingsPerSpan: number[][][] = [];
    let total = 1;
    for (const [k, span] of run.entries()) {
      const entries = covered[k]!;
      // Each record of n entries takes its fixed part, 4 bytes per entry and their bodies.
      const spare =
        span.end - span.start - (recordBytesOf(entries, 0, entries.length) - RECORD_FIXED_BYTES);
      const records = spare / RECORD_FIXED_BYTES;
      if (!Number.isInteger(records) || records < 1 || records > entries.length) {
        return new RepairRejectedError(
          span.fromSeq,
          `the entries for seqs ${span.fromSeq} to ${span.toSeq} cannot fill the ${span.end - span.start} damaged bytes as records`,
          'mismatch',
        );
      }
      const groupings = groupingsOf(entries.length, records, MAX_REPAIR_GROUPINGS);
      total *= groupings.length;
      if (groupings.length === 0 || total > MAX_REPAIR_GROUPINGS) {
        return new RepairRejectedError(
          span.fromSeq,
          `seqs ${span.fromSeq} to ${span.toSeq} held ${records} records in too many possible groupings to try`,
        );
      }
      groupingsPerSpan.push(groupings);
    }
    const toSeq = run[run.length - 1]!.toSeq;
    const next =
      toSeq === segment.lastSeq ? null : await this.readRecordMeta(segment, index, toSeq + 1);
    for (const choice of product(groupingsPerSpan)) {
      const bufs: Buffer[] = [];
      const seqBytes: number[][] = [];
      let chain: Uint8Array = prevChain;
      for (const [k, sizes] of choice.entries()) {
        const entries = covered[k]!;
        const span = run[k]!;
        const buf = Buffer.allocUnsafe(span.end - span.start);
        const bytes: number[] = [];
        let at = 0;
        let from = 0;
        for (const size of sizes) {
          const encoded = encodeRecord(buf, at, entries, from, from + size, chain);
          chain = encoded.chain;
          at += encoded.frameBytes;
          from += size;
          for (let i = 1; i < size; i++) bytes.push(0);
          bytes.push(encoded.frameBytes);
        }
        bufs.push(buf);
        seqBytes.push(bytes);
      }
      if (!this.checkRepairs) return { bufs, seqBytes, nextEpoch: null };
      if (next === null) {
        if (Buffer.from(chain).equals(Buffer.from(segment.lastHash))) {
          return { bufs, seqBytes, nextEpoch: null };
        }
        continue;
      }
      const expected = chainAfter(chain, next.record, 0, next.record.length);
      if (expected?.equals(next.chain)) {
        return { bufs, seqBytes, nextEpoch: next.firstEpoch };
      }
    }
    return new RepairRejectedError(
      toSeq,
      next === null
        ? 'the chain value it leads to differs from the one recorded for the end of its segment'
        : `the chain value it leads to does not match the one stored in seq ${toSeq + 1}`,
      'mismatch',
    );
  }

  /** The offset index of `segment`, loading it from its sidecar file (or a scan) when not in memory. */
  async loadIndex(segment: Segment): Promise<SegmentIndex> {
    if (segment.index !== null) {
      this.touch(segment);
      return segment.index;
    }
    let pending = this.loads.get(segment);
    if (pending === undefined) {
      pending = this.loadClosedIndex(segment).finally(() => this.loads.delete(segment));
      this.loads.set(segment, pending);
    }
    return pending;
  }

  async close(): Promise<void> {
    const writer = this.active.writer;
    this.active.writer = null;
    await writer?.close();
  }

  private async loadClosedIndex(segment: Segment): Promise<SegmentIndex> {
    await loadClosedSegment(
      this.fs,
      segment,
      {
        lastSeq: segment.lastSeq,
        lastHash: segment.lastHash,
        lastEpoch: segment.lastEpoch,
        lastTimestampMs: segment.lastTimestampMs,
      },
      { tolerateDamage: this.tolerateDamage, verifyClosedSegments: false },
    );
    this.touch(segment);
    return segment.index!;
  }

  private loadIndexSync(segment: Segment): SegmentIndex {
    const contents = decodeIndexFile(this.fs.readFileSync(segment.indexPath), SEGMENT_HEADER_BYTES);
    if (typeof contents === 'string' || contents.index.lastSeq !== segment.lastSeq) {
      throw new LogStoreUnavailableError(
        `index ${segment.indexPath} is not usable (${typeof contents === 'string' ? contents : 'stale'}); read the segment first to rebuild it`,
      );
    }
    return contents.index;
  }

  /** Starts a new segment after the active one, which is synced and gets its sidecar index first. */
  private async roll(): Promise<void> {
    const previous = this.active;
    invariant(previous.count > 0, 'an empty segment is never rolled');
    await previous.writer!.datasync();
    this.dirty = false;
    // The index file is not fsynced: if a crash damages it, its CRC fails and open() rebuilds it.
    // A segment with damage gets none, so that the next open scans it and finds the damage again.
    if (previous.damaged.length === 0)
      await this.fs.writeFile(previous.indexPath, encodeIndexFile(previous.indexFileContents()));
    await previous.writer!.close();
    previous.writer = null;
    const next = await Segment.create(this.fs, this.dir, {
      firstSeq: previous.lastSeq + 1,
      epochBeforeFirst: previous.lastEpoch,
      timestampBeforeFirstMs: previous.lastTimestampMs,
      prevHash: previous.lastHash,
    });
    this.segments.push(next);
    await syncDirectory(this.dir, this.fs);
    this.touch(previous);
  }

  private async deleteFiles(segment: Segment): Promise<void> {
    segment.retired = true;
    this.forget(segment);
    segment.index = null;
    await removeFile(segment.logPath, this.fs);
    await removeFile(segment.indexPath, this.fs);
    await syncDirectory(this.dir, this.fs);
  }

  /** Reads and checks the record holding `seq`. */
  private async readRecordMeta(
    segment: Segment,
    index: SegmentIndex,
    seq: number,
  ): Promise<{
    chain: Uint8Array;
    lastTimestampMs: number;
    firstEpoch: number;
    lastEpoch: number;
    record: Buffer;
    entries: Entry[];
  }> {
    const start = index.startOf(seq);
    const length = index.recordEndOf(seq) - start;
    const buf = Buffer.alloc(length);
    const handle = await this.fs.open(segment.logPath, 'r');
    let got: number;
    try {
      got = await readFully(handle, buf, length, start);
    } finally {
      await handle.close();
    }
    const check = checkRecord(buf, 0, got);
    if (!check.ok || check.meta.firstSeq > seq || check.meta.lastSeq < seq) {
      throw new CorruptLogError(segment.logPath, start, seq, check.ok ? 'wrong seq' : check.reason);
    }
    return {
      chain: Buffer.from(check.meta.chain),
      lastTimestampMs: check.meta.lastTimestampMs,
      firstEpoch: check.meta.firstEpoch,
      lastEpoch: check.meta.lastEpoch,
      record: buf,
      entries: decodeRecord(buf, 0),
    };
  }

  /** Notes a damaged record a read found; its segment keeps its index in memory from now on. */
  private noteDamage(segment: Segment, span: DamagedSpan): void {
    if (segment.damageAt(span.fromSeq) !== undefined) return;
    segment.damaged.push(span);
    segment.damaged.sort((a, b) => a.fromSeq - b.fromSeq);
  }

  /** The segment holding `seq`, by binary search on first seqs; null outside the log. */
  private segmentFor(seq: number): Segment | null {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.firstSeq <= seq) lo = mid;
      else hi = mid - 1;
    }
    const segment = this.segments[lo]!;
    return seq >= segment.firstSeq && seq <= segment.lastSeq ? segment : null;
  }

  /** Marks a closed segment's index as just used, dropping the least recently used beyond the bound. */
  private touch(segment: Segment): void {
    if (segment.writer !== null || segment.retired) return;
    this.forget(segment);
    this.loaded.push(segment);
    while (this.loaded.length > this.indexCacheSegments) {
      const evicted = this.loaded.shift()!;
      // A segment with damage keeps its index: it holds the damaged spans' positions.
      if (evicted.writer === null && evicted.damaged.length === 0) evicted.index = null;
    }
  }

  private forget(segment: Segment): void {
    const at = this.loaded.indexOf(segment);
    if (at >= 0) this.loaded.splice(at, 1);
  }
}
