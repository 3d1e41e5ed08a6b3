import { CORE_LIMITS } from '../core/core-limits.js';

/** A frame that cannot be accepted: too large, not decodable, or with values out of range. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  readonly retriable = false;
  constructor(
    readonly code: 'malformed' | 'too-large' | 'foreign-cluster',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function checkUint(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new FrameError(
      'malformed',
      `${field} must be a non-negative integer below 2^53, got ${String(value)}`,
    );
  }
  return value;
}

/** An epoch: a non-negative integer no higher than the bound any cluster can reach. */
export function checkEpoch(value: unknown, field: string): number {
  return checkBounded(value, field, CORE_LIMITS.maxEpoch);
}

/** A seq: a non-negative integer no higher than the bound any cluster can reach. */
export function checkSeq(value: unknown, field: string): number {
  return checkBounded(value, field, CORE_LIMITS.maxSeq);
}

function checkBounded(value: unknown, field: string, max: number): number {
  const n = checkUint(value, field);
  if (n > max) {
    throw new FrameError(
      'malformed',
      `${field} ${n} is beyond the highest a cluster reaches (${max})`,
    );
  }
  return n;
}

export function checkString(
  value: unknown,
  field: string,
  maxBytes: number,
  allowEmpty: boolean,
): string {
  if (typeof value !== 'string') throw new FrameError('malformed', `${field} must be a string`);
  if (!allowEmpty && value.length === 0)
    throw new FrameError('malformed', `${field} must not be empty`);
  if (Buffer.byteLength(value) > maxBytes) {
    throw new FrameError('malformed', `${field} is longer than ${maxBytes} bytes`);
  }
  return value;
}

export function checkFrameSize(bytes: Uint8Array, maxBytes: number): void {
  if (bytes.length > maxBytes) {
    throw new FrameError(
      'too-large',
      `frame of ${bytes.length} bytes exceeds the limit of ${maxBytes} bytes`,
    );
  }
}

/** Runs a protobuf decode, turning any decoder exception into a FrameError. */
export function decodeOrThrow<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    throw new FrameError('malformed', `cannot decode ${what}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Whether `error` is V8 failing to allocate a buffer ("RangeError: Array
 * buffer allocation failed"): the frame that needed it is refused and the
 * node carries on, since memory may be back for the next one.
 */
export function isAllocationFailure(error: unknown): boolean {
  return error instanceof RangeError && /allocation failed/i.test(error.message);
}
