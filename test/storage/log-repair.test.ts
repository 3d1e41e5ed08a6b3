import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { Entry } from '../../src/core/types.js';
import { type FileSystem, nodeFileSystem } from '../../src/storage/file-system.js';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { DamagedRecordError, RepairRejectedError } from '../../src/storage/storage-errors.js';
import { Prng } from '../sim/prng.js';
import { SimFileSystem } from '../sim/sim-file-system.js';
import { makeEntries, makeEntry, recordBytes, tempDir } from './helpers.js';

const LOG_DIR = '/data/node-a/log';
const HEADER_BYTES = 64;
const RECORD_BYTES = recordBytes(makeEntry(1));
const SEGMENT_BYTES = HEADER_BYTES + 10 * RECORD_BYTES;
const FIRST_FILE = '0000000000000001.log';

function offsetOf(seq: number): number {
  return HEADER_BYTES + ((seq - 1) % 10) * RECORD_BYTES;
}

async function writeLog(fs: FileSystem, dir: string, count: number): Promise<string[]> {
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    fs,
    segmentBytes: SEGMENT_BYTES,
    fsync: 'always',
  });
  await store.open();
  await store.write(null, makeEntries(1, count));
  const hashes = Array.from({ length: count + 1 }, (_, seq) => store.chainHash(seq));
  await store.close();
  return hashes;
}

function reopen(fs: FileSystem, dir: string): SegmentedLogStore {
  return new SegmentedLogStore({
    recordEntries: 1,
    dir,
    fs,
    segmentBytes: SEGMENT_BYTES,
    verifyClosedSegments: true,
    cacheEntries: 1,
  });
}

/** A copy of `entry` with one payload byte changed: a plausible but wrong candidate. */
function altered(entry: Entry): Entry {
  const payload = Uint8Array.from(entry.payload);
  payload[0] = payload[0]! ^ 0xff;
  return { ...entry, payload };
}

// Bytes within a record: magic, length, CRC, chain hash, seq, epoch, producer id, payload.
for (const within of [0, 5, 9, 20, 30, 40, 72, RECORD_BYTES - 1]) {
  test(`a bit flipped at byte ${within} of a middle record is reported, read as DamagedRecordError and repaired from the right entry only`, async (t) => {
    const fs = new SimFileSystem({ prng: new Prng(within) });
    const hashes = await writeLog(fs, LOG_DIR, 25);
    const file = join(LOG_DIR, FIRST_FILE);
    fs.flipBit(file, offsetOf(4) + within, 3);
    t.is(fs.counters.bitFlips, 1);

    const store = reopen(fs, LOG_DIR);
    const recovered = await store.open();
    t.teardown(() => store.close());
    t.is(recovered.lastSeq, 25);
    t.deepEqual(recovered.damaged, [{ fromSeq: 4, toSeq: 4 }]);
    t.deepEqual(store.damagedRanges(), [{ fromSeq: 4, toSeq: 4 }]);
    const error = await t.throwsAsync(store.read(4, 25, 1e9), { instanceOf: DamagedRecordError });
    t.is(error?.seq, 4);
    t.is(error?.name, 'DamagedRecordError');
    t.false(error?.retriable);
    t.regex(error?.message ?? '', /seq 4/);
    t.deepEqual(await store.read(1, 25, 1e9), makeEntries(1, 3), 'a read stops before the damage');
    t.deepEqual(await store.read(5, 25, 1e9), makeEntries(5, 25));
    t.throws(() => store.chainHash(4), { instanceOf: DamagedRecordError });

    const before = fs.durableBytes(file);
    const rejected = await t.throwsAsync(store.repair([altered(makeEntry(4))]), {
      instanceOf: RepairRejectedError,
    });
    t.is(rejected?.seq, 4);
    t.deepEqual(fs.durableBytes(file), before, 'a rejected repair writes nothing');
    t.deepEqual(store.damagedRanges(), [{ fromSeq: 4, toSeq: 4 }]);

    // Entries of seqs that are not damaged are ignored.
    t.deepEqual(await store.repair(makeEntries(3, 5)), { repaired: 1 });
    t.deepEqual(store.damagedRanges(), []);
    t.deepEqual(await store.read(1, 25, 1e9), makeEntries(1, 25));
    t.is(store.chainHash(4), hashes[4]!);
    t.is(store.chainHash(), hashes[25]!);
    await store.write(null, makeEntries(26, 27));

    const again = reopen(fs, LOG_DIR);
    const clean = await again.open();
    t.is(clean.damaged, undefined, 'the repair was durable');
    t.deepEqual(await again.read(1, 27, 1e9), makeEntries(1, 27));
    await again.close();
  });
}

