import test from 'ava';
import { type Entry, EntryKind } from '../../src/core/index.js';
import {
  REPAIR_COPY_DIGEST_BYTES,
  repairCopyDigest,
  repairCopyIntact,
} from '../../src/wire/repair-copy-digest.js';

function entry(seq: number, topic: string, producerId: string, payload: string): Entry {
  return {
    seq,
    epoch: 3,
    kind: EntryKind.data,
    producerId,
    producerSeq: seq,
    topic,
    payload: new TextEncoder().encode(payload),
    timestampMs: 1000 + seq,
  };
}

test('a repair copy matches the digest its sender computed, and no longer does once a bit flips', (t) => {
  const entries = [entry(7, 'orders', 'p1', 'hello'), entry(8, 'orders', 'p1', 'world')];
  const digest = repairCopyDigest(entries);
  t.is(digest.length, REPAIR_COPY_DIGEST_BYTES);
  t.true(repairCopyIntact(entries, digest));
  const payload = Uint8Array.from(entries[1]!.payload);
  payload[2]! ^= 0x10;
  t.false(repairCopyIntact([entries[0]!, { ...entries[1]!, payload }], digest));
  t.false(repairCopyIntact([entries[0]!, { ...entries[1]!, epoch: 4 }], digest));
  t.false(repairCopyIntact(entries.slice(0, 1), digest));
});

test('fields are delimited by their lengths: moving bytes from the topic to the producer id changes the digest', (t) => {
  const a = repairCopyDigest([entry(1, 'ab', 'c', 'x')]);
  const b = repairCopyDigest([entry(1, 'a', 'bc', 'x')]);
  t.false(Buffer.from(a).equals(Buffer.from(b)));
});
