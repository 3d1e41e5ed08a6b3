import { type Entry, EntryKind } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { type SizedEntry, sizeEntry } from './record-codec.js';
import { InvalidLogRequestError } from './storage-errors.js';

/** Matches a UTF-16 surrogate that is not part of a pair: it would not survive UTF-8 encoding unchanged. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Checks that `entries` continue a log whose last entry is `lastSeq` with
 * epoch `lastEpoch`, and that each can be stored and read back unchanged.
 * Returns them with their encoded sizes. Throws InvalidLogRequestError on the
 * first bad entry; the caller has changed nothing yet.
 */
export function validateEntries(
  entries: readonly Entry[],
  lastSeq: number,
  lastEpoch: number,
): SizedEntry[] {
  const sized: SizedEntry[] = [];
  let expectedSeq = lastSeq + 1;
  let minEpoch = lastEpoch;
  for (const entry of entries) {
    if (entry === null || typeof entry !== 'object') {
      throw new InvalidLogRequestError(`entry for seq ${expectedSeq} is not an object`);
    }
    if (entry.seq !== expectedSeq) {
      throw new InvalidLogRequestError(
        `entries must be contiguous: expected seq ${expectedSeq}, got ${String(entry.seq)}`,
      );
    }
    const where = `entry ${entry.seq}`;
    requireCount(entry.epoch, `${where}: epoch`);
    if (entry.epoch < minEpoch) {
      throw new InvalidLogRequestError(
        `${where}: epoch ${entry.epoch} is older than ${minEpoch} before it`,
      );
    }
    requireCount(entry.producerSeq, `${where}: producerSeq`);
    requireCount(entry.timestampMs, `${where}: timestampMs`);
    if (
      entry.kind !== EntryKind.data &&
      entry.kind !== EntryKind.epochStart &&
      entry.kind !== EntryKind.config
    ) {
      throw new InvalidLogRequestError(`${where}: unknown kind ${String(entry.kind)}`);
    }
    requireText(entry.producerId, `${where}: producerId`);
    requireText(entry.topic, `${where}: topic`);
    if (!(entry.payload instanceof Uint8Array)) {
      throw new InvalidLogRequestError(`${where}: payload is not a Uint8Array`);
    }
    if (entry.payload.length > LIMITS.maxPayloadBytes) {
      throw new InvalidLogRequestError(
        `${where}: payload of ${entry.payload.length} bytes exceeds ${LIMITS.maxPayloadBytes}`,
      );
    }
    const one = sizeEntry(entry);
    if (one.producerIdBytes > LIMITS.maxProducerIdBytes) {
      throw new InvalidLogRequestError(
        `${where}: producerId exceeds ${LIMITS.maxProducerIdBytes} bytes`,
      );
    }
    if (one.topicBytes > LIMITS.maxTopicBytes) {
      throw new InvalidLogRequestError(`${where}: topic exceeds ${LIMITS.maxTopicBytes} bytes`);
    }
    if (entry.owner !== undefined) requireText(entry.owner, `${where}: owner`);
    if (one.ownerBytes > LIMITS.maxIdentityBytes) {
      throw new InvalidLogRequestError(`${where}: owner exceeds ${LIMITS.maxIdentityBytes} bytes`);
    }
    sized.push(one);
    expectedSeq++;
    minEpoch = entry.epoch;
  }
  return sized;
}

function requireCount(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidLogRequestError(
      `${what} must be a non-negative safe integer, got ${String(value)}`,
    );
  }
}

function requireText(value: unknown, what: string): void {
  if (typeof value !== 'string') throw new InvalidLogRequestError(`${what} is not a string`);
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidLogRequestError(`${what} holds a lone UTF-16 surrogate`);
  }
}
