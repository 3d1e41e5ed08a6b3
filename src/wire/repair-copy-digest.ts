import { createHash } from 'node:crypto';
import type { Entry } from '../core/types.js';

/** SHA-256: the length of a repair answer's digest. */
export const REPAIR_COPY_DIGEST_BYTES = 32;

/**
 * The digest a node sends with the copies it serves for a repair, over every
 * field of every entry. The asking node recomputes it: a copy that does not
 * match was damaged on its way and proves nothing about what the sender
 * holds, whereas an intact copy that does not fit the asking node's hash
 * chain is another entry (the sender lacks the damaged one).
 */
export function repairCopyDigest(entries: readonly Entry[]): Uint8Array {
  const hash = createHash('sha256');
  for (const e of entries) {
    // Lengths before the variable fields, so that no two entries read alike.
    hash.update(
      `${e.seq}|${e.epoch}|${e.kind}|${e.producerSeq}|${e.timestampMs}|${Buffer.byteLength(e.producerId)}:${e.producerId}|${Buffer.byteLength(e.topic)}:${e.topic}|${e.payload.length}:`,
    );
    hash.update(e.payload);
    if (e.owner) hash.update(`|${Buffer.byteLength(e.owner)}:${e.owner}`);
  }
  return hash.digest();
}

/** Whether the copies are the ones their sender digested. */
export function repairCopyIntact(entries: readonly Entry[], digest: Uint8Array): boolean {
  return Buffer.from(repairCopyDigest(entries)).equals(Buffer.from(digest));
}
