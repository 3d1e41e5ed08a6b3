import { join } from 'node:path';
import { AtomicFile } from './atomic-file.js';
import { crc32c } from './crc32c.js';
import { isMissingFile, removeFile, syncDirectory } from './directory.js';
import type { FileSystem } from './file-system.js';
import { readFully, segmentFileName, writeFully } from './segment.js';
import { CorruptLogError } from './storage-errors.js';
import { readU32, readU64, writeU32, writeU64 } from './uint64.js';

/**
 * A record cut short, written down before it is done. Truncating the log
 * inside a record means writing that record again with only its first
 * entries, over its old bytes: a crash in the middle would lose entries the
 * node already made durable (and may have acknowledged). So the new record
 * and where it goes are first saved whole in a file of their own (written
 * atomically), the segment is cut and the record written and synced, and
 * only then is the file removed. A node that finds the file at open does
 * the cut again, unless the new record is already in place (then later
 * appends may follow it and are kept).
 *
 * File layout (little-endian): magic u32 'OCUT', segment firstSeq u64,
 * recordStart u64, record bytes u32, the record, CRC32C u32 of all before.
 */
export interface PlannedCut {
  /** First seq of the segment the record is in: the log's last segment once the cut is planned. */
  readonly segmentFirstSeq: number;
  /** Byte offset of the record in the segment file: the file ends there, then the record. */
  readonly recordStart: number;
  readonly record: Uint8Array;
}

const CUT_FILE = 'record-cut';
const CUT_MAGIC = 0x5455_434f;
const FIXED_BYTES = 24;

export class RecordCut {
  private readonly file: AtomicFile;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
  ) {
    this.file = new AtomicFile(dir, CUT_FILE, fs);
  }

  /** Saves the plan durably; the caller then cuts the segment and writes the record. */
  async begin(cut: PlannedCut): Promise<void> {
    const bytes = Buffer.alloc(FIXED_BYTES + cut.record.length + 4);
    writeU32(bytes, 0, CUT_MAGIC);
    writeU64(bytes, 4, cut.segmentFirstSeq);
    writeU64(bytes, 12, cut.recordStart);
    writeU32(bytes, 20, cut.record.length);
    bytes.set(cut.record, FIXED_BYTES);
    const end = FIXED_BYTES + cut.record.length;
    writeU32(bytes, end, crc32c(bytes, 0, end));
    await this.file.write(bytes);
  }

  /**
   * The record is written and synced: the plan is no longer needed. Its
   * removal is made durable before anything else changes the segment, so
   * a plan found at open never describes bytes written over since.
   */
  async finish(): Promise<void> {
    await removeFile(this.file.path, this.fs);
    await syncDirectory(this.dir, this.fs);
  }

  /**
   * Finishes a cut a crash interrupted, before the log is read: returns the
   * plan carried out, or null when there was none or its record was
   * already in place.
   */
  async recover(): Promise<PlannedCut | null> {
    const bytes = await this.file.read();
    if (bytes === null) return null;
    const cut = decode(bytes);
    if (typeof cut === 'string') {
      // The file is written whole (temp file and rename) before the segment is touched.
      throw new CorruptLogError(this.file.path, 0, 0, `unreadable record cut: ${cut}`);
    }
    const path = join(this.dir, segmentFileName(cut.segmentFirstSeq));
    let handle: Awaited<ReturnType<FileSystem['open']>>;
    try {
      handle = await this.fs.open(path, 'r+');
    } catch (error) {
      // Cut off with the segment by a reset or truncation after the plan was saved.
      if (!isMissingFile(error)) throw error;
      await this.finish();
      return null;
    }
    try {
      const size = await handle.size();
      const present = Buffer.alloc(cut.record.length);
      const got =
        size >= cut.recordStart + cut.record.length
          ? await readFully(handle, present, cut.record.length, cut.recordStart)
          : 0;
      const inPlace = got === cut.record.length && present.equals(cut.record);
      if (!inPlace) {
        await handle.truncate(cut.recordStart);
        await writeFully(handle, cut.record, cut.recordStart);
        await handle.sync();
      }
      await this.finish();
      return inPlace ? null : cut;
    } finally {
      await handle.close();
    }
  }
}

function decode(bytes: Buffer): PlannedCut | string {
  if (bytes.length < FIXED_BYTES + 4) return `only ${bytes.length} bytes`;
  if (readU32(bytes, 0) !== CUT_MAGIC) return 'bad magic';
  const length = readU32(bytes, 20);
  const end = FIXED_BYTES + length;
  if (bytes.length !== end + 4) return `length ${length} does not match the file`;
  if (crc32c(bytes, 0, end) !== readU32(bytes, end)) return 'CRC32C mismatch';
  const segmentFirstSeq = readU64(bytes, 4);
  const recordStart = readU64(bytes, 12);
  if (segmentFirstSeq < 1 || recordStart < 0) return 'fields out of range';
  return { segmentFirstSeq, recordStart, record: Buffer.from(bytes.subarray(FIXED_BYTES, end)) };
}
