import { invariant } from '../core/assert.js';
import { crc32c } from './crc32c.js';
import { CHAIN_HASH_BYTES } from './record-codec.js';
import { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from './uint64.js';

/**
 * Maps each seq of one segment to the record holding it, so that a read
 * seeks straight to it. `ends` holds count + 1 positions, one slot per seq:
 * ends[0] is where the first record starts (just after the segment header)
 * and seq i spans [ends[i], ends[i + 1]). A record of several entries is
 * laid out as all its seqs starting where it starts: every seq but its last
 * spans no bytes, and its last spans the whole record. So startOf(seq) is
 * always the start of the record holding seq, and recordEndOf(seq) its end.
 */
export class SegmentIndex {
  private ends: Uint32Array;
  private length: number;

  constructor(
    readonly firstSeq: number,
    recordsStartAt: number,
    ends?: Uint32Array,
  ) {
    if (ends) {
      invariant(
        ends.length >= 1 && ends[0] === recordsStartAt,
        'index must start at the first record',
      );
      this.ends = ends;
      this.length = ends.length;
    } else {
      this.ends = new Uint32Array(64);
      this.ends[0] = recordsStartAt;
      this.length = 1;
    }
  }

  get count(): number {
    return this.length - 1;
  }

  get lastSeq(): number {
    return this.firstSeq + this.count - 1;
  }

  /** Where the next record will start: the end of the last one. */
  get endBytes(): number {
    return this.ends[this.length - 1]!;
  }

  startOf(seq: number): number {
    return this.ends[this.slot(seq)]!;
  }

  endOf(seq: number): number {
    return this.ends[this.slot(seq) + 1]!;
  }

  /** Where the record holding `seq` ends: at the end of the first seq from `seq` on that spans bytes. */
  recordEndOf(seq: number): number {
    return this.ends[this.slot(this.recordLastSeqOf(seq)) + 1]!;
  }

  /** The last seq of the record holding `seq`. */
  recordLastSeqOf(seq: number): number {
    let slot = this.slot(seq);
    const start = this.ends[slot]!;
    while (slot < this.count - 1 && this.ends[slot + 1] === start) slot++;
    return this.firstSeq + slot;
  }

  /** The first seq of the record holding `seq`. */
  recordFirstSeqOf(seq: number): number {
    let slot = this.slot(seq);
    const start = this.ends[slot]!;
    while (slot > 0 && this.ends[slot - 1] === start) slot--;
    return this.firstSeq + slot;
  }

  /** Records the next seq, spanning `frameBytes`, right after the last one (0 for all but a record's last seq). */
  push(frameBytes: number): void {
    const end = this.endBytes + frameBytes;
    invariant(end <= 0xffff_ffff, 'segment outgrew 32-bit offsets');
    if (this.length === this.ends.length) {
      const grown = new Uint32Array(this.ends.length * 2);
      grown.set(this.ends);
      this.ends = grown;
    }
    this.ends[this.length++] = end;
  }

  /** Sets the sizes of the records from `fromSeq` on (a repaired span), which must fill the same bytes. */
  resize(fromSeq: number, frameBytes: readonly number[]): void {
    const slot = this.slot(fromSeq);
    invariant(slot + frameBytes.length <= this.count, 'resized records beyond the index');
    const spanEnd = this.ends[slot + frameBytes.length]!;
    let end = this.ends[slot]!;
    for (let i = 0; i < frameBytes.length; i++) {
      end += frameBytes[i]!;
      this.ends[slot + i + 1] = end;
    }
    invariant(end === spanEnd, 'resized records do not fill their span');
  }

  /** Forgets every record above `seq` (firstSeq - 1 forgets them all). */
  truncateAfter(seq: number): void {
    invariant(
      seq >= this.firstSeq - 1 && seq <= this.lastSeq,
      `truncation to ${seq} outside the segment`,
    );
    this.length = seq - this.firstSeq + 2;
  }

  /** The positions as stored in the index file. */
  positions(): Uint32Array {
    return this.ends.subarray(0, this.length);
  }

  private slot(seq: number): number {
    const slot = seq - this.firstSeq;
    if (slot < 0 || slot >= this.count)
      invariant(false, `seq ${seq} is not in segment from ${this.firstSeq}`);
    return slot;
  }
}

export interface EpochChange {
  readonly epoch: number;
  readonly startSeq: number;
}

/** Everything the sidecar index file of a closed segment holds. */
export interface IndexFileContents {
  readonly firstSeq: number;
  /** Size the segment file had when the index was written; a different size means a stale index. */
  readonly segmentBytes: number;
  readonly lastHash: Uint8Array;
  readonly lastTimestampMs: number;
  readonly lastEpoch: number;
  /** Seqs at which the epoch differs from the record before (the header's epoch for the first record). */
  readonly epochChanges: readonly EpochChange[];
  readonly index: SegmentIndex;
}

/*
 * Index file layout (little-endian): magic u32 'OIDX', version u16, 2 bytes
 * reserved, firstSeq u64, record count u32, epoch change count u32,
 * segmentBytes u64, lastHash 16 bytes, lastTimestampMs u64, lastEpoch u64,
 * then (count + 1) u32 positions, then (startSeq u64, epoch u64) per epoch
 * change, then a CRC32C u32 of everything before it.
 */
const INDEX_MAGIC = 0x5844_494f;
/** Version 2: the seqs of a multi-entry record share its start (see SegmentIndex). */
const INDEX_VERSION = 2;
const INDEX_FIXED_BYTES = 72;

export function encodeIndexFile(contents: IndexFileContents): Buffer {
  const positions = contents.index.positions();
  const changes = contents.epochChanges;
  const size = INDEX_FIXED_BYTES + positions.length * 4 + changes.length * 16 + 4;
  const buf = Buffer.alloc(size);
  writeU32(buf, 0, INDEX_MAGIC);
  writeU16(buf, 4, INDEX_VERSION);
  writeU64(buf, 8, contents.firstSeq);
  writeU32(buf, 16, positions.length - 1);
  writeU32(buf, 20, changes.length);
  writeU64(buf, 24, contents.segmentBytes);
  buf.set(contents.lastHash, 32);
  writeU64(buf, 48, contents.lastTimestampMs);
  writeU64(buf, 56, contents.lastEpoch);
  let at = INDEX_FIXED_BYTES;
  for (const position of positions) {
    writeU32(buf, at, position);
    at += 4;
  }
  for (const change of changes) {
    writeU64(buf, at, change.startSeq);
    writeU64(buf, at + 8, change.epoch);
    at += 16;
  }
  writeU32(buf, at, crc32c(buf, 0, at));
  return buf;
}

/** Decodes an index file, or says why it cannot be used (then the segment is scanned instead). */
export function decodeIndexFile(buf: Buffer, recordsStartAt: number): IndexFileContents | string {
  if (buf.length < INDEX_FIXED_BYTES + 8) return `index file of ${buf.length} bytes is too short`;
  if (readU32(buf, 0) !== INDEX_MAGIC) return 'bad index magic';
  const count = readU32(buf, 16);
  const changeCount = readU32(buf, 20);
  const expected = INDEX_FIXED_BYTES + (count + 1) * 4 + changeCount * 16 + 4;
  if (buf.length !== expected)
    return `index file has ${buf.length} bytes, its counts say ${expected}`;
  if (crc32c(buf, 0, expected - 4) !== readU32(buf, expected - 4)) return 'index CRC32C mismatch';
  if (readU16(buf, 4) !== INDEX_VERSION) return `unknown index version ${readU16(buf, 4)}`;
  const firstSeq = readU64(buf, 8);
  const segmentBytes = readU64(buf, 24);
  const lastTimestampMs = readU64(buf, 48);
  const lastEpoch = readU64(buf, 56);
  if (firstSeq < 1 || segmentBytes < 0 || lastTimestampMs < 0 || lastEpoch < 0) {
    return 'index fields out of range';
  }
  const ends = new Uint32Array(count + 1);
  let at = INDEX_FIXED_BYTES;
  for (let i = 0; i <= count; i++) {
    ends[i] = readU32(buf, at);
    if (i > 0 && ends[i]! < ends[i - 1]!) return 'index positions do not ascend';
    at += 4;
  }
  if (ends[0] !== recordsStartAt) return 'index does not start after the segment header';
  if (ends[count] !== segmentBytes) return 'index does not end at the segment end';
  const epochChanges: EpochChange[] = [];
  for (let i = 0; i < changeCount; i++) {
    const startSeq = readU64(buf, at);
    const epoch = readU64(buf, at + 8);
    if (startSeq < firstSeq || startSeq >= firstSeq + count || epoch < 0) return 'bad epoch change';
    epochChanges.push({ startSeq, epoch });
    at += 16;
  }
  return {
    firstSeq,
    segmentBytes,
    lastHash: Buffer.from(buf.subarray(32, 32 + CHAIN_HASH_BYTES)),
    lastTimestampMs,
    lastEpoch,
    epochChanges,
    index: new SegmentIndex(firstSeq, recordsStartAt, ends),
  };
}
