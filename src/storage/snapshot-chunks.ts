import { crc32c } from './crc32c.js';

/**
 * How a snapshot of `totalBytes` is cut into chunks of `chunkBytes`: every
 * chunk but the last is full, and an empty snapshot is one empty chunk (so
 * that every transfer has at least one chunk to complete it).
 */
export function chunkCount(totalBytes: number, chunkBytes: number): number {
  return totalBytes === 0 ? 1 : Math.ceil(totalBytes / chunkBytes);
}

/** Bytes chunk `index` holds. */
export function chunkLength(totalBytes: number, chunkBytes: number, index: number): number {
  const start = index * chunkBytes;
  return Math.max(0, Math.min(chunkBytes, totalBytes - start));
}

/** The CRC32C each chunk carries, so that a damaged chunk is refused and fetched again. */
export function chunkChecksum(data: Uint8Array): number {
  return crc32c(data) >>> 0;
}

/**
 * Why a received chunk is not the one expected, or null when it is:
 * its length must be what its index implies and its CRC32C must match.
 */
export function chunkProblem(
  totalBytes: number,
  chunkBytes: number,
  index: number,
  data: Uint8Array,
  checksum: number,
): string | null {
  const count = chunkCount(totalBytes, chunkBytes);
  if (index >= count) return `chunk ${index} is beyond the last chunk (${count - 1})`;
  const expected = chunkLength(totalBytes, chunkBytes, index);
  if (data.length !== expected)
    return `chunk ${index} holds ${data.length} bytes, expected ${expected}`;
  const actual = chunkChecksum(data);
  if (actual !== checksum >>> 0)
    return `chunk ${index} failed its CRC32C check (got ${actual.toString(16)}, expected ${(checksum >>> 0).toString(16)})`;
  return null;
}
