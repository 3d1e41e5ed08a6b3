import type { Entry } from '../../src/core/types.js';

/**
 * Entries as plain data, whatever object holds them (a literal, or a
 * `PackedEntry` that makes its payload view when read), with the payload in
 * hex and a missing owner as '', so that two ways of carrying the same
 * entries compare equal.
 */
export function plainEntries(entries: readonly Entry[]): object[] {
  return entries.map((e) => ({
    seq: e.seq,
    epoch: e.epoch,
    kind: e.kind,
    producerId: e.producerId,
    producerSeq: e.producerSeq,
    topic: e.topic,
    payload: Buffer.from(e.payload).toString('hex'),
    timestampMs: e.timestampMs,
    owner: e.owner ?? '',
  }));
}
