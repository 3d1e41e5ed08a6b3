import { invariant } from '../core/assert.js';
import { LIMITS } from '../limits.js';
import type { FileSystem, FsFile } from './file-system.js';
import {
  announcedFrameBytes,
  chainHashOf,
  checkRecord,
  findRecordMagic,
  RECORD_FIXED_BYTES,
  RECORD_MAX_BYTES,
} from './record-codec.js';
import { readFully, SEGMENT_HEADER_BYTES, type Segment } from './segment.js';
import { CorruptLogError } from './storage-errors.js';

/** Where a scan stopped short of the file's end because the rest is a torn write. */
export interface TornTail {
  readonly offset: number;
  readonly fileBytes: number;
  readonly reason: string;
}

/**
 * Reads every record of `segment`'s file in order, checking framing, CRC,
 * seq continuity, epoch order and the hash chain from the header, and fills
 * the segment's index and summary. Memory stays at one window of
 * `logScanChunkBytes`, whatever the segment's size.
 *
 * When a record fails, the rest of the file is searched for any valid
 * record. If one exists, the damage is in the middle of the log and the scan
 * throws CorruptLogError. If none does and `allowTornTail` is set (the last
 * segment), the failure is a write torn by a crash and is returned so the
 * caller truncates it; otherwise it throws.
 */
export async function scanSegment(
  fs: FileSystem,
  segment: Segment,
  allowTornTail: boolean,
): Promise<TornTail | null> {
  const handle = await fs.open(segment.logPath, 'r');
  try {
    const fileBytes = await handle.size();
    const window = new FileWindow(handle, fileBytes, LIMITS.logScanChunkBytes);
    let position = SEGMENT_HEADER_BYTES;
    while (position < fileBytes) {
      const expectedSeq = segment.lastSeq + 1;
      const failure = await appendRecordAt(segment, window, position, fileBytes);
      if (typeof failure === 'number') {
        position += failure;
        continue;
      }
      const next = await findValidRecordAfter(window, position + 1, fileBytes);
      if (next !== null) {
        throw new CorruptLogError(
          segment.logPath,
          position,
          expectedSeq,
          `${failure}; a valid record follows at byte offset ${next}`,
        );
      }
      if (!allowTornTail)
        throw new CorruptLogError(segment.logPath, position, expectedSeq, failure);
      return { offset: position, fileBytes, reason: failure };
    }
    return null;
  } finally {
    await handle.close();
  }
}

/**
 * Validates the record at `position` and appends it to `segment`, returning
 * its size, or returns why it is not a whole, valid record. A record that is
 * whole and passes its CRC but does not continue the log (wrong seq, older
 * epoch, broken chain) cannot come from a torn write: that throws at once.
 */
async function appendRecordAt(
  segment: Segment,
  window: FileWindow,
  position: number,
  fileBytes: number,
): Promise<number | string> {
  const available = fileBytes - position;
  if (available < RECORD_FIXED_BYTES) return `only ${available} bytes left of a record header`;
  const head = await window.view(position, RECORD_FIXED_BYTES);
  const frameBytes = announcedFrameBytes(head.buf, head.at);
  if (typeof frameBytes === 'string') return frameBytes;
  if (frameBytes > available) return `record of ${frameBytes} bytes is cut off after ${available}`;
  const whole = await window.view(position, frameBytes);
  const check = checkRecord(whole.buf, whole.at, frameBytes);
  if (!check.ok) return check.reason;
  const meta = check.meta;
  const expectedSeq = segment.lastSeq + 1;
  const corrupt = (reason: string) =>
    new CorruptLogError(segment.logPath, position, expectedSeq, reason);
  if (meta.seq !== expectedSeq) throw corrupt(`record holds seq ${meta.seq}`);
  if (meta.epoch < segment.lastEpoch)
    throw corrupt(`epoch ${meta.epoch} after ${segment.lastEpoch}`);
  const hash = chainHashOf(segment.lastHash, whole.buf, whole.at, frameBytes);
  if (!hash.equals(meta.hash)) throw corrupt('chain hash does not follow from the previous record');
  segment.recordAppended(frameBytes, meta.seq, meta.epoch, meta.timestampMs, hash);
  return frameBytes;
}

/** The offset of the first record in [from, fileBytes) that passes its own checks, or null. */
async function findValidRecordAfter(
  window: FileWindow,
  from: number,
  fileBytes: number,
): Promise<number | null> {
  let position = from;
  while (position + RECORD_FIXED_BYTES <= fileBytes) {
    const span = Math.min(fileBytes - position, LIMITS.logScanChunkBytes);
    const view = await window.view(position, span);
    const found = findRecordMagic(view.buf, view.at, view.at + span);
    if (found < 0) {
      // A magic may straddle the window's end: step back three bytes.
      position += Math.max(1, span - 3);
      continue;
    }
    const candidate = position + (found - view.at);
    const available = Math.min(fileBytes - candidate, RECORD_MAX_BYTES);
    const whole = await window.view(candidate, available);
    if (checkRecord(whole.buf, whole.at, available).ok) return candidate;
    position = candidate + 1;
  }
  return null;
}

/**
 * A sliding window over a file, so a scan reads it in large sequential
 * chunks while looking at one record at a time.
 */
class FileWindow {
  private buf: Buffer;
  private base = 0;
  private filled = 0;

  constructor(
    private readonly handle: FsFile,
    private readonly fileBytes: number,
    private readonly chunkBytes: number,
  ) {
    this.buf = Buffer.alloc(Math.max(chunkBytes, RECORD_MAX_BYTES));
  }

  /** A buffer holding the file's bytes [position, position + length) at `at`. */
  async view(position: number, length: number): Promise<{ buf: Buffer; at: number }> {
    invariant(position + length <= this.fileBytes, 'view past the end of the file');
    if (position < this.base || position + length > this.base + this.filled) {
      const want = Math.min(Math.max(length, this.chunkBytes), this.fileBytes - position);
      if (this.buf.length < want) this.buf = Buffer.alloc(want);
      const got = await readFully(this.handle, this.buf, want, position);
      invariant(got === want, 'file shrank during the scan');
      this.base = position;
      this.filled = got;
    }
    return { buf: this.buf, at: position - this.base };
  }
}
