import { join } from 'node:path';
import { invariant } from '../core/assert.js';
import { crc32c } from './crc32c.js';
import type { FileSystem, FsFile } from './file-system.js';
import { CHAIN_HASH_BYTES } from './record-codec.js';
import { type EpochChange, type IndexFileContents, SegmentIndex } from './segment-index.js';
import { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from './uint64.js';

/**
 * One file of the log: a header, then records in seq order. The header
 * carries what is known of the entry just before the segment (its epoch,
 * timestamp and chain hash), so a segment can be validated on its own and
 * the log's start stays well described after older segments are deleted.
 *
 * Header layout (64 bytes, little-endian): magic u32 'OSEG', version u16,
 * header size u16, firstSeq u64, epochBeforeFirst u64,
 * timestampBeforeFirstMs u64, prevHash 16 bytes, 12 bytes reserved (zero),
 * CRC32C u32 of bytes [0, 60).
 */
export const SEGMENT_HEADER_BYTES = 64;
const SEGMENT_MAGIC = 0x4745_534f;
/** Version 2 holds multi-entry records (record-codec.ts); version 1 held one entry per record. */
const SEGMENT_VERSION = 2;
const SEGMENT_CRC_AT = 60;
/** Zero-padded to the 16 digits of Number.MAX_SAFE_INTEGER, so that names sort like seqs. */
const SEQ_DIGITS = 16;
const LOG_SUFFIX = '.log';
const INDEX_SUFFIX = '.idx';

/**
 * Records of a segment that fail their checks while records after them are
 * intact: seqs [fromSeq, toSeq] occupy the bytes [start, end) of the file.
 * Usually one record; several when its framing was lost and the next intact
 * record was only found by its magic.
 */
export interface DamagedSpan {
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly start: number;
  readonly end: number;
  readonly reason: string;
}

/** What the index and summary of a segment need of a record appended to it. */
export interface AppendedRecord {
  readonly frameBytes: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstEpoch: number;
  readonly lastEpoch: number;
  readonly epochChanges: readonly { readonly seq: number; readonly epoch: number }[];
  readonly lastTimestampMs: number;
}

export interface SegmentHeader {
  readonly firstSeq: number;
  readonly epochBeforeFirst: number;
  readonly timestampBeforeFirstMs: number;
  readonly prevHash: Uint8Array;
}

export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  writeU32(buf, 0, SEGMENT_MAGIC);
  writeU16(buf, 4, SEGMENT_VERSION);
  writeU16(buf, 6, SEGMENT_HEADER_BYTES);
  writeU64(buf, 8, header.firstSeq);
  writeU64(buf, 16, header.epochBeforeFirst);
  writeU64(buf, 24, header.timestampBeforeFirstMs);
  invariant(header.prevHash.length === CHAIN_HASH_BYTES, 'chain hash has the wrong size');
  buf.set(header.prevHash, 32);
  writeU32(buf, SEGMENT_CRC_AT, crc32c(buf, 0, SEGMENT_CRC_AT));
  return buf;
}

/** Decodes a segment header, or says why it is not one. */
export function decodeSegmentHeader(buf: Uint8Array): SegmentHeader | string {
  if (buf.length < SEGMENT_HEADER_BYTES) return `segment header has only ${buf.length} bytes`;
  if (readU32(buf, 0) !== SEGMENT_MAGIC) return 'bad segment magic';
  if (crc32c(buf, 0, SEGMENT_CRC_AT) !== readU32(buf, SEGMENT_CRC_AT)) {
    return 'segment header CRC32C mismatch';
  }
  const version = readU16(buf, 4);
  if (version === 1) {
    return 'segment of format version 1 (one entry per record), which this version of Ordo no longer reads: move the data directory aside and let the node catch up from its peers (docs/operations.md, "Upgrading the log format")';
  }
  if (version !== SEGMENT_VERSION) return `unknown segment version ${version}`;
  if (readU16(buf, 6) !== SEGMENT_HEADER_BYTES) return 'unexpected segment header size';
  const firstSeq = readU64(buf, 8);
  const epochBeforeFirst = readU64(buf, 16);
  const timestampBeforeFirstMs = readU64(buf, 24);
  if (firstSeq < 1 || epochBeforeFirst < 0 || timestampBeforeFirstMs < 0) {
    return 'segment header fields out of range';
  }
  const prevHash = Buffer.from(buf.subarray(32, 32 + CHAIN_HASH_BYTES));
  return { firstSeq, epochBeforeFirst, timestampBeforeFirstMs, prevHash };
}

