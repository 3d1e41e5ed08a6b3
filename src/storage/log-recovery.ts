import { join } from 'node:path';
import { isMissingFile, removeFile, syncDirectory } from './directory.js';
import type { FileSystem } from './file-system.js';
import { ZERO_CHAIN_HASH } from './record-codec.js';
import { RecordCut } from './record-cut.js';
import {
  decodeSegmentHeader,
  parseSegmentFileName,
  readFully,
  SEGMENT_HEADER_BYTES,
  Segment,
  type SegmentHeader,
  segmentFileName,
} from './segment.js';
import { decodeIndexFile, encodeIndexFile } from './segment-index.js';
import { scanSegment } from './segment-scan.js';
import { CorruptLogError } from './storage-errors.js';

/** How `open()` treats damage. */
export interface RecoveryOptions {
  /** Note damaged records in the middle of the log and go on (see scanSegment); otherwise throw CorruptLogError. */
  readonly tolerateDamage: boolean;
  /** Scan every closed segment, even those whose sidecar index is valid, to find damage at open. */
  readonly verifyClosedSegments: boolean;
}

/** What `open()` found and repaired, for the host to log. */
export interface RecoveryReport {
  readonly segmentCount: number;
  /** Closed segments whose sidecar index was missing or stale and was rebuilt by a scan. */
  readonly rebuiltIndexCount: number;
  /** A partially written tail cut off the last segment, if there was one. */
  readonly tornTail: {
    readonly file: string;
    readonly offset: number;
    readonly droppedBytes: number;
    readonly reason: string;
  } | null;
  /** A segment file whose header a crash cut short (it held no records), deleted. */
  readonly removedSegmentFile: string | null;
}

/**
 * Reads and validates the segment files in `dir`: every closed segment
 * through its sidecar index (rebuilt by one scan when missing or stale) and
 * the chain between segments; every record of the last segment, cutting off
 * a torn tail. Damage anywhere else throws CorruptLogError. The last segment
 * comes back open for appends.
 */
export async function recoverSegments(
  fs: FileSystem,
  dir: string,
  options: RecoveryOptions,
): Promise<{ segments: Segment[]; report: RecoveryReport }> {
  // A cut inside a record that a crash interrupted is finished first (record-cut.ts).
  await new RecordCut(fs, dir).recover();
  const names = await fs.readdir(dir);
  const seqs = names
    .map(parseSegmentFileName)
    .filter((seq): seq is number => seq !== null)
    .sort((a, b) => a - b);
  let removedSegmentFile: string | null = null;
  // An index whose segment is gone is what a crash left of a deletion.
  for (const name of names) {
    const match = /^(\d{16})\.idx$/.exec(name);
    if (match && !names.includes(`${match[1]}.log`)) await removeFile(join(dir, name), fs);
  }

  const lastSeqName = seqs[seqs.length - 1];
  if (lastSeqName !== undefined) {
    const path = join(dir, segmentFileName(lastSeqName));
    const header = await readHeader(fs, path);
    if (typeof header === 'string') {
      // A crash while starting a segment can leave its header cut short; it
      // holds no records then, and the segment is simply started again. A
      // lone segment that does not start at seq 1 was started by a log reset
      // (segment-chain.ts, reset), which deletes the old segments first: a
      // crash in it leaves this node without the entries it was dropping,
      // and the log starts empty (the sequencer resets it again). Its
      // header, lost, would only have said what came before the reset.
      const bytes = await fs.size(path);
      if (bytes > SEGMENT_HEADER_BYTES) {
        throw new CorruptLogError(path, 0, lastSeqName, header);
      }
      await removeFile(path, fs);
      await syncDirectory(dir, fs);
      removedSegmentFile = path;
      seqs.pop();
    }
  }

  if (seqs.length === 0) {
    const header: SegmentHeader = {
      firstSeq: 1,
      epochBeforeFirst: 0,
      timestampBeforeFirstMs: 0,
      prevHash: ZERO_CHAIN_HASH,
    };
    const segment = await Segment.create(fs, dir, header);
    await syncDirectory(dir, fs);
    return {
      segments: [segment],
      report: { segmentCount: 1, rebuiltIndexCount: 0, tornTail: null, removedSegmentFile },
    };
  }

  const headers: SegmentHeader[] = [];
  for (const seq of seqs) headers.push(await readSegmentHeader(fs, dir, seq));
  const segments: Segment[] = [];
  let rebuiltIndexCount = 0;
  for (let i = 0; i < seqs.length - 1; i++) {
    const segment = new Segment(dir, headers[i]!);
    if (await loadClosedSegment(fs, segment, endBefore(headers[i + 1]!), options)) {
      rebuiltIndexCount++;
    }
    requireContinuity(segments[segments.length - 1], segment);
    segments.push(segment);
  }

  const last = new Segment(dir, headers[headers.length - 1]!);
  const torn = await scanSegment(fs, last, {
    allowTornTail: true,
    tolerateDamage: options.tolerateDamage,
  });
  requireContinuity(segments[segments.length - 1], last);
  const writer = await fs.open(last.logPath, 'r+');
  try {
    if (torn !== null) {
      await writer.truncate(torn.offset);
      await writer.sync();
    }
    // An index left next to the last segment describes an older state of it.
    await removeFile(last.indexPath, fs);
  } catch (error) {
    await writer.close();
    throw error;
  }
  last.writer = writer;
  segments.push(last);
  return {
    segments,
    report: {
      segmentCount: segments.length,
      rebuiltIndexCount,
      tornTail:
        torn === null
          ? null
          : {
              file: last.logPath,
              offset: torn.offset,
              droppedBytes: torn.fileBytes - torn.offset,
              reason: torn.reason,
            },
      removedSegmentFile,
    },
  };
}

