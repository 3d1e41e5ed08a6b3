import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { CorruptLogError } from '../../src/storage/storage-errors.js';
import { makeEntries, makeEntry, recordBytes, tempDir } from './helpers.js';

const HEADER_BYTES = 64;
const RECORD_BYTES = recordBytes(makeEntry(1));
const FIRST_FILE = '0000000000000001.log';

async function writeLog(dir: string, count: number, segmentBytes?: number): Promise<string[]> {
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    fsync: 'always',
    ...(segmentBytes ? { segmentBytes } : {}),
  });
  await store.open();
  await store.write(null, makeEntries(1, count));
  const hashes = Array.from({ length: count + 1 }, (_, seq) => store.chainHash(seq));
  await store.close();
  return hashes;
}

/** Byte offset of the record of `seq` in a segment of 100-byte entries starting at `firstSeq`. */
function offsetOf(seq: number, firstSeq = 1): number {
  return HEADER_BYTES + (seq - firstSeq) * RECORD_BYTES;
}

test('a torn tail at every byte offset of the last record is cut back to the record before, and the log stays appendable', async (t) => {
  const dir = await tempDir(t);
  const hashes = await writeLog(dir, 5);
  const file = join(dir, FIRST_FILE);
  const original = await readFile(file);
  t.is(original.length, offsetOf(6));
  for (let cut = offsetOf(5); cut < offsetOf(6); cut++) {
    await writeFile(file, original.subarray(0, cut));
    const store = new SegmentedLogStore({ recordEntries: 1, dir, fsync: 'always' });
    const recovered = await store.open();
    t.is(recovered.lastSeq, 4, `cut at ${cut}`);
    t.is(store.chainHash(), hashes[4]!);
    const torn = store.recovery?.tornTail;
    if (cut > offsetOf(5)) t.is(torn?.offset, offsetOf(5));
    else t.is(torn, null);
    t.is((await stat(file)).size, offsetOf(5));
    // The same record written again continues the chain exactly as before.
    await store.write(null, [makeEntry(5)]);
    t.is(store.chainHash(), hashes[5]!);
    await store.close();
    const reopened = new SegmentedLogStore({ recordEntries: 1, dir });
    t.is((await reopened.open()).lastSeq, 5);
    await reopened.close();
  }
});

test('a last record that fails its CRC at the end of the log is a torn write and is cut off', async (t) => {
  const dir = await tempDir(t);
  await writeLog(dir, 5);
  const file = join(dir, FIRST_FILE);
  const bytes = await readFile(file);
  bytes[offsetOf(5) + 100]! ^= 0x10;
  await writeFile(file, bytes);
  const store = new SegmentedLogStore({ recordEntries: 1, dir });
  t.is((await store.open()).lastSeq, 4);
  t.regex(store.recovery?.tornTail?.reason ?? '', /CRC32C/);
  await store.close();
});

test('trailing zeros after the last record (file size persisted, data not) are cut off', async (t) => {
  const dir = await tempDir(t);
  await writeLog(dir, 3);
  const file = join(dir, FIRST_FILE);
  await truncate(file, offsetOf(4) + 5000);
  const store = new SegmentedLogStore({ recordEntries: 1, dir });
  t.is((await store.open()).lastSeq, 3);
  t.is((await stat(file)).size, offsetOf(4));
  await store.close();
});

test('with damagedRecords refuse, a flipped bit in a middle record is CorruptLogError naming file, offset and seq, and nothing is deleted', async (t) => {
  const dir = await tempDir(t);
  await writeLog(dir, 5);
  const file = join(dir, FIRST_FILE);
  const original = await readFile(file);
  // A bit in the magic, the length, the CRC, the hash, the seq, the topic and the payload of record 3.
  for (const within of [0, 5, 9, 20, 30, 75, RECORD_BYTES - 1]) {
    const damaged = Buffer.from(original);
    damaged[offsetOf(3) + within]! ^= 0x04;
    await writeFile(file, damaged);
    const store = new SegmentedLogStore({ recordEntries: 1, dir, damagedRecords: 'refuse' });
    const error = await t.throwsAsync(store.open(), { instanceOf: CorruptLogError });
    t.is(error?.seq, 3, `byte ${within}`);
    t.is(error?.offset, offsetOf(3));
    t.is(error?.file, file);
    t.is(error?.name, 'CorruptLogError');
    t.false(error?.retriable);
    t.regex(error?.message ?? '', /seq 3/);
    t.deepEqual(await readFile(file), damaged, 'the file is left as it was');
  }
});

test('with damagedRecords refuse, a damaged record in a closed segment is CorruptLogError when read', async (t) => {
  const dir = await tempDir(t);
  const segmentBytes = HEADER_BYTES + 10 * RECORD_BYTES;
  await writeLog(dir, 25, segmentBytes);
  const file = join(dir, FIRST_FILE);
  const bytes = await readFile(file);
  bytes[offsetOf(4) + 90]! ^= 0x01;
  await writeFile(file, bytes);
  // Open reads back only the newest entries, so the damage is found by the read below.
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes,
    cacheEntries: 1,
    recoveredEntries: 5,
    damagedRecords: 'refuse',
  });
  await store.open();
  t.teardown(() => store.close());
  t.is((await store.read(5, 25, 1e9)).length, 21);
  const error = await t.throwsAsync(store.read(1, 25, 1e9), { instanceOf: CorruptLogError });
  t.is(error?.seq, 4);
  t.is(error?.file, file);
});

