import { type Entry, EntryKind } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { type SizedEntry, sizeEntryWith } from './record-codec.js';
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
  const producerIds = new CheckedText(LIMITS.maxProducerIdBytes, 'producerId');
  const topics = new CheckedText(LIMITS.maxTopicBytes, 'topic');
  const owners = new CheckedText(LIMITS.maxIdentityBytes, 'owner');
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
    requireCount(entry.epoch, entry.seq, 'epoch');
    if (entry.epoch < minEpoch) {
      throw new InvalidLogRequestError(
        `entry ${entry.seq}: epoch ${entry.epoch} is older than ${minEpoch} before it`,
      );
    }
    requireCount(entry.producerSeq, entry.seq, 'producerSeq');
    requireCount(entry.timestampMs, entry.seq, 'timestampMs');
    if (
      entry.kind !== EntryKind.data &&
      entry.kind !== EntryKind.epochStart &&
      entry.kind !== EntryKind.config
    ) {
      throw new InvalidLogRequestError(`entry ${entry.seq}: unknown kind ${String(entry.kind)}`);
    }
    const producerIdBytes = producerIds.bytesOf(entry.producerId, entry.seq);
    const topicBytes = topics.bytesOf(entry.topic, entry.seq);
    const ownerBytes = entry.owner === undefined ? 0 : owners.bytesOf(entry.owner, entry.seq);
    const payload = entry.payload;
    if (!(payload instanceof Uint8Array)) {
      throw new InvalidLogRequestError(`entry ${entry.seq}: payload is not a Uint8Array`);
    }
    if (payload.length > LIMITS.maxPayloadBytes) {
      throw new InvalidLogRequestError(
        `entry ${entry.seq}: payload of ${payload.length} bytes exceeds ${LIMITS.maxPayloadBytes}`,
      );
    }
    sized.push(sizeEntryWith(entry, payload, producerIdBytes, topicBytes, ownerBytes));
    expectedSeq++;
    minEpoch = entry.epoch;
  }
  return sized;
}

/**
 * Checks one string field of a write's entries and measures it in UTF-8.
 * Consecutive entries mostly repeat the same producer, topic and owner, so
 * the last string checked is remembered and a repeat costs one comparison.
 */
class CheckedText {
  private last: string | null = null;
  private lastBytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly field: string,
  ) {}

  bytesOf(value: unknown, seq: number): number {
    if (value === this.last) return this.lastBytes;
    if (typeof value !== 'string') {
      throw new InvalidLogRequestError(`entry ${seq}: ${this.field} is not a string`);
    }
    if (LONE_SURROGATE.test(value)) {
      throw new InvalidLogRequestError(`entry ${seq}: ${this.field} holds a lone UTF-16 surrogate`);
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > this.maxBytes) {
      throw new InvalidLogRequestError(
        `entry ${seq}: ${this.field} exceeds ${this.maxBytes} bytes`,
      );
    }
    this.last = value;
    this.lastBytes = bytes;
    return bytes;
  }
}

function requireCount(value: unknown, seq: number, field: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidLogRequestError(
      `entry ${seq}: ${field} must be a non-negative safe integer, got ${String(value)}`,
    );
  }
}