/** How a segment must end: what the header of the segment after it, or the summary held in memory, says. */
export interface SegmentEnd {
  readonly lastSeq: number;
  readonly lastHash: Uint8Array;
  readonly lastEpoch: number;
  readonly lastTimestampMs: number;
}

export function endBefore(next: SegmentHeader): SegmentEnd {
  return {
    lastSeq: next.firstSeq - 1,
    lastHash: next.prevHash,
    lastEpoch: next.epochBeforeFirst,
    lastTimestampMs: next.timestampBeforeFirstMs,
  };
}

/**
 * Fills a closed segment's summary and index from its sidecar index file
 * when that matches the segment file and `expected` (and `verifyClosedSegments`
 * is off); otherwise scans the segment, using the sidecar's positions to step
 * over damage when it has them. Damage throws unless `tolerateDamage`, when
 * it is noted in `segment.damaged`; a segment with damage gets no sidecar
 * (the next open scans it again), one without gets a fresh one. Returns true
 * when it had to scan.
 */
export async function loadClosedSegment(
  fs: FileSystem,
  segment: Segment,
  expected: SegmentEnd,
  options: RecoveryOptions,
): Promise<boolean> {
  const fileBytes = await fs.size(segment.logPath);
  const contents = await readIndexFile(fs, segment.indexPath);
  const usable =
    contents !== null &&
    contents.firstSeq === segment.firstSeq &&
    contents.segmentBytes === fileBytes &&
    matchesEnd(contents.index.lastSeq, contents, expected);
  if (usable && !options.verifyClosedSegments) {
    segment.adopt(contents);
    return false;
  }
  const fresh = new Segment(segment.dir, segment.header);
  await scanSegment(fs, fresh, {
    allowTornTail: false,
    tolerateDamage: options.tolerateDamage,
    knownIndex: usable ? contents.index : null,
    expectedLastSeq: expected.lastSeq,
  });
  const lastSpan = fresh.damaged[fresh.damaged.length - 1];
  if (lastSpan !== undefined && lastSpan.toSeq === fresh.lastSeq) {
    // The last record is damaged: how the segment ends is known from the next segment's header.
    // Its epoch may have changed inside the damage: the boundary is taken at the damage's start.
    if (expected.lastEpoch > fresh.lastEpoch) {
      fresh.epochChanges.push({ epoch: expected.lastEpoch, startSeq: lastSpan.fromSeq });
      fresh.lastEpoch = expected.lastEpoch;
    }
    fresh.lastHash = expected.lastHash;
    fresh.lastTimestampMs = expected.lastTimestampMs;
  }
  if (!matchesEnd(fresh.lastSeq, fresh, expected)) {
    throw new CorruptLogError(
      segment.logPath,
      fresh.endBytes,
      fresh.lastSeq + 1,
      `segment does not continue into the next: it ends at seq ${fresh.lastSeq}, but seq ${expected.lastSeq} with its hash, epoch and time was expected`,
    );
  }
  segment.adopt(fresh.indexFileContents(), fresh.damaged);
  if (fresh.damaged.length > 0) return !usable;
  // The index is not fsynced: a damaged one fails its CRC and is rebuilt again.
  if (!usable) await fs.writeFile(segment.indexPath, encodeIndexFile(segment.indexFileContents()));
  return !usable;
}