export function segmentFileName(firstSeq: number): string {
  return String(firstSeq).padStart(SEQ_DIGITS, '0') + LOG_SUFFIX;
}

/** The first seq a segment file name stands for, or null when the name is not a segment's. */
export function parseSegmentFileName(name: string): number | null {
  const match = /^(\d{16})\.log$/.exec(name);
  if (!match) return null;
  const seq = Number(match[1]);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : null;
}

/**
 * What the store knows of one segment file. The summary (last seq, size,
 * last hash, epochs) is always in memory; the offset index may be dropped
 * for closed segments and loaded again from the sidecar file when read.
 */
export class Segment {
  readonly logPath: string;
  readonly indexPath: string;
  lastSeq: number;
  endBytes: number;
  lastHash: Uint8Array;
  lastTimestampMs: number;
  lastEpoch: number;
  epochChanges: EpochChange[] = [];
  /** Null while unloaded; always loaded for the active segment. */
  index: SegmentIndex | null;
  /** Open only on the active segment, the one being appended to. */
  writer: FsFile | null = null;
  /** Set once the segment's files are being deleted (retention or truncation). */
  retired = false;
  /** Damaged records, ascending; a segment with any keeps its index in memory and writes no sidecar. */
  damaged: DamagedSpan[] = [];

  constructor(
    readonly dir: string,
    readonly header: SegmentHeader,
  ) {
    this.logPath = join(dir, segmentFileName(header.firstSeq));
    this.indexPath = this.logPath.slice(0, -LOG_SUFFIX.length) + INDEX_SUFFIX;
    this.lastSeq = header.firstSeq - 1;
    this.endBytes = SEGMENT_HEADER_BYTES;
    this.lastHash = header.prevHash;
    this.lastTimestampMs = header.timestampBeforeFirstMs;
    this.lastEpoch = header.epochBeforeFirst;
    this.index = new SegmentIndex(header.firstSeq, SEGMENT_HEADER_BYTES);
  }

  /** Creates the file with its header, durably, and returns it open for appends. */
  static async create(fs: FileSystem, dir: string, header: SegmentHeader): Promise<Segment> {
    const segment = new Segment(dir, header);
    const handle = await fs.open(segment.logPath, 'wx');
    try {
      const bytes = encodeSegmentHeader(header);
      await writeFully(handle, bytes, 0);
      await handle.datasync();
    } catch (error) {
      await handle.close();
      throw error;
    }
    segment.writer = handle;
    return segment;
  }

  get firstSeq(): number {
    return this.header.firstSeq;
  }

  get count(): number {
    return this.lastSeq - this.firstSeq + 1;
  }

  /**
   * Records a record just appended to the file, holding seqs
   * [meta.firstSeq, meta.lastSeq]. In the index every seq of a record
   * starts where the record starts: all but its last take no bytes, and
   * its last takes the whole record (see SegmentIndex).
   */
  recordAppended(meta: AppendedRecord, chain: Uint8Array): void {
    invariant(this.index !== null, 'append to a segment whose index is not loaded');
    if (meta.firstSeq !== this.lastSeq + 1)
      invariant(false, `segment append of seq ${meta.firstSeq} after ${this.lastSeq}`);
    for (let seq = meta.firstSeq; seq < meta.lastSeq; seq++) this.index.push(0);
    this.index.push(meta.frameBytes);
    if (meta.firstEpoch !== this.lastEpoch) {
      this.epochChanges.push({ epoch: meta.firstEpoch, startSeq: meta.firstSeq });
    }
    for (const change of meta.epochChanges) {
      this.epochChanges.push({ epoch: change.epoch, startSeq: change.seq });
    }
    this.lastSeq = meta.lastSeq;
    this.endBytes = this.index.endBytes;
    this.lastHash = chain;
    this.lastTimestampMs = meta.lastTimestampMs;
    this.lastEpoch = meta.lastEpoch;
  }