test('damage found by a read in a closed segment trusted through its sidecar index is reported and repaired', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(1) });
  const hashes = await writeLog(fs, LOG_DIR, 25);
  fs.flipBit(join(LOG_DIR, FIRST_FILE), offsetOf(10) + 90, 0);
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir: LOG_DIR,
    fs,
    segmentBytes: SEGMENT_BYTES,
    cacheEntries: 1,
    recoveredEntries: 5,
  });
  t.is((await store.open()).damaged, undefined, 'open trusts the sidecar index');
  t.teardown(() => store.close());
  await t.throwsAsync(store.read(10, 10, 1e9), { instanceOf: DamagedRecordError });
  t.deepEqual(store.damagedRanges(), [{ fromSeq: 10, toSeq: 10 }]);
  // Seq 10 ends its segment: the candidate is checked against the next segment's header.
  await t.throwsAsync(store.repair([altered(makeEntry(10))]), { instanceOf: RepairRejectedError });
  t.deepEqual(await store.repair([makeEntry(10)]), { repaired: 1 });
  t.deepEqual(await store.read(1, 25, 1e9), makeEntries(1, 25));
  t.is(store.chainHash(10), hashes[10]!);
});

test('the damaged last record of a closed segment without its sidecar is bounded by the next header and repaired', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(2) });
  await writeLog(fs, LOG_DIR, 25);
  fs.flipBit(join(LOG_DIR, FIRST_FILE), offsetOf(10) + 5, 1);
  await fs.unlink(join(LOG_DIR, '0000000000000001.idx'));
  const store = reopen(fs, LOG_DIR);
  t.deepEqual((await store.open()).damaged, [{ fromSeq: 10, toSeq: 10 }]);
  t.teardown(() => store.close());
  t.deepEqual(await store.repair([makeEntry(10)]), { repaired: 1 });
  t.deepEqual(await store.read(1, 25, 1e9), makeEntries(1, 25));
});

test('two neighbouring records whose framing is lost are one damaged range, repaired together only', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(3) });
  await writeLog(fs, LOG_DIR, 25);
  const file = join(LOG_DIR, '0000000000000021.log');
  // The length fields of seqs 22 and 23, in the active segment (no sidecar to step over them).
  fs.flipBit(file, offsetOf(22) + 5, 2);
  fs.flipBit(file, offsetOf(23) + 5, 2);
  const store = reopen(fs, LOG_DIR);
  t.deepEqual((await store.open()).damaged, [{ fromSeq: 22, toSeq: 23 }]);
  t.teardown(() => store.close());
  await t.throwsAsync(store.repair([makeEntry(22)]), { instanceOf: RepairRejectedError });
  t.deepEqual(await store.repair(makeEntries(22, 23)), { repaired: 2 });
  t.deepEqual(await store.read(1, 25, 1e9), makeEntries(1, 25));
  await store.write(null, makeEntries(26, 26));
  t.deepEqual(await store.read(20, 26, 1e9), makeEntries(20, 26));
});

test('a truncation cannot keep a damaged record as its last, but may cut below it', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(4) });
  await writeLog(fs, LOG_DIR, 25);
  fs.flipBit(join(LOG_DIR, '0000000000000021.log'), offsetOf(22) + 80, 4);
  const store = reopen(fs, LOG_DIR);
  await store.open();
  t.teardown(() => store.close());
  await t.throwsAsync(store.write(22, makeEntries(23, 23)), { message: /damaged/ });
  await store.write(21, makeEntries(22, 23, { epoch: 2 }));
  t.deepEqual(store.damagedRanges(), []);
  t.deepEqual(await store.read(21, 23, 1e9), [makeEntry(21), ...makeEntries(22, 23, { epoch: 2 })]);
});

test('on real files, a flipped bit in a middle record is reported and repaired in place', async (t) => {
  const dir = await tempDir(t);
  const original = await writeLog(nodeFileSystem, dir, 25);
  const file = join(dir, FIRST_FILE);
  const bytes = await readFile(file);
  const pristine = Buffer.from(bytes);
  bytes[offsetOf(6) + 100]! ^= 0x10;
  await writeFile(file, bytes);
  await unlink(join(dir, '0000000000000001.idx'));
  const store = new SegmentedLogStore({ recordEntries: 1, dir, segmentBytes: SEGMENT_BYTES });
  t.deepEqual((await store.open()).damaged, [{ fromSeq: 6, toSeq: 6 }]);
  t.teardown(() => store.close());
  await t.throwsAsync(store.read(6, 6, 1e9), { instanceOf: DamagedRecordError });
  await t.throwsAsync(store.repair([altered(makeEntry(6))]), { instanceOf: RepairRejectedError });
  t.deepEqual(await store.repair([makeEntry(6)]), { repaired: 1 });
  t.deepEqual(await readFile(file), pristine, 'the file is byte for byte what was written');
  t.is(store.chainHash(6), original[6]!);
  t.deepEqual(await store.read(1, 25, 1e9), makeEntries(1, 25));
});
