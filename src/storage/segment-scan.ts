import { invariant } from '../core/assert.js';
import { LIMITS } from '../limits.js';
import type { FileSystem, FsFile } from './file-system.js';
import {
  chainAfter,
  checkRecord,
  checkRecordHeader,
  findRecordMagic,
  RECORD_FIXED_BYTES,
  RECORD_MAX_BYTES,
  type RecordHeader,
  recordHeaderBytesAt,
} from './record-codec.js';
import { readFully, SEGMENT_HEADER_BYTES, type Segment } from './segment.js';
import type { SegmentIndex } from './segment-index.js';
import { CorruptLogError } from './storage-errors.js';

/** Where a scan stopped short of the file's end because the rest is a torn write. */
export interface TornTail {
  readonly offset: number;
  readonly fileBytes: number;
  readonly reason: string;
}

export interface ScanOptions {
  /** The last segment: a failure with no valid record after it is a torn write, returned to be cut. */
  readonly allowTornTail: boolean;
  /** Records damaged in the middle are noted in `segment.damaged` and the scan goes on; otherwise they throw. */
  readonly tolerateDamage: boolean;
  /** The segment's record positions from its sidecar index, to step over a damaged record exactly. */
  readonly knownIndex?: SegmentIndex | null;
  /** For a closed segment, its last seq as the next segment's header gives it: damage at its end is bounded. */
  readonly expectedLastSeq?: number;
}

/**
 * Reads every record of `segment`'s file in order, checking framing, CRC,
 * seq continuity, epoch order and the hash chain from the header, and fills
 * the segment's index and summary. Memory stays at one window of
 * `logScanChunkBytes`, whatever the segment's size.
 *
 * When a record fails, the scan looks for where the next record starts: the
 * sidecar index's position when it has one for this record, otherwise the
 * first valid record found after it (by its magic, then its own checks).
 * If there is one, the damage is in the middle of the log: with
 * `tolerateDamage` the failed seqs are noted in `segment.damaged` and the
 * scan resumes there, taking that record's stored chain hash as the chain
 * (the hash before it is unknown); without, it throws CorruptLogError. If
 * there is none and `allowTornTail` is set (the last segment), the failure
 * is a write torn by a crash and is returned so the caller truncates it;
 * otherwise it throws.
 */