  /**
   * Records damaged seqs [fromSeq, toSeq] spanning `spanBytes` right after
   * the last record, laid out in the index like one record. Their epochs
   * are unknown and taken as the epoch before them; the chain value is
   * unknown until the next intact record.
   */
  recordDamaged(fromSeq: number, toSeq: number, spanBytes: number, reason: string): void {
    invariant(this.index !== null, 'damage in a segment whose index is not loaded');
    invariant(fromSeq === this.lastSeq + 1 && toSeq >= fromSeq, 'damaged span out of order');
    const start = this.index.endBytes;
    for (let seq = fromSeq; seq < toSeq; seq++) this.index.push(0);
    this.index.push(spanBytes);
    this.damaged.push({ fromSeq, toSeq, start, end: start + spanBytes, reason });
    this.lastSeq = toSeq;
    this.endBytes = this.index.endBytes;
  }

  /** The damaged span holding `seq`, if any. */
  damageAt(seq: number): DamagedSpan | undefined {
    for (const span of this.damaged) if (seq >= span.fromSeq && seq <= span.toSeq) return span;
    return undefined;
  }

  /** Forgets the records above `seq`; the caller read `hash` and `timestampMs` of record `seq`. */
  truncatedAfter(seq: number, hash: Uint8Array, timestampMs: number): void {
    invariant(this.index !== null, 'truncation of a segment whose index is not loaded');
    this.index.truncateAfter(seq);
    this.damaged = this.damaged.filter((span) => span.toSeq <= seq);
    this.epochChanges = this.epochChanges.filter((change) => change.startSeq <= seq);
    this.lastSeq = seq;
    this.endBytes = this.index.endBytes;
    const empty = seq < this.firstSeq;
    this.lastHash = empty ? this.header.prevHash : hash;
    this.lastTimestampMs = empty ? this.header.timestampBeforeFirstMs : timestampMs;
    this.lastEpoch =
      this.epochChanges[this.epochChanges.length - 1]?.epoch ?? this.header.epochBeforeFirst;
  }

  /** Takes the summary and index of a validated index file. */
  adopt(contents: IndexFileContents, damaged: DamagedSpan[] = []): void {
    invariant(contents.firstSeq === this.firstSeq, 'index file of another segment');
    this.index = contents.index;
    this.lastSeq = contents.index.lastSeq;
    this.endBytes = contents.segmentBytes;
    this.lastHash = contents.lastHash;
    this.lastTimestampMs = contents.lastTimestampMs;
    this.lastEpoch = contents.lastEpoch;
    this.epochChanges = [...contents.epochChanges];
    this.damaged = damaged;
  }

  indexFileContents(): IndexFileContents {
    invariant(this.index !== null, 'index file of a segment whose index is not loaded');
    return {
      firstSeq: this.firstSeq,
      segmentBytes: this.endBytes,
      lastHash: this.lastHash,
      lastTimestampMs: this.lastTimestampMs,
      lastEpoch: this.lastEpoch,
      epochChanges: this.epochChanges,
      index: this.index,
    };
  }
}

/** Writes all of `bytes` at `position`: a regular file may accept a write in parts. */
export async function writeFully(
  handle: FsFile,
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const bytesWritten = await handle.write(bytes, done, bytes.length - done, position + done);
    invariant(bytesWritten > 0, 'write made no progress');
    done += bytesWritten;
  }
}

/** Reads up to `length` bytes at `position`; fewer only at the end of the file. */
export async function readFully(
  handle: FsFile,
  buf: Uint8Array,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const bytesRead = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}
