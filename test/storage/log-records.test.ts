import { join } from 'node:path';
import test from 'ava';
import type { Entry } from '../../src/core/types.js';
import { LIMITS } from '../../src/limits.js';
import type { FileSystem } from '../../src/storage/file-system.js';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { RepairRejectedError } from '../../src/storage/storage-errors.js';
import { Prng } from '../sim/prng.js';
import { SimFileSystem } from '../sim/sim-file-system.js';
import { makeEntries, makeEntry } from './helpers.js';

/**
 * Records of many entries: a write goes into as few records as the bounds
 * allow, and reads, truncation, retention, resets and repair all work on
 * seqs that fall inside a record.
 */

const LOG_DIR = '/data/node-a/log';
const HEADER_BYTES = 64;
/** Segments small enough that 2,000 entries of 100-byte payloads take several. */
const SEGMENT_BYTES = 64 * 1024;

function store(
  fs: FileSystem,
  options: Partial<ConstructorParameters<typeof SegmentedLogStore>[0]> = {},
) {
  return new SegmentedLogStore({
    dir: LOG_DIR,
    fs,
    segmentBytes: SEGMENT_BYTES,
    fsync: 'always',
    // Nothing is served from memory: every read goes to the records on disk.
    cacheEntries: 1,
    ...options,
  });
}

async function readAll(log: SegmentedLogStore, from = log.firstSeq(), to = log.lastSeq()) {
  return log.read(from, to, Number.MAX_SAFE_INTEGER);
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function segmentFiles(fs: SimFileSystem): string[] {
  return fs
    .listFiles(LOG_DIR)
    .filter((name) => name.endsWith('.log'))
    .sort();
}

test('one write of many entries takes few records, and reads that start and end inside records return exactly the range asked', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(1) });
  const log = store(fs);
  await log.open();
  t.teardown(() => log.close());
  const entries = makeEntries(1, 2000);
  await log.write(null, entries.slice(0, 1500));
  await log.write(null, entries.slice(1500));
  const files = segmentFiles(fs);
  t.true(files.length >= 4, `${files.length} segments`);
  // Each segment holds whole records: about 300 entries of ~200 bytes each in a 64 KiB segment.
  t.true(fs.readFileSync(join(LOG_DIR, files[0]!)).length <= SEGMENT_BYTES);
  const prng = new Prng(2);
  for (let round = 0; round < 200; round++) {
    const from = prng.int(1, 2000);
    const to = prng.int(from, Math.min(2000, from + prng.int(0, 600)));
    t.deepEqual(
      await log.read(from, to, Number.MAX_SAFE_INTEGER),
      entries.slice(from - 1, to),
      `read ${from}..${to}`,
    );
  }
  // A read bounded by bytes stops after at least one entry, inside a record.
  const bounded = await log.read(777, 2000, 1);
  t.deepEqual(bounded, [entries[776]]);
});

test('the same entries grouped into records differently have the same log digest at every seq', async (t) => {
  const entries = makeEntries(1, 700, { payloadBytes: 61 });
  const one = new SimFileSystem({ prng: new Prng(3) });
  const many = new SimFileSystem({ prng: new Prng(4) });
  const single = store(one, { recordEntries: 1 });
  const grouped = store(many);
  await single.open();
  await grouped.open();
  t.teardown(() => single.close());
  t.teardown(() => grouped.close());
  await single.write(null, entries);
  for (let from = 1; from <= 700; from += 77)
    await grouped.write(null, entries.slice(from - 1, from + 76));
  for (let seq = 0; seq <= 700; seq++)
    t.is(grouped.chainHash(seq), single.chainHash(seq), `seq ${seq}`);
  t.not(grouped.chainHash(350), grouped.chainHash(351));
});

test("a truncation inside a record keeps the record's first entries, durably, and the log goes on from there", async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(5) });
  const log = store(fs);
  await log.open();
  await log.write(null, makeEntries(1, 100));
  const digestAt40 = log.chainHash(40);
  await log.write(40, makeEntries(41, 45, { epoch: 2 }));
  const expected = [...makeEntries(1, 40), ...makeEntries(41, 45, { epoch: 2 })];
  t.deepEqual(await readAll(log), expected);
  t.is(log.chainHash(40), digestAt40);
  await log.close();
  fs.crash();
  const reopened = store(fs);
  const recovered = await reopened.open();
  t.teardown(() => reopened.close());
  t.is(recovered.lastSeq, 45);
  t.deepEqual(await readAll(reopened), expected);
  t.is(reopened.chainHash(40), digestAt40);
  t.false(
    fs.listFiles(LOG_DIR).includes('record-cut'),
    'the cut plan is gone once the cut is done',
  );
});