export async function scanSegment(
  fs: FileSystem,
  segment: Segment,
  options: ScanOptions,
): Promise<TornTail | null> {
  const handle = await fs.open(segment.logPath, 'r');
  try {
    const fileBytes = await handle.size();
    const window = new FileWindow(handle, fileBytes, LIMITS.logScanChunkBytes);
    let position = SEGMENT_HEADER_BYTES;
    let chainKnown = true;
    while (position < fileBytes) {
      const expectedSeq = segment.lastSeq + 1;
      const failure = await appendRecordAt(
        segment,
        window,
        position,
        fileBytes,
        chainKnown,
        options.tolerateDamage,
      );
      if (typeof failure === 'number') {
        position += failure;
        chainKnown = true;
        continue;
      }
      if (typeof failure !== 'string') {
        // Whole and CRC-clean, but not the record the chain expects: its bounds are known.
        const end = position + failure.brokenChainBytes;
        if (options.allowTornTail && end === fileBytes) {
          // The newest record: what it should have been is known nowhere else.
          throw new CorruptLogError(segment.logPath, position, expectedSeq, failure.reason);
        }
        segment.recordDamaged(expectedSeq, failure.lastSeq, end - position, failure.reason);
        position = end;
        chainKnown = false;
        continue;
      }
      const known = options.knownIndex;
      if (
        options.tolerateDamage &&
        known != null &&
        expectedSeq >= known.firstSeq &&
        expectedSeq <= known.lastSeq &&
        known.startOf(expectedSeq) === position &&
        known.recordEndOf(expectedSeq) <= fileBytes
      ) {
        const end = known.recordEndOf(expectedSeq);
        const toSeq = known.recordLastSeqOf(expectedSeq);
        segment.recordDamaged(expectedSeq, toSeq, end - position, failure);
        position = end;
        chainKnown = false;
        continue;
      }
      const next = await findValidRecordAfter(window, position + 1, fileBytes);
      if (next !== null) {
        const corrupt = (reason: string) =>
          new CorruptLogError(segment.logPath, position, expectedSeq, reason);
        if (!options.tolerateDamage) {
          throw corrupt(`${failure}; a valid record follows at byte offset ${next.offset}`);
        }
        if (next.seq <= expectedSeq) {
          throw corrupt(
            `${failure}; the valid record that follows at byte offset ${next.offset} holds seq ${next.seq}`,
          );
        }
        // A record whose header is intact (its CRC covers the length too)
        // is bounded by it: each damaged record is a span of its own, so it
        // is repaired, or cut inside, on its own.
        const header = await intactHeaderAt(window, position, fileBytes);
        if (
          header !== null &&
          header.firstSeq === expectedSeq &&
          position + header.frameBytes <= next.offset &&
          expectedSeq + header.count <= next.seq
        ) {
          const lastSeq = expectedSeq + header.count - 1;
          segment.recordDamaged(expectedSeq, lastSeq, header.frameBytes, failure);
          position += header.frameBytes;
          chainKnown = false;
          continue;
        }
        segment.recordDamaged(expectedSeq, next.seq - 1, next.offset - position, failure);
        position = next.offset;
        chainKnown = false;
        continue;
      }
      const lastSeq = options.expectedLastSeq;
      if (options.tolerateDamage && lastSeq !== undefined && lastSeq >= expectedSeq) {
        // The end of a closed segment: the next segment's header says which seqs these bytes held.
        segment.recordDamaged(expectedSeq, lastSeq, fileBytes - position, failure);
        return null;
      }
      if (!options.allowTornTail)
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
 * epoch) cannot come from a torn write: that throws at once, and so does a
 * broken chain unless `tolerateDamage`, when its size is returned for the
 * caller to note the record as damaged.
 */
async function appendRecordAt(
  segment: Segment,
  window: FileWindow,
  position: number,
  fileBytes: number,
  chainKnown: boolean,
  tolerateDamage: boolean,
): Promise<number | string | { brokenChainBytes: number; lastSeq: number; reason: string }> {
  const available = fileBytes - position;
  const header = await readHeaderAt(window, position, fileBytes);
  if (typeof header === 'string') return header;
  const frameBytes = header.frameBytes;
  if (frameBytes > available) return `record of ${frameBytes} bytes is cut off after ${available}`;
  const whole = await window.view(position, frameBytes);
  const check = checkRecord(whole.buf, whole.at, frameBytes);
  if (!check.ok) return check.reason;
  const meta = check.meta;
  const expectedSeq = segment.lastSeq + 1;
  const corrupt = (reason: string) =>
    new CorruptLogError(segment.logPath, position, expectedSeq, reason);
  if (meta.firstSeq !== expectedSeq) throw corrupt(`record holds seq ${meta.firstSeq}`);
  if (meta.firstEpoch < segment.lastEpoch)
    throw corrupt(`epoch ${meta.firstEpoch} after ${segment.lastEpoch}`);
  let chain: Uint8Array = Buffer.from(meta.chain);
  if (chainKnown) {
    const computed = chainAfter(segment.lastHash, whole.buf, whole.at, frameBytes);
    if (computed === null || !computed.equals(meta.chain)) {
      const reason = 'chain hash does not follow from the previous record';
      if (!tolerateDamage) throw corrupt(reason);
      return { brokenChainBytes: frameBytes, lastSeq: meta.lastSeq, reason };
    }
    chain = computed;
  }
  segment.recordAppended(meta, chain);
  return frameBytes;
}

/** The header of the record at `position` once its own CRC holds; otherwise why not. */
async function readHeaderAt(
  window: FileWindow,
  position: number,
  fileBytes: number,
): Promise<RecordHeader | string> {
  const available = fileBytes - position;
  if (available < RECORD_FIXED_BYTES) return `only ${available} bytes left of a record header`;
  const fixed = await window.view(position, RECORD_FIXED_BYTES);
  const headerBytes = Math.min(available, recordHeaderBytesAt(fixed.buf, fixed.at));
  const head = await window.view(position, headerBytes);
  return checkRecordHeader(head.buf, head.at, headerBytes);
}

/** The header of the record at `position` when its own CRC holds and the whole record is in the file, or null. */
async function intactHeaderAt(
  window: FileWindow,
  position: number,
  fileBytes: number,
): Promise<RecordHeader | null> {
  const header = await readHeaderAt(window, position, fileBytes);
  return typeof header === 'string' || position + header.frameBytes > fileBytes ? null : header;
}

/** The offset of the first record in [from, fileBytes) that passes its own checks, or null. */
async function findValidRecordAfter(
  window: FileWindow,
  from: number,
  fileBytes: number,
): Promise<{ offset: number; seq: number } | null> {
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
    const check = checkRecord(whole.buf, whole.at, available);
    if (check.ok) return { offset: candidate, seq: check.meta.firstSeq };
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
    // No larger than the file: small segments (tests, the simulator) need no 4 MiB window.
    this.buf = Buffer.allocUnsafe(Math.min(Math.max(chunkBytes, RECORD_MAX_BYTES), fileBytes));
  }

  /** A buffer holding the file's bytes [position, position + length) at `at`. */
  async view(position: number, length: number): Promise<{ buf: Buffer; at: number }> {
    invariant(position + length <= this.fileBytes, 'view past the end of the file');
    if (position < this.base || position + length > this.base + this.filled) {
      const want = Math.min(Math.max(length, this.chunkBytes), this.fileBytes - position);
      if (this.buf.length < want) this.buf = Buffer.allocUnsafe(want);
      const got = await readFully(this.handle, this.buf, want, position);
      invariant(got === want, 'file shrank during the scan');
      this.base = position;
      this.filled = got;
    }
    return { buf: this.buf, at: position - this.base };
  }
}