test('a missing or damaged sidecar index is rebuilt by one scan of its segment', async (t) => {
  const dir = await tempDir(t);
  const segmentBytes = HEADER_BYTES + 10 * RECORD_BYTES;
  const hashes = await writeLog(dir, 35, segmentBytes);
  await writeFile(join(dir, '0000000000000001.idx'), Buffer.from('garbage'));
  await writeFile(join(dir, '0000000000000011.idx'), Buffer.alloc(0));
  const index21 = await readFile(join(dir, '0000000000000021.idx'));
  index21[80]! ^= 0xff;
  await writeFile(join(dir, '0000000000000021.idx'), index21);
  const store = new SegmentedLogStore({ recordEntries: 1, dir, segmentBytes, cacheEntries: 1 });
  const recovered = await store.open();
  t.teardown(() => store.close());
  t.is(store.recovery?.rebuiltIndexCount, 3);
  t.is(recovered.lastSeq, 35);
  t.is(store.chainHash(17), hashes[17]!);
  t.deepEqual(await store.read(1, 35, 1e9), makeEntries(1, 35));
});

test('with damagedRecords refuse, a damaged record in a closed segment whose index must be rebuilt stops open', async (t) => {
  const dir = await tempDir(t);
  const segmentBytes = HEADER_BYTES + 10 * RECORD_BYTES;
  await writeLog(dir, 25, segmentBytes);
  const bytes = await readFile(join(dir, FIRST_FILE));
  bytes[offsetOf(10) + 90]! ^= 0x01;
  await writeFile(join(dir, FIRST_FILE), bytes);
  await writeFile(join(dir, '0000000000000001.idx'), Buffer.alloc(0));
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes,
    damagedRecords: 'refuse',
  });
  const error = await t.throwsAsync(store.open(), { instanceOf: CorruptLogError });
  // It is the last record of its segment, but records follow in the next one: not a torn tail.
  t.is(error?.seq, 10);
});

test('a segment whose header a crash cut short is removed and started again', async (t) => {
  const dir = await tempDir(t);
  const segmentBytes = HEADER_BYTES + 10 * RECORD_BYTES;
  const hashes = await writeLog(dir, 10, segmentBytes);
  // A crash right after the roll created the next segment but before its header was whole.
  await writeFile(join(dir, '0000000000000011.log'), Buffer.alloc(30));
  const store = new SegmentedLogStore({ recordEntries: 1, dir, segmentBytes });
  t.is((await store.open()).lastSeq, 10);
  t.regex(store.recovery?.removedSegmentFile ?? '', /0000000000000011\.log$/);
  t.is(store.chainHash(), hashes[10]!);
  await store.write(null, makeEntries(11, 12));
  t.deepEqual(
    (await store.read(9, 12, 1e9)).map((e) => e.seq),
    [9, 10, 11, 12],
  );
  await store.close();
});

test('a lone segment whose header a crash cut short, as a log reset leaves it, is removed and the log starts empty', async (t) => {
  const dir = await tempDir(t);
  // A reset to start after seq 106 deleted the old segments, and the crash
  // came before the new segment's header was on disk.
  await writeFile(join(dir, '0000000000000107.log'), Buffer.alloc(0));
  const store = new SegmentedLogStore({ recordEntries: 1, dir });
  const recovered = await store.open();
  t.is(recovered.lastSeq, 0);
  t.is(store.firstSeq(), 1);
  t.regex(store.recovery?.removedSegmentFile ?? '', /0000000000000107\.log$/);
  // The sequencer resets it again, and it goes on from there.
  await store.reset(107, 3);
  t.is(store.firstSeq(), 107);
  await store.close();
  // Not a lone segment with records: that is damage, and open still stops on it.
  const damaged = await tempDir(t);
  await writeFile(join(damaged, '0000000000000107.log'), Buffer.alloc(100, 1));
  await t.throwsAsync(new SegmentedLogStore({ recordEntries: 1, dir: damaged }).open(), {
    instanceOf: CorruptLogError,
  });
});

test('a segment that does not continue the one before it stops open', async (t) => {
  const dir = await tempDir(t);
  const segmentBytes = HEADER_BYTES + 10 * RECORD_BYTES;
  await writeLog(dir, 25, segmentBytes);
  const { rm } = await import('node:fs/promises');
  await rm(join(dir, '0000000000000011.log'));
  await rm(join(dir, '0000000000000011.idx'));
  const error = await t.throwsAsync(
    new SegmentedLogStore({ recordEntries: 1, dir, segmentBytes }).open(),
    {
      instanceOf: CorruptLogError,
    },
  );
  t.regex(error?.message ?? '', /does not continue/);
});
