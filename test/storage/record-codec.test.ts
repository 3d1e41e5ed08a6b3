import test from 'ava';
import { EntryKind } from '../../src/core/types.js';
import { crc32c } from '../../src/storage/crc32c.js';
import {
  chainHashOf,
  checkRecord,
  decodeRecord,
  encodeRecord,
  RECORD_FIXED_BYTES,
  sizeEntry,
  ZERO_CHAIN_HASH,
} from '../../src/storage/record-codec.js';
import { writeU16, writeU32, writeU64 } from '../../src/storage/uint64.js';
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

test('an entry with an owner keeps it: flag bit 0 set, the owner fills the rest of the record', (t) => {
  const entry = { ...makeEntry(4, { payloadBytes: 12 }), owner: 'ålice 🚀' };
  const sized = sizeEntry(entry);
  t.is(
    sized.frameBytes,
    sizeEntry(makeEntry(4, { payloadBytes: 12 })).frameBytes + sized.ownerBytes,
  );
  const buf = Buffer.alloc(sized.frameBytes);
  encodeRecord(buf, 0, sized, ZERO_CHAIN_HASH);
  t.is(buf[61], 1);
  t.true(checkRecord(buf, 0, buf.length).ok);
  t.deepEqual(decodeRecord(buf, 0), entry);
  for (let bit = 0; bit < buf.length * 8; bit++) {
    const damaged = Buffer.from(buf);
    damaged[bit >> 3]! ^= 1 << (bit & 7);
    t.false(checkRecord(damaged, 0, damaged.length).ok, `bit ${bit}`);
  }
});

test('a record laid out before owners were recorded (flags 0) reads as an entry without an owner, byte for byte as written today', (t) => {
  const entry = makeEntry(9, { payloadBytes: 7 });
  const producerId = Buffer.from(entry.producerId);
  const topic = Buffer.from(entry.topic);
  // The layout by hand, as the format had it before the owner flag.
  const old = Buffer.alloc(70 + producerId.length + topic.length + entry.payload.length);
  writeU32(old, 0, 0x4f52_4431);
  writeU32(old, 4, old.length);
  writeU64(old, 28, entry.seq);
  writeU64(old, 36, entry.epoch);
  writeU64(old, 44, entry.timestampMs);
  writeU64(old, 52, entry.producerSeq);
  old[60] = entry.kind;
  old[61] = 0;
  writeU16(old, 62, producerId.length);
  writeU16(old, 64, topic.length);
  writeU32(old, 66, entry.payload.length);
  producerId.copy(old, 70);
  topic.copy(old, 70 + producerId.length);
  old.set(entry.payload, 70 + producerId.length + topic.length);
  chainHashOf(ZERO_CHAIN_HASH, old, 0, old.length).copy(old, 12);
  writeU32(old, 8, crc32c(old, 12, old.length));

  t.true(checkRecord(old, 0, old.length).ok);
  const read = decodeRecord(old, 0);
  t.deepEqual(read, entry);
  t.false('owner' in read);
  const today = Buffer.alloc(old.length);
  encodeRecord(today, 0, sizeEntry(entry), ZERO_CHAIN_HASH);
  t.deepEqual(today, old);
});
