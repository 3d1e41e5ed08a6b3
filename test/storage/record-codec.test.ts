import test from 'ava';
import { type Entry, EntryKind } from '../../src/core/types.js';
import {
  chainAfter,
  checkRecord,
  decodeRecord,
  digestAfterSeq,
  ENTRY_FIXED_BYTES,
  encodeRecord,
  matchingDigests,
  RECORD_FIXED_BYTES,
  recordBytesOf,
  type SizedEntry,
  sizeEntry,
  storedEntryDigests,
  ZERO_CHAIN_HASH,
} from '../../src/storage/record-codec.js';
import { makeEntries, makeEntry } from './helpers.js';

function encode(
  entries: readonly Entry[],
  prevChain: Uint8Array = ZERO_CHAIN_HASH,
): { buf: Buffer; chain: Buffer; sized: SizedEntry[] } {
  const sized = entries.map(sizeEntry);
  const buf = Buffer.alloc(recordBytesOf(sized, 0, sized.length));
  const { chain, frameBytes } = encodeRecord(buf, 0, sized, 0, sized.length, prevChain);
  if (frameBytes !== buf.length) throw new Error('size mismatch');
  return { buf, chain, sized };
}

test('a record of several entries decodes to the entries it encodes, with the chain value following the previous one', (t) => {
  const entries = [
    { ...makeEntry(7, { epoch: 3 }), producerId: 'prödücer 🚀', topic: 'orders/eu' },
    { ...makeEntry(8, { epoch: 3, payloadBytes: 0 }), owner: 'ålice 🚀' },
    makeEntry(9, { epoch: 4, kind: EntryKind.epochStart, payloadBytes: 0 }),
  ];
  const { buf, chain } = encode(entries);
  const check = checkRecord(buf, 0, buf.length);
  t.true(check.ok);
  if (!check.ok) return;
  t.is(check.meta.firstSeq, 7);
  t.is(check.meta.lastSeq, 9);
  t.is(check.meta.frameBytes, buf.length);
  t.is(check.meta.firstEpoch, 3);
  t.is(check.meta.lastEpoch, 4);
  t.deepEqual(check.meta.epochChanges, [{ seq: 9, epoch: 4 }]);
  t.deepEqual(Buffer.from(check.meta.chain), chain);
  t.deepEqual(decodeRecord(buf, 0), entries);
  t.false('owner' in decodeRecord(buf, 0, 7, 7)[0]!);
  t.deepEqual(decodeRecord(buf, 0, 8, 8), [entries[1]]);
  t.deepEqual(chainAfter(ZERO_CHAIN_HASH, buf, 0, buf.length), chain);

  // The same bodies after another chain value get another SHA-256 part, and do not follow the zero chain.
  const other = encode(entries, chain);
  t.notDeepEqual(other.chain.subarray(8), chain.subarray(8));
  t.is(chainAfter(ZERO_CHAIN_HASH, other.buf, 0, other.buf.length), null);
});

test('the log digest does not depend on how entries were grouped into records', (t) => {
  const entries = makeEntries(1, 10, { payloadBytes: 33 });
  const whole = encode(entries);
  const first = encode(entries.slice(0, 4));
  const rest = encode(entries.slice(4), first.chain);
  t.deepEqual(rest.chain.subarray(0, 8), whole.chain.subarray(0, 8));
  // The SHA-256 part commits to the grouping too.
  t.notDeepEqual(rest.chain.subarray(8), whole.chain.subarray(8));
  // And the digest after any seq inside a record is the one of the record ending there.
  t.deepEqual(digestAfterSeq(whole.buf, 0, 4), first.chain.subarray(0, 8));
  t.deepEqual(digestAfterSeq(whole.buf, 0, 10), whole.chain.subarray(0, 8));
});

test('an epoch-start entry with empty strings and payload takes only the fixed part of a body', (t) => {
  const entry = makeEntry(1, { kind: EntryKind.epochStart, payloadBytes: 0 });
  const { buf, sized } = encode([entry]);
  t.is(sized[0]!.bodyBytes, ENTRY_FIXED_BYTES);
  t.is(buf.length, RECORD_FIXED_BYTES + 4 + ENTRY_FIXED_BYTES);
  t.deepEqual(decodeRecord(buf, 0), [entry]);
});

test('every single flipped bit of a record is caught by its checks', (t) => {
  const { buf } = encode([
    makeEntry(3, { payloadBytes: 9 }),
    { ...makeEntry(4, { payloadBytes: 5 }), owner: 'bob' },
  ]);
  for (let bit = 0; bit < buf.length * 8; bit++) {
    const damaged = Buffer.from(buf);
    damaged[bit >> 3]! ^= 1 << (bit & 7);
    t.false(checkRecord(damaged, 0, damaged.length).ok, `bit ${bit}`);
  }
});

test('a record cut short is reported, not read past its end', (t) => {
  const { buf } = encode(makeEntries(3, 5));
  for (let available = 0; available < buf.length; available++) {
    t.false(checkRecord(buf, 0, available).ok);
  }
});

test('a copy of a damaged record is matched entry by entry while its header is intact', (t) => {
  const entries = makeEntries(10, 14, { payloadBytes: 40 });
  const { buf, sized } = encode(entries);
  // Damage the last entry's payload: the header still says what each entry was.
  const damaged = Buffer.from(buf);
  damaged[damaged.length - 1]! ^= 0x10;
  t.false(checkRecord(damaged, 0, damaged.length).ok);
  const stored = storedEntryDigests(damaged, 0, damaged.length)!;
  t.is(stored.firstSeq, 10);
  const matching = (copy: readonly SizedEntry[]) =>
    matchingDigests(stored.before, stored.after, copy);
  t.is(matching(sized), 5);
  // A copy whose third entry is another entry matches in its first two only.
  const other = [...sized];
  other[2] = sizeEntry({ ...entries[2]!, epoch: 9 });
  t.is(matching(other), 2);
  t.is(matching(sized.slice(0, 3)), 3);
  // A copy for other seqs matches nothing (a body holds its seq), and a damaged header tells nothing.
  t.is(matching(sized.slice(1)), 0);
  const badHeader = Buffer.from(buf);
  badHeader[30]! ^= 0x01;
  t.is(storedEntryDigests(badHeader, 0, badHeader.length), null);
});