test(`a crash at any step of a truncation inside a record loses none of the entries kept (every step of seeds 1..40)`, async (t) => {
  let steps = 0;
  let cutsCompleted = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const prng = new Prng(seed);
    const count = prng.int(20, 400);
    const cutAt = prng.int(1, count - 1);
    const written = makeEntries(1, count, { payloadBytes: prng.int(0, 300) });
    // Find how many file operations the truncation takes, then crash after each one of them.
    for (let crashAfter = 1; ; crashAfter++) {
      let ops = 0;
      let counting = false;
      let crashed = false;
      const fs: SimFileSystem = new SimFileSystem({
        prng: prng.fork(),
        delay: async () => {
          if (!counting || crashed) return;
          if (++ops === crashAfter) {
            fs.crash();
            crashed = true;
          }
        },
      });
      const log = store(fs);
      await log.open();
      await log.write(null, written);
      counting = true;
      const where = `seed ${seed}: ${count} entries cut after ${cutAt}, crash after op ${crashAfter}`;
      // A crashed file system never answers the node again: the write is left hanging, as in a crash.
      let done = false;
      void log.write(cutAt, []).then(
        () => {
          done = true;
        },
        () => {
          done = true;
        },
      );
      while (!crashed && !done) await settle();
      counting = false;
      if (!crashed) {
        await log.close();
        steps += crashAfter - 1;
        break;
      }
      const reopened = store(fs);
      await reopened.open();
      const log2 = await readAll(reopened);
      // The cut removes from the end down to cutAt: a crash leaves a prefix, never shorter than what is kept.
      t.true(log2.length >= cutAt && log2.length <= count, `${where}: ${log2.length} entries`);
      if (log2.length === cutAt) cutsCompleted++;
      t.deepEqual(log2, written.slice(0, log2.length), where);
      t.deepEqual(reopened.damagedRanges(), [], where);
      await reopened.write(null, makeEntries(log2.length + 1, log2.length + 1));
      t.is(reopened.lastSeq(), log2.length + 1, where);
      await reopened.close();
    }
  }
  t.log(`${steps} crash points tried, ${cutsCompleted} of them after the cut was done or redone`);
  t.true(steps > 40);
  t.true(cutsCompleted > 0);
});

test("retention never drops part of a record: a commit point inside a segment's last record keeps that segment", async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(6) });
  const log = store(fs, { retentionBytes: 1 });
  await log.open();
  t.teardown(() => log.close());
  await log.write(null, makeEntries(1, 1200));
  const firstSegmentEnd = Number(segmentFiles(fs)[1]!.slice(0, 16)) - 1;
  t.true(firstSegmentEnd > 1 && firstSegmentEnd < 1200);
  // The commit point inside the first segment's last record: nothing is dropped.
  t.is(await log.applyRetention(firstSegmentEnd - 1, 0), 1);
  t.deepEqual(await readAll(log, 1, 3), makeEntries(1, 3));
  // At the end of that record, the whole segment goes, and the log starts at the next record.
  t.is(await log.applyRetention(firstSegmentEnd, 0), firstSegmentEnd + 1);
  t.deepEqual(
    await readAll(log, firstSegmentEnd + 1, firstSegmentEnd + 3),
    makeEntries(firstSegmentEnd + 1, firstSegmentEnd + 3),
  );
});

test('a log restarted at a seq inside a record of the old log starts exactly there', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(7) });
  const log = store(fs);
  await log.open();
  await log.write(null, makeEntries(1, 100));
  await log.reset(57, 3);
  t.is(log.firstSeq(), 57);
  t.is(log.lastSeq(), 56);
  await log.write(null, makeEntries(57, 90, { epoch: 4 }));
  await log.close();
  const reopened = store(fs);
  const recovered = await reopened.open();
  t.teardown(() => reopened.close());
  t.is(recovered.firstSeq, 57);
  t.deepEqual(await readAll(reopened), makeEntries(57, 90, { epoch: 4 }));
  t.is(reopened.chainHash(56), '0'.repeat(16));
});

