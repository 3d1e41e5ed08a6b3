import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { LIMITS } from '../../src/limits.js';
import { SnapshotError } from './replica-errors.js';

/** One snapshot of a plugin's state: the bytes `snapshot()` returned and the seq they reflect. */
export interface SnapshotRecord {
  /** Name of the app the state belongs to. */
  readonly plugin: string;
  /** The state reflects every committed message up to and including this seq. */
  readonly seq: number;
  /** SHA-256 of `data`, in hex: the state digest at `seq`. */
  readonly digest: string;
  readonly data: Uint8Array;
}

/**
 * File layout: magic (8 bytes) | format version (u32 BE) | header length
 * (u32 BE) | header JSON | state bytes | SHA-256 of everything before it
 * (32 bytes). The trailing checksum covers the whole file, so a torn or
 * bit-flipped file is told apart from a good one before any byte of it is
 * trusted.
 */
const magic = Buffer.from('ORDOSNAP', 'ascii');
const formatVersion = 1;
const fixedBytes = magic.length + 4 + 4;
const checksumBytes = 32;
/** Longest header JSON accepted: it holds a few short fields. */
const maxHeaderBytes = 64 * 1024;

interface Header {
  plugin: string;
  seq: number;
  digest: string;
  dataBytes: number;
}

/** What comes before the state bytes in a snapshot file: magic, version, header length, header. */
export function snapshotFilePrefix(meta: Omit<SnapshotRecord, 'data'>, dataBytes: number): Buffer {
  const header: Header = {
    plugin: meta.plugin,
    seq: meta.seq,
    digest: meta.digest,
    dataBytes,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(fixedBytes);
  magic.copy(prefix, 0);
  prefix.writeUInt32BE(formatVersion, magic.length);
  prefix.writeUInt32BE(headerBytes.length, magic.length + 4);
  return Buffer.concat([prefix, headerBytes]);
}

/**
 * A snapshot file as the pieces to write one after the other: prefix, the
 * state bytes themselves (not copied) and the trailing checksum.
 */
export function snapshotFileParts(record: SnapshotRecord): Uint8Array[] {
  const prefix = snapshotFilePrefix(record, record.data.length);
  const checksum = createHash('sha256').update(prefix).update(record.data).digest();
  return [prefix, record.data, checksum];
}

export function encodeSnapshotFile(record: SnapshotRecord): Buffer {
  return Buffer.concat(snapshotFileParts(record));
}

/** Where the state bytes of a snapshot file lie, read from its head without reading them. */
export interface SnapshotFileLayout {
  readonly plugin: string;
  readonly seq: number;
  readonly digest: string;
  readonly dataOffset: number;
  readonly dataBytes: number;
}

/** Reads the head of a snapshot file (not its state bytes, not its checksum). */
export async function readSnapshotFileLayout(handle: FileHandle): Promise<SnapshotFileLayout> {
  const fixed = Buffer.alloc(fixedBytes);
  await handle.read(fixed, 0, fixedBytes, 0);
  if (!fixed.subarray(0, magic.length).equals(magic))
    throw new SnapshotError('not a snapshot file (bad magic)');
  const headerLength = fixed.readUInt32BE(magic.length + 4);
  if (headerLength > maxHeaderBytes)
    throw new SnapshotError(`header length ${headerLength} is too long`);
  const headerBytes = Buffer.alloc(headerLength);
  await handle.read(headerBytes, 0, headerLength, fixedBytes);
  const header = parseHeader(headerBytes);
  return {
    plugin: header.plugin,
    seq: header.seq,
    digest: header.digest,
    dataOffset: fixedBytes + headerLength,
    dataBytes: header.dataBytes,
  };
}

/** Bytes of the trailing checksum of a snapshot file. */
export const snapshotChecksumBytes = checksumBytes;

/** Decodes and verifies a snapshot file; throws SnapshotError saying what is wrong with it. */
export function decodeSnapshotFile(bytes: Buffer): SnapshotRecord {
  if (bytes.length < fixedBytes + checksumBytes) {
    throw new SnapshotError(`file of ${bytes.length} bytes is too short to be a snapshot`);
  }
  if (bytes.length > LIMITS.maxReplicaSnapshotBytes + maxHeaderBytes + fixedBytes + checksumBytes) {
    throw new SnapshotError(`file of ${bytes.length} bytes exceeds the snapshot size limit`);
  }
  if (!bytes.subarray(0, magic.length).equals(magic))
    throw new SnapshotError('not a snapshot file (bad magic)');
  const version = bytes.readUInt32BE(magic.length);
  if (version !== formatVersion)
    throw new SnapshotError(`unknown snapshot format version ${version}`);
  const bodyEnd = bytes.length - checksumBytes;
  const expected = createHash('sha256').update(bytes.subarray(0, bodyEnd)).digest();
  if (!expected.equals(bytes.subarray(bodyEnd))) {
    throw new SnapshotError('checksum mismatch (torn or damaged file)');
  }
  const headerLength = bytes.readUInt32BE(magic.length + 4);
  if (headerLength > maxHeaderBytes || fixedBytes + headerLength > bodyEnd) {
    throw new SnapshotError(`header length ${headerLength} does not fit the file`);
  }
  const header = parseHeader(bytes.subarray(fixedBytes, fixedBytes + headerLength));
  const data = bytes.subarray(fixedBytes + headerLength, bodyEnd);
  if (data.length !== header.dataBytes) {
    throw new SnapshotError(
      `header announces ${header.dataBytes} state bytes, the file holds ${data.length}`,
    );
  }
  return { plugin: header.plugin, seq: header.seq, digest: header.digest, data };
}

function parseHeader(bytes: Buffer): Header {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new SnapshotError('header is not valid JSON', { cause: error });
  }
  const h = raw as Partial<Header> | null;
  if (
    h === null ||
    typeof h.plugin !== 'string' ||
    typeof h.digest !== 'string' ||
    !Number.isSafeInteger(h.seq) ||
    (h.seq as number) < 0 ||
    !Number.isSafeInteger(h.dataBytes) ||
    (h.dataBytes as number) < 0
  ) {
    throw new SnapshotError('header lacks plugin, seq, digest or dataBytes');
  }
  return h as Header;
}