function matchesEnd(
  lastSeq: number,
  found: { lastHash: Uint8Array; lastEpoch: number; lastTimestampMs: number },
  expected: SegmentEnd,
): boolean {
  return (
    lastSeq === expected.lastSeq &&
    found.lastEpoch === expected.lastEpoch &&
    found.lastTimestampMs === expected.lastTimestampMs &&
    Buffer.from(found.lastHash).equals(Buffer.from(expected.lastHash))
  );
}

async function readIndexFile(fs: FileSystem, path: string) {
  try {
    const decoded = decodeIndexFile(await fs.readFile(path), SEGMENT_HEADER_BYTES);
    return typeof decoded === 'string' ? null : decoded;
  } catch (error) {
    if (isMissingFile(error)) return null;
    throw error;
  }
}

async function readSegmentHeader(
  fs: FileSystem,
  dir: string,
  firstSeq: number,
): Promise<SegmentHeader> {
  const path = join(dir, segmentFileName(firstSeq));
  const header = await readHeader(fs, path);
  if (typeof header === 'string') throw new CorruptLogError(path, 0, firstSeq, header);
  if (header.firstSeq !== firstSeq) {
    throw new CorruptLogError(
      path,
      0,
      firstSeq,
      `header says the segment starts at seq ${header.firstSeq}`,
    );
  }
  return header;
}

async function readHeader(fs: FileSystem, path: string): Promise<SegmentHeader | string> {
  const handle = await fs.open(path, 'r');
  try {
    const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const got = await readFully(handle, buf, SEGMENT_HEADER_BYTES, 0);
    return decodeSegmentHeader(buf.subarray(0, got));
  } finally {
    await handle.close();
  }
}

/** Each segment must start right after the one before it, with the same epoch, time and hash. */
function requireContinuity(previous: Segment | undefined, segment: Segment): void {
  if (previous === undefined) return;
  const header = segment.header;
  const problems: string[] = [];
  if (header.firstSeq !== previous.lastSeq + 1)
    problems.push(`previous segment ends at seq ${previous.lastSeq}`);
  if (header.epochBeforeFirst !== previous.lastEpoch) problems.push('epoch before it differs');
  if (header.timestampBeforeFirstMs !== previous.lastTimestampMs)
    problems.push('timestamp before it differs');
  if (!Buffer.from(header.prevHash).equals(Buffer.from(previous.lastHash))) {
    problems.push('chain hash before it differs');
  }
  if (problems.length > 0) {
    throw new CorruptLogError(
      segment.logPath,
      0,
      header.firstSeq,
      `segment does not continue ${previous.logPath}: ${problems.join(', ')}`,
    );
  }
}
