import { invariant } from '../core/assert.js';

/**
 * Unsigned 64-bit little-endian fields for the on-disk formats. Seq numbers,
 * epochs and timestamps are JS numbers, exact up to 2^53, so they are split
 * into two 32-bit halves rather than converted through BigInt on every record.
 */

const TWO_POW_32 = 0x1_0000_0000;

export function writeU64(buf: Uint8Array, offset: number, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0))
    invariant(false, `${value} is not a non-negative safe integer`);
  writeCheckedU64(buf, offset, value);
}

/**
 * writeU64 of a value already known to be a non-negative safe integer (an
 * entry's counts, which the log's validator checked): the per-entry path
 * of a record does not check them again.
 */
export function writeCheckedU64(buf: Uint8Array, offset: number, value: number): void {
  const lo = value % TWO_POW_32;
  writeU32(buf, offset, lo);
  writeU32(buf, offset + 4, (value - lo) / TWO_POW_32);
}

/** Returns -1 when the stored value does not fit a safe integer, which callers treat as corruption. */
export function readU64(buf: Uint8Array, offset: number): number {
  const lo = readU32(buf, offset);
  const hi = readU32(buf, offset + 4);
  if (hi > 0x1f_ffff) return -1;
  return hi * TWO_POW_32 + lo;
}

export function writeU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
  buf[offset + 2] = (value >>> 16) & 0xff;
  buf[offset + 3] = (value >>> 24) & 0xff;
}

export function readU32(buf: Uint8Array, offset: number): number {
  return (
    (buf[offset]! |
      (buf[offset + 1]! << 8) |
      (buf[offset + 2]! << 16) |
      (buf[offset + 3]! << 24)) >>>
    0
  );
}

export function writeU16(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
}

export function readU16(buf: Uint8Array, offset: number): number {
  return buf[offset]! | (buf[offset + 1]! << 8);
}
