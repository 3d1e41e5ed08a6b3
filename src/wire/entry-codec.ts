import { decodeMembership } from '../core/membership.js';
import { type Entry, EntryKind } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { checkEpoch, checkSeq, checkString, checkUint, FrameError } from './frame-error.js';
import type { ordo } from './schema.js';

/** Checks a decoded entry field by field; returns it typed as a core Entry. */
export function validateEntry(raw: ordo.Entry, field: string): Entry {
  checkSeq(raw.seq, `${field}.seq`);
  checkEpoch(raw.epoch, `${field}.epoch`);
  checkUint(raw.producerSeq, `${field}.producerSeq`);
  checkUint(raw.timestampMs, `${field}.timestampMs`);
  if (
    raw.kind !== EntryKind.data &&
    raw.kind !== EntryKind.epochStart &&
    raw.kind !== EntryKind.config
  ) {
    throw new FrameError('malformed', `${field}.kind ${raw.kind} is not an entry kind`);
  }
  if (raw.kind === EntryKind.config) {
    try {
      decodeMembership(raw.payload);
    } catch (error) {
      throw new FrameError('malformed', `${field}: ${(error as Error).message}`);
    }
  }
  if (raw.kind === EntryKind.data) {
    checkString(raw.producerId, `${field}.producerId`, LIMITS.maxProducerIdBytes, false);
    checkString(raw.topic, `${field}.topic`, LIMITS.maxTopicBytes, false);
  }
  checkString(raw.owner, `${field}.owner`, LIMITS.maxIdentityBytes, true);
  if (raw.payload.length > LIMITS.maxPayloadBytes) {
    throw new FrameError('too-large', `${field}.payload exceeds ${LIMITS.maxPayloadBytes} bytes`);
  }
  return raw as unknown as Entry;
}

/** Checks that entries run contiguously from `firstSeq`. */
export function validateEntries(
  raw: readonly ordo.Entry[],
  firstSeq: number,
  field: string,
): Entry[] {
  const entries: Entry[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const entry = validateEntry(raw[i]!, `${field}[${i}]`);
    if (entry.seq !== firstSeq + i) {
      throw new FrameError(
        'malformed',
        `${field}[${i}] has seq ${entry.seq}, expected ${firstSeq + i}`,
      );
    }
    entries[i] = entry;
  }
  return entries;
}
