import { invariant } from '../core/assert.js';
import type { Entry } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { isMissingFile, removeFile, syncDirectory } from './directory.js';
import type { FileSystem, FsFile } from './file-system.js';
import { loadClosedSegment } from './log-recovery.js';
import {
  CHAIN_HASH_BYTES,
  chainHashOf,
  checkRecord,
  decodeRecord,
  encodeRecord,
  type SizedEntry,
} from './record-codec.js';
import {
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
  const kept = segment.epochChanges.filter((c) => c.startSeq < fromSeq || c.startSeq > toSeq + 1);
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
   * Writes `sized` (contiguous, continuing the log) as one buffer per
   * segment they land in, with one write syscall each, rolling to a new
   * segment when the active one would pass `segmentBytes`.
   */
  async append(sized: readonly SizedEntry[]): Promise<void> {
    let i = 0;
    while (i < sized.length) {
      const active = this.active;
      invariant(
        sized[i]!.entry.seq === active.lastSeq + 1,
        `append of seq ${sized[i]!.entry.seq} after ${active.lastSeq}`,
      );
      let bytes = 0;
      let j = i;
      while (j < sized.length) {
        const frameBytes = sized[j]!.frameBytes;
        const holdsRecords = active.count > 0 || j > i;
        if (holdsRecords && active.endBytes + bytes + frameBytes > this.segmentBytes) break;
        bytes += frameBytes;
        j++;
      }
      if (j === i) {
        await this.roll();
        continue;
      }
      const buf = Buffer.allocUnsafe(bytes);
      const hashes: Uint8Array[] = [];
      let offset = 0;
      let prevHash = active.lastHash;
      for (let k = i; k < j; k++) {
        prevHash = encodeRecord(buf, offset, sized[k]!, prevHash);
        hashes.push(prevHash);
        offset += sized[k]!.frameBytes;
      }
      await writeFully(active.writer!, buf, active.endBytes);
      this.dirty = true;
      for (let k = i; k < j; k++) {
        const { entry, frameBytes } = sized[k]!;
        active.recordAppended(
          frameBytes,
          entry.seq,
          entry.epoch,
          entry.timestampMs,
          hashes[k - i]!,
        );
      }
      i = j;
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
   * Removes every record above `seq`, durably: later segments are deleted
   * newest first (each deletion synced, so a crash leaves a prefix of the
   * log), then the segment holding `seq` is cut and synced.
   */
  async truncateAfter(seq: number): Promise<void> {
    if (seq >= this.lastSeq) return;
    invariant(
      seq >= this.firstSeq - 1,
      `truncation to ${seq} below the log start ${this.firstSeq}`,
    );
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
    let hash = target.header.prevHash;
    let timestampMs = target.header.timestampBeforeFirstMs;
    let end = SEGMENT_HEADER_BYTES;
    if (seq >= target.firstSeq) {
      const last = await this.readRecordMeta(target, index, seq);
      hash = last.hash;
      timestampMs = last.timestampMs;
      end = index.endOf(seq);
    }
    await target.writer.truncate(end);
    await target.writer.sync();
    target.truncatedAfter(seq, hash, timestampMs);
    this.dirty = false;
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
   * Reads entries from `fromSeq` up to `toSeq` into `sink`, in chunks of at
   * most `logReadChunkBytes` read with positional reads at offsets from the
   * index. Returns the seq after the last entry taken. It stops early at the
   * log's current end, at a segment deleted meanwhile, or when a truncation
   * changed the bytes under it; damage found otherwise throws.
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
        let end = seq;
        while (end < last && index.endOf(end + 1) - start <= chunkBytes) end++;
        const length = index.endOf(end) - start;
        const buf = Buffer.allocUnsafe(length);
        const got = await readFully(handle!, buf, length, start);
        let at = 0;
        for (let s = seq; s <= end; s++) {
          const check = checkRecord(buf, at, got - at);
          if (!check.ok || check.meta.seq !== s) {
            if (this.generation !== generation) return s;
            const reason = check.ok ? `record holds seq ${check.meta.seq}` : check.reason;
            if (!this.tolerateDamage) {
              throw new CorruptLogError(segment.logPath, start + at, s, reason);
            }
            this.noteDamage(segment, {
              fromSeq: s,
              toSeq: s,
              start: start + at,
              end: index.endOf(s),
              reason,
            });
            if (took) return s;
            throw new DamagedRecordError(s, segment.logPath, reason);
          }
          if (!sink.take(decodeRecord(buf, at))) return s;
          took = true;
          at += check.meta.frameBytes;
        }
        seq = end + 1;
      }
      return seq;
    } finally {
      await handle?.close();
    }
  }

  /**
   * The chain hash of the record at `seq` (or of the one before the log's
   * first record). Synchronous, for comparing logs: it reads one record
   * with a blocking positional read when the hash is not in memory.
   */
  chainHash(seq: number): Uint8Array {
    if (seq === this.firstSeq - 1) return this.oldest.header.prevHash;
    const segment = this.segmentFor(seq);
    invariant(segment !== null, `seq ${seq} is not in the log [${this.firstSeq}, ${this.lastSeq}]`);
    if (seq === segment.lastSeq) return segment.lastHash;
    const damage = segment.damageAt(seq);
    if (damage !== undefined) throw new DamagedRecordError(seq, segment.logPath, damage.reason);
    const index = segment.index ?? this.loadIndexSync(segment);
    const start = index.startOf(seq);
    const length = index.endOf(seq) - start;
    const buf = this.fs.readRangeSync(segment.logPath, start, length);
    const check = checkRecord(buf, 0, buf.length);
    if (!check.ok || check.meta.seq !== seq) {
      throw new CorruptLogError(segment.logPath, start, seq, check.ok ? 'wrong seq' : check.reason);
    }
    return Buffer.from(check.meta.hash);
  }

  /** Every damaged span of the log, oldest first. */
  damagedSpans(): DamagedSpan[] {
    return this.segments.flatMap((segment) => segment.damaged);
  }

  /**
   * Writes good copies of damaged records back in place. `candidates` maps
   * seqs to entries (sized and validated); those of seqs not damaged are
   * ignored. A damaged span must be covered whole. Each run of covered
   * damaged seqs [a, b] is checked against the hash chain before anything is
   * written: starting from the intact hash of record a - 1 (or the segment
   * header's), the candidates' chain hashes must lead to the hash stored in
   * the intact record b + 1 (its chain hash computed from the candidates'
   * must equal the one it stores), or, when b ends the segment, to the
   * segment's last hash, which the next segment's header (or the appends
   * of this process) vouch for. The damaged record's own stored hash is
   * never trusted: it may be the damaged byte. A candidate that passes is
   * byte for byte the record that was written (the chain commits to every
   * byte of it). Any failure throws RepairRejectedError and nothing is
   * written; otherwise each run is written at its offset and fdatasynced.
   * Returns the seqs repaired and their epochs.
   */
  async repair(candidates: ReadonlyMap<number, SizedEntry>): Promise<Entry[]> {
    interface Run {
      readonly segment: Segment;
      readonly spans: DamagedSpan[];
      toSeq: number;
    }
    const runs: Run[] = [];
    for (const segment of this.segments) {
      let run: Run | null = null;
      for (const span of segment.damaged) {
        let covered = 0;
        for (let seq = span.fromSeq; seq <= span.toSeq; seq++) if (candidates.has(seq)) covered++;
        if (covered === 0) continue;
        if (covered !== span.toSeq - span.fromSeq + 1) {
          throw new RepairRejectedError(
            span.fromSeq,
            `seqs ${span.fromSeq} to ${span.toSeq} lost their framing together and must be repaired together`,
          );
        }
        if (run !== null && run.toSeq + 1 === span.fromSeq) {
          run.spans.push(span);
          run.toSeq = span.toSeq;
        } else {
          run = { segment, spans: [span], toSeq: span.toSeq };
          runs.push(run);
        }
      }
    }
    const planned: { run: Run; buf: Buffer; frames: number[]; nextEpoch: number | null }[] = [];
    for (const run of runs) {
      const { segment } = run;
      const fromSeq = run.spans[0]!.fromSeq;
      const start = run.spans[0]!.start;
      const end = run.spans[run.spans.length - 1]!.end;
      const index = await this.loadIndex(segment);
      let prevHash: Uint8Array = segment.header.prevHash;
      if (fromSeq > segment.firstSeq) {
        if (segment.damageAt(fromSeq - 1) !== undefined) {
          throw new RepairRejectedError(
            fromSeq,
            `seq ${fromSeq - 1} before it is damaged too; repair them together`,
          );
        }
        prevHash = (await this.readRecordMeta(segment, index, fromSeq - 1)).hash;
      }
      const frames: number[] = [];
      let bytes = 0;
      for (let seq = fromSeq; seq <= run.toSeq; seq++) {
        const frameBytes = candidates.get(seq)!.frameBytes;
        frames.push(frameBytes);
        bytes += frameBytes;
      }
      if (bytes !== end - start) {
        throw new RepairRejectedError(
          fromSeq,
          `the entries for seqs ${fromSeq} to ${run.toSeq} take ${bytes} bytes where the damaged records took ${end - start}`,
          'mismatch',
        );
      }
      const buf = Buffer.allocUnsafe(bytes);
      let hash: Uint8Array = prevHash;
      let at = 0;
      for (let seq = fromSeq; seq <= run.toSeq; seq++) {
        const sized = candidates.get(seq)!;
        hash = encodeRecord(buf, at, sized, hash);
        at += sized.frameBytes;
      }
      let nextEpoch: number | null = null;
      if (!this.checkRepairs) {
        // The planted defect: whatever fits the damaged bytes is taken as it is.
      } else if (run.toSeq === segment.lastSeq) {
        if (!Buffer.from(hash).equals(Buffer.from(segment.lastHash))) {
          throw new RepairRejectedError(
            run.toSeq,
            'the chain hash it leads to differs from the one recorded for the end of its segment',
            'mismatch',
          );
        }
      } else {
        if (segment.damageAt(run.toSeq + 1) !== undefined) {
          throw new RepairRejectedError(
            run.toSeq,
            `seq ${run.toSeq + 1} after it is damaged too; repair them together`,
          );
        }
        const next = await this.readRecordMeta(segment, index, run.toSeq + 1);
        const expected = chainHashOf(hash, next.record, 0, next.record.length);
        if (!expected.equals(next.hash)) {
          throw new RepairRejectedError(
            run.toSeq,
            `the chain hash it leads to does not match the one stored in seq ${run.toSeq + 1}`,
            'mismatch',
          );
        }
        nextEpoch = next.epoch;
      }
      planned.push({ run, buf, frames, nextEpoch });
    }
    // Every run fits the chain: write them, each made durable before it counts as repaired.
    const repaired: Entry[] = [];
    for (const { run, buf, frames, nextEpoch } of planned) {
      const { segment } = run;
      const fromSeq = run.spans[0]!.fromSeq;
      const handle = segment.writer ?? (await this.fs.open(segment.logPath, 'r+'));
      try {
        await writeFully(handle, buf, run.spans[0]!.start);
        await handle.datasync();
      } finally {
        if (handle !== segment.writer) await handle.close();
      }
      segment.damaged = segment.damaged.filter((span) => !run.spans.includes(span));
      segment.index!.resize(fromSeq, frames);
      const entries: Entry[] = [];
      for (let seq = fromSeq; seq <= run.toSeq; seq++) entries.push(candidates.get(seq)!.entry);
      fixEpochChanges(segment, fromSeq, run.toSeq, entries, nextEpoch);
      repaired.push(...entries);
    }
    return repaired;
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

  private async readRecordMeta(
    segment: Segment,
    index: SegmentIndex,
    seq: number,
  ): Promise<{ hash: Uint8Array; timestampMs: number; epoch: number; record: Buffer }> {
    const start = index.startOf(seq);
    const length = index.endOf(seq) - start;
    const buf = Buffer.alloc(length);
    const handle = await this.fs.open(segment.logPath, 'r');
    let got: number;
    try {
      got = await readFully(handle, buf, length, start);
    } finally {
      await handle.close();
    }
    const check = checkRecord(buf, 0, got);
    if (!check.ok || check.meta.seq !== seq) {
      throw new CorruptLogError(segment.logPath, start, seq, check.ok ? 'wrong seq' : check.reason);
    }
    return {
      hash: Buffer.from(check.meta.hash),
      timestampMs: check.meta.timestampMs,
      epoch: check.meta.epoch,
      record: buf,
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