/** Writes 1..count in one write (records of many entries) in small segments, flips a payload bit of `seq`, reopens. */
async function damagedLog(seed: number, count: number, seq: number) {
  const fs = new SimFileSystem({ prng: new Prng(seed) });
  const log = store(fs, { segmentBytes: 16 * 1024 });
  await log.open();
  await log.write(null, makeEntries(1, count));
  const digests = Array.from({ length: count + 1 }, (_, s) => log.chainHash(s));
  // Where seq's payload is: read the record back entry by entry is not possible, so search for it.
  const files = segmentFiles(fs);
  let file = '';
  for (const name of files) if (Number(name.slice(0, 16)) <= seq) file = name;
  await log.close();
  const path = join(LOG_DIR, file);
  const bytes = fs.readFileSync(path);
  const payload = Buffer.from(makeEntry(seq).payload);
  const at = bytes.indexOf(payload, HEADER_BYTES);
  t_assert(at > 0, 'payload found');
  fs.flipBit(path, at + 3, 1);
  const reopened = store(fs, { segmentBytes: 16 * 1024, verifyClosedSegments: true });
  const recovered = await reopened.open();
  return { fs, log: reopened, recovered, digests };
}

function t_assert(condition: boolean, what: string): void {
  if (!condition) throw new Error(`test setup: ${what}`);
}

test('a damaged record of many entries is repaired whole from a copy, never from a copy that differs in one entry', async (t) => {
  const { log, recovered, digests } = await damagedLog(8, 600, 30);
  t.teardown(() => log.close());
  t.is(recovered.damaged!.length, 1);
  const range = recovered.damaged![0]!;
  t.true(
    range.fromSeq <= 30 && range.toSeq >= 30 && range.toSeq > range.fromSeq,
    JSON.stringify(range),
  );
  const copy = makeEntries(range.fromSeq, range.toSeq);
  const wrong = copy.map((e) => (e.seq === range.toSeq ? { ...e, epoch: 9 } : e));
  const refused = await t.throwsAsync(log.repair(wrong), { instanceOf: RepairRejectedError });
  // The copy differs in its last entry only: its sender is not taken for one lacking the first.
  t.is(refused.kind, 'layout');
  t.deepEqual(await log.repair(copy), { repaired: range.toSeq - range.fromSeq + 1 });
  t.deepEqual(log.damagedRanges(), []);
  t.deepEqual(await readAll(log), makeEntries(1, 600));
  t.is(log.chainHash(range.toSeq), digests[range.toSeq]!);
});

test('a damaged record whose copies differ after some entry can be cut inside: its matching first entries are kept, durably', async (t) => {
  const { fs, log, recovered } = await damagedLog(9, 600, 30);
  const range = recovered.damaged![0]!;
  const keep = 30 - range.fromSeq + 1;
  const copy: Entry[] = makeEntries(range.fromSeq, range.toSeq).map((e) =>
    e.seq > 30 ? { ...e, epoch: 7 } : e,
  );
  await t.throwsAsync(log.repair(copy), { instanceOf: RepairRejectedError });
  // The per-entry digests of the intact header tell how far the copy is the record as written.
  t.is(await log.matchDamaged(copy), keep);
  t.is(
    await log.matchDamaged(copy.slice(1)),
    null,
    'a copy that does not start the record tells nothing',
  );
  // Keeping more than matches is refused, and so is keeping the whole record.
  await t.throwsAsync(log.cutDamaged(copy.slice(0, keep + 1)), { instanceOf: RepairRejectedError });
  await t.throwsAsync(log.cutDamaged(makeEntries(range.fromSeq, range.toSeq)), {
    message: /not the first part/,
  });
  await log.cutDamaged(copy.slice(0, keep));
  t.deepEqual(log.damagedRanges(), []);
  t.is(log.lastSeq(), 30);
  t.deepEqual(await readAll(log), makeEntries(1, 30));
  await log.write(null, makeEntries(31, 33, { epoch: 7 }));
  await log.close();
  fs.crash();
  const reopened = store(fs, { segmentBytes: 16 * 1024, verifyClosedSegments: true });
  await reopened.open();
  t.teardown(() => reopened.close());
  t.deepEqual(reopened.damagedRanges(), []);
  t.deepEqual(await readAll(reopened), [
    ...makeEntries(1, 30),
    ...makeEntries(31, 33, { epoch: 7 }),
  ]);
});

test('record bounds: a record holds at most maxLogRecordEntries entries', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(10) });
  const log = store(fs, { segmentBytes: LIMITS.logSegmentBytes });
  await log.open();
  t.teardown(() => log.close());
  const count = LIMITS.maxLogRecordEntries * 2 + 5;
  await log.write(null, makeEntries(1, count, { payloadBytes: 1 }));
  const bytes = fs.readFileSync(join(LOG_DIR, segmentFiles(fs)[0]!));
  // Three records: count them by their magic at each record start.
  let records = 0;
  for (let at = HEADER_BYTES; at < bytes.length; at += bytes.readUInt32LE(at + 4)) records++;
  t.is(records, 3);
  t.deepEqual(await readAll(log), makeEntries(1, count, { payloadBytes: 1 }));
});
