import { createHash } from 'node:crypto';

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

/**
 * The SHA-256 each chunk carries, so that a damaged chunk is refused and
 * fetched again (the native hash runs at about 1 GB/s here; a CRC32C in
 * JavaScript is several times slower).
 */
export function chunkChecksum(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/**
 * Why a received chunk is not the one expected, or null when it is:
 * its length must be what its index implies and its SHA-256 must match.
 */
export function chunkProblem(
  totalBytes: number,
  chunkBytes: number,
  index: number,
  data: Uint8Array,
  checksum: Uint8Array,
): string | null {
  const count = chunkCount(totalBytes, chunkBytes);
  if (index >= count) return `chunk ${index} is beyond the last chunk (${count - 1})`;
  const expected = chunkLength(totalBytes, chunkBytes, index);
  if (data.length !== expected)
    return `chunk ${index} holds ${data.length} bytes, expected ${expected}`;
  const actual = chunkChecksum(data);
  if (!actual.equals(checksum))
    return `chunk ${index} failed its SHA-256 check (got ${actual.toString('hex').slice(0, 16)}…, expected ${Buffer.from(checksum).toString('hex').slice(0, 16)}…)`;
  return null;
}
