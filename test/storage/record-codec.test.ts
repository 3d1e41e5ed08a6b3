import test from 'ava';
import { EntryKind } from '../../src/core/types.js';
import {
  checkRecord,
  decodeRecord,
  encodeRecord,
  RECORD_FIXED_BYTES,
  sizeEntry,
  ZERO_CHAIN_HASH,
} from '../../src/storage/record-codec.js';
import { makeEntry } from './helpers.js';

test('a record decodes to the entry it encodes, with the hash chained to the previous one', (t) => {
  const entry = { ...makeEntry(7, { epoch: 3 }), producerId: 'prödücer 🚀', topic: 'orders/eu' };
  const sized = sizeEntry(entry);
  const buf = Buffer.alloc(sized.frameBytes + 10);
  const hash = encodeRecord(buf, 5, sized, ZERO_CHAIN_HASH);
  const check = checkRecord(buf, 5, sized.frameBytes);
  t.true(check.ok);
  if (!check.ok) return;
  t.is(check.meta.seq, 7);
  t.is(check.meta.frameBytes, sized.frameBytes);
  t.deepEqual(Buffer.from(check.meta.hash), hash);
  t.deepEqual(decodeRecord(buf, 5), entry);

  // The same body after another hash gets another chain hash.
  const other = Buffer.alloc(sized.frameBytes);
  const otherHash = encodeRecord(other, 0, sized, hash);
  t.notDeepEqual(otherHash, hash);
});

test('an epoch-start entry with empty strings and payload takes only the fixed part', (t) => {
  const entry = makeEntry(1, { kind: EntryKind.epochStart, payloadBytes: 0 });
  const sized = sizeEntry(entry);
  t.is(sized.frameBytes, RECORD_FIXED_BYTES);
  const buf = Buffer.alloc(sized.frameBytes);
  encodeRecord(buf, 0, sized, ZERO_CHAIN_HASH);
  t.deepEqual(decodeRecord(buf, 0), entry);
});

test('every single flipped bit of a record is caught by its checks', (t) => {
  const sized = sizeEntry(makeEntry(3, { payloadBytes: 20 }));
  const buf = Buffer.alloc(sized.frameBytes);
  encodeRecord(buf, 0, sized, ZERO_CHAIN_HASH);
  for (let bit = 0; bit < buf.length * 8; bit++) {
    const damaged = Buffer.from(buf);
    damaged[bit >> 3]! ^= 1 << (bit & 7);
    t.false(checkRecord(damaged, 0, damaged.length).ok, `bit ${bit}`);
  }
});

test('a record cut short is reported, not read past its end', (t) => {
  const sized = sizeEntry(makeEntry(3));
  const buf = Buffer.alloc(sized.frameBytes);
  encodeRecord(buf, 0, sized, ZERO_CHAIN_HASH);
  for (let available = 0; available < buf.length; available++) {
    t.false(checkRecord(buf, 0, available).ok);
  }
});
