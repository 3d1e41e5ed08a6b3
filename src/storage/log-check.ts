import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeFileSystem } from './file-system.js';
import { LOG_DIGEST_BYTES } from './record-codec.js';
import {
  decodeSegmentHeader,
  parseSegmentFileName,
  SEGMENT_HEADER_BYTES,
  Segment,
  segmentFileName,
} from './segment.js';
import { scanSegment } from './segment-scan.js';
import { CorruptLogError } from './storage-errors.js';

function logDigestHex(chain: Uint8Array): string {
  return Buffer.from(chain.subarray(0, LOG_DIGEST_BYTES)).toString('hex');
}

export interface LogCheckReport {
  readonly dir: string;
  readonly segmentCount: number;
  /** First and last seq held (lastSeq = firstSeq - 1 when empty). */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Log digest (hex) after the last valid record: what the node reports as its log hash. */
  readonly lastChainHash: string;
  /** A partly written last record (what a crash leaves; the node cuts it off when it starts). */
  readonly tornTail: string | null;
  /** Damage the node would refuse to start with; null when the log is sound. */
  readonly problem: string | null;
}

/**
 * Checks a node's log files offline, without changing them: every record of
 * every segment (framing, CRC, seq continuity, epoch order, hash chain) and
 * the chain from each segment to the next. Read-only, so it may run beside
 * a stopped node's files or a copy of them.
 */
export async function checkLogFiles(dir: string): Promise<LogCheckReport> {
  const seqs = (await readdir(dir))
    .map(parseSegmentFileName)
    .filter((seq): seq is number => seq !== null)
    .sort((a, b) => a - b);
  const base = { dir, segmentCount: seqs.length, tornTail: null };
  if (seqs.length === 0) {
    return { ...base, firstSeq: 1, lastSeq: 0, lastChainHash: '', problem: 'no log segments' };
  }
  let previous: Segment | null = null;
  let tornTail: string | null = null;
  let firstSeq = seqs[0]!;
  try {
    for (const [i, seq] of seqs.entries()) {
      const path = join(dir, segmentFileName(seq));
      const header = decodeSegmentHeader(await readHeaderBytes(path));
      if (typeof header === 'string') throw new CorruptLogError(path, 0, seq, header);
      if (header.firstSeq !== seq)
        throw new CorruptLogError(
          path,
          0,
          seq,
          `header says the segment starts at seq ${header.firstSeq}`,
        );
      if (previous !== null) {
        if (header.firstSeq !== previous.lastSeq + 1)
          throw new CorruptLogError(
            path,
            0,
            seq,
            `the previous segment ends at seq ${previous.lastSeq}`,
          );
        if (!Buffer.from(header.prevHash).equals(Buffer.from(previous.lastHash)))
          throw new CorruptLogError(
            path,
            0,
            seq,
            'the chain hash before it differs from the previous segment',
          );
      } else {
        firstSeq = header.firstSeq;
      }
      const segment = new Segment(dir, header);
      const torn = await scanSegment(nodeFileSystem, segment, {
        allowTornTail: i === seqs.length - 1,
        tolerateDamage: false,
      });
      if (torn !== null)
        tornTail = `${path}: ${torn.fileBytes - torn.offset} bytes after offset ${torn.offset} (${torn.reason})`;
      // Only the summary is needed from here on.
      segment.index = null;
      previous = segment;
    }
  } catch (error) {
    if (!(error instanceof CorruptLogError)) throw error;
    return {
      ...base,
      firstSeq,
      lastSeq: previous?.lastSeq ?? firstSeq - 1,
      lastChainHash: previous === null ? '' : logDigestHex(previous.lastHash),
      problem: error.message,
    };
  }
  return {
    ...base,
    tornTail,
    firstSeq,
    lastSeq: previous!.lastSeq,
    lastChainHash: logDigestHex(previous!.lastHash),
    problem: null,
  };
}

async function readHeaderBytes(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const { bytesRead } = await handle.read(buf, 0, SEGMENT_HEADER_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
