import test from 'ava';
import type { DedupCheckpoint, Entry, HardState } from '../../src/core/types.js';
import { DedupCheckpointStore } from '../../src/storage/dedup-checkpoint-store.js';
import { FileMetaStore } from '../../src/storage/file-meta-store.js';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { StorageFailedError } from '../../src/storage/storage-errors.js';
import { PackedSlice } from '../../src/wire/packed-slice.js';
import { Prng } from '../sim/prng.js';
import { SimFileSystem } from '../sim/sim-file-system.js';
import { makeEntries, makeEntry, recordBytes } from './helpers.js';

const NODE_DIR = '/data/node-a';
const LOG_DIR = `${NODE_DIR}/log`;
const HEADER_BYTES = 64;
const RECORD_BYTES = recordBytes(makeEntry(1));
const SEGMENT_BYTES = HEADER_BYTES + 8 * RECORD_BYTES;
const SEEDS = Number(process.env['ORDO_STORAGE_SEEDS'] ?? 150);

function openLog(fs: SimFileSystem): SegmentedLogStore {
  return new SegmentedLogStore({
    recordEntries: 1,
    dir: LOG_DIR,
    fs,
    fsync: 'always',
    segmentBytes: SEGMENT_BYTES,
    verifyClosedSegments: true,
  });
}

async function readAll(store: SegmentedLogStore): Promise<Entry[]> {
  return store.read(store.firstSeq(), store.lastSeq(), Number.MAX_SAFE_INTEGER);
}

/** Lets every operation that can still run finish (the simulated disk answers within a few turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function checkpointAt(seq: number): DedupCheckpoint {
  return {
    seq,
    producers: [
      {
        producerId: `p${seq % 3}`,
        lastProducerSeq: seq,
        producerSeqs: [seq],
        seqs: [seq],
        evictedProducerSeq: null,
        evictedSeq: null,
        owner: '',
      },
    ],
  };
}

test(`crashes at random points of a seeded workload leave a prefix of the log holding everything synced, and whole metadata (seeds 1..${SEEDS})`, async (t) => {
  const totals = { tornWrites: 0, lostUnsyncedWrites: 0, lostDirectoryChanges: 0 };
  for (let seed = 1; seed <= SEEDS; seed++) {
    const prng = new Prng(seed);
    const crashAfterOps = prng.int(1, 400);
    let ops = 0;
    let crashed = false;
    const fs: SimFileSystem = new SimFileSystem({
      prng: prng.fork(),
      delay: async () => {
        if (++ops === crashAfterOps && !crashed) {
          fs.crash();
          crashed = true;
        }
      },
    });
    const where = `seed ${seed}, crash after op ${crashAfterOps}`;
    // What was handed to each store, and what each confirmed as durable.
    const written: Entry[] = [];
    let synced = 0;
    const savedStates: HardState[] = [];
    let savedStateCount = 0;
    const savedCheckpoints: DedupCheckpoint[] = [];
    let savedCheckpointCount = 0;
    const workload = async () => {
      const store = openLog(fs);
      const meta = new FileMetaStore({ dir: NODE_DIR, fs });
      const dedup = new DedupCheckpointStore(NODE_DIR, 'dedup.json', fs);
      await store.open();
      for (let step = 0; step < 40; step++) {
        const batch = makeEntries(written.length + 1, written.length + prng.int(1, 4));
        written.push(...batch);
        await store.write(null, batch);
        synced = written.length;
        if (prng.chance(0.3)) {
          savedStates.push({ epoch: step + 1, votedFor: `node-${step % 3}`, commitSeq: synced });
          await meta.save(savedStates[savedStates.length - 1]!);
          savedStateCount = savedStates.length;
        }
        if (prng.chance(0.2)) {
          savedCheckpoints.push(checkpointAt(synced));
          await dedup.save(savedCheckpoints[savedCheckpoints.length - 1]!);
          savedCheckpointCount = savedCheckpoints.length;
        }
      }
    };
    void workload();
    await settle();
    while (!crashed && ops < crashAfterOps) {
      // The workload ran out before the crash point: crash now, with everything synced.
      const before = ops;
      await settle();
      if (ops === before) {
        fs.crash();
        crashed = true;
      }
    }
    await settle();

    const store = openLog(fs);
    await store.open();
    const log = await readAll(store);
    t.deepEqual(store.damagedRanges(), [], where);
    t.true(log.length >= synced, `${where}: ${log.length} entries, ${synced} were synced`);
    t.deepEqual(
      log,
      written.slice(0, log.length),
      `${where}: the log is a prefix of what was written`,
    );
    await store.write(null, makeEntries(log.length + 1, log.length + 2));
    t.is(store.lastSeq(), log.length + 2, `${where}: the log takes writes again`);
    await store.close();

    const state = await new FileMetaStore({ dir: NODE_DIR, fs }).load();
    const stateCandidates = [
      savedStateCount === 0
        ? { epoch: 0, votedFor: null, commitSeq: 0 }
        : savedStates[savedStateCount - 1],
      savedStates[savedStateCount],
    ];
    t.true(
      stateCandidates.some((s) => s !== undefined && JSON.stringify(s) === JSON.stringify(state)),
      `${where}: hard state ${JSON.stringify(state)} is the last saved or the one in flight`,
    );
    const { checkpoint, problem } = await new DedupCheckpointStore(
      NODE_DIR,
      'dedup.json',
      fs,
    ).load();
    t.is(problem, null, where);
    const checkpointCandidates = [
      savedCheckpointCount === 0 ? null : savedCheckpoints[savedCheckpointCount - 1],
      savedCheckpoints[savedCheckpointCount],
    ];
    t.true(
      checkpointCandidates.some(
        (c) => c !== undefined && JSON.stringify(c) === JSON.stringify(checkpoint),
      ),
      `${where}: the dedup checkpoint is the last saved or the one in flight`,
    );
    totals.tornWrites += fs.counters.tornWrites;
    totals.lostUnsyncedWrites += fs.counters.lostUnsyncedWrites;
    totals.lostDirectoryChanges += fs.counters.lostDirectoryChanges;
  }
  t.log(`seeds 1..${SEEDS}: ${JSON.stringify(totals)}`);
  // The faults this test is about did happen.
  t.true(totals.tornWrites > 0);
  t.true(totals.lostUnsyncedWrites > 0);
  t.true(totals.lostDirectoryChanges > 0);
});

test('a write torn at every byte of the last record is cut back to the record before', async (t) => {
  const lastBytes = RECORD_BYTES;
  for (let kept = 0; kept < lastBytes; kept++) {
    for (const sizeExtended of [false, true]) {
      const fs = new SimFileSystem({ prng: new Prng(kept) });
      const store = new SegmentedLogStore({ recordEntries: 1, dir: LOG_DIR, fs, fsync: 'never' });
      await store.open();
      await store.write(null, makeEntries(1, 5));
      // Everything up to seq 5 is made durable; seq 6 is one unsynced write.
      await (store as unknown as { chain: { sync(): Promise<boolean> } }).chain.sync();
      await store.write(null, makeEntries(6, 6));
      fs.crash({ write: () => ({ keptBytes: kept, sizeExtended }) });
      const reopened = new SegmentedLogStore({
        recordEntries: 1,
        dir: LOG_DIR,
        fs,
        fsync: 'always',
      });
      const recovered = await reopened.open();
      const where = `kept ${kept} bytes, size extended ${sizeExtended}`;
      t.is(recovered.lastSeq, 5, where);
      t.is(reopened.recovery?.tornTail === null, kept === 0 && !sizeExtended, where);
      t.deepEqual(await readAll(reopened), makeEntries(1, 5), where);
      await reopened.write(null, makeEntries(6, 7));
      t.deepEqual(await readAll(reopened), makeEntries(1, 7), where);
      await reopened.close();
    }
  }
});

test('a segment whose directory entry a crash lost before the directory fsync is simply absent', async (t) => {
  const fs: SimFileSystem = new SimFileSystem({ prng: new Prng(7) });
  let crashOnDirectorySync = false;
  const original = fs.syncDirectory.bind(fs);
  fs.syncDirectory = (dir: string) => {
    if (!crashOnDirectorySync) return original(dir);
    crashOnDirectorySync = false;
    // Power fails as the directory fsync starts: no new entry in it survives.
    fs.crash({ directoryChangesKept: () => 0, write: () => 'lose' });
    return new Promise<void>(() => {});
  };
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir: LOG_DIR,
    fs,
    segmentBytes: SEGMENT_BYTES,
  });
  await store.open();
  await store.write(null, makeEntries(1, 8));
  t.is(store.describe().segments.length, 1);
  crashOnDirectorySync = true;
  // Seq 9 does not fit: the store rolls, and the crash hits the directory fsync after the new segment.
  void store.write(null, makeEntries(9, 9));
  await settle();
  t.true(
    fs.counters.lostDirectoryChanges > 0,
    'the new segment and the sidecar index were not durable',
  );
  t.deepEqual(await fs.readdir(LOG_DIR), ['0000000000000001.log']);
  const reopened = new SegmentedLogStore({
    recordEntries: 1,
    dir: LOG_DIR,
    fs,
    segmentBytes: SEGMENT_BYTES,
  });
  const recovered = await reopened.open();
  t.is(recovered.lastSeq, 8);
  await reopened.write(null, makeEntries(9, 12));
  t.deepEqual(await readAll(reopened), makeEntries(1, 12));
  await reopened.close();
});

test('a metadata rename a crash lost before the directory fsync leaves the old state', async (t) => {
  const fs: SimFileSystem = new SimFileSystem({ prng: new Prng(3) });
  const meta = new FileMetaStore({ dir: NODE_DIR, fs });
  await meta.save({ epoch: 1, votedFor: 'a', commitSeq: 3 });
  const original = fs.syncDirectory.bind(fs);
  fs.syncDirectory = () => {
    // The temp file's entry survives, its rename does not.
    fs.crash({ directoryChangesKept: () => 1 });
    return new Promise<void>(() => {});
  };
  void meta.save({ epoch: 2, votedFor: 'b', commitSeq: 5 });
  await settle();
  fs.syncDirectory = original;
  t.deepEqual((await fs.readdir(NODE_DIR)).sort(), ['meta.json', 'meta.json.tmp']);
  t.deepEqual(await new FileMetaStore({ dir: NODE_DIR, fs }).load(), {
    epoch: 1,
    votedFor: 'a',
    commitSeq: 3,
  });
  t.deepEqual(await fs.readdir(NODE_DIR), ['meta.json'], 'the temp file is removed');
});

test('a failed fsync rejects the write with StorageFailedError, refuses every later write, and a reopen holds exactly the synced data', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(11) });
  const store = new SegmentedLogStore({ recordEntries: 1, dir: LOG_DIR, fs, fsync: 'always' });
  await store.open();
  await store.write(null, makeEntries(1, 4));
  t.true(store.readPacked(new PackedSlice(1, 4, 1e9, false)), 'the cache holds 1..4');
  fs.failNextFsync();
  const error = await t.throwsAsync(store.write(null, makeEntries(5, 6)), {
    instanceOf: StorageFailedError,
  });
  t.is(error?.name, 'StorageFailedError');
  t.false(error?.retriable);
  t.is((error?.cause as NodeJS.ErrnoException | undefined)?.code, 'EIO');
  t.is(fs.counters.fsyncErrors, 1);
  await t.throwsAsync(store.write(null, makeEntries(7, 7)), { instanceOf: StorageFailedError });
  await t.throwsAsync(store.read(1, 4, 1e9), { instanceOf: StorageFailedError });
  // A packed read of what the cache holds declines rather than throws: the
  // reader falls back to read(), which names the failure.
  t.false(store.readPacked(new PackedSlice(1, 4, 1e9, false)));
  // The host treats it as a crash: the unsynced write does not reach the disk.
  fs.crash({ write: () => 'lose' });
  const reopened = new SegmentedLogStore({ recordEntries: 1, dir: LOG_DIR, fs });
  t.is((await reopened.open()).lastSeq, 4);
  t.deepEqual(await readAll(reopened), makeEntries(1, 4));
  await reopened.close();
});

test('a failed fsync of a metadata file rejects the save and every later one', async (t) => {
  const fs = new SimFileSystem({ prng: new Prng(12) });
  const meta = new FileMetaStore({ dir: NODE_DIR, fs });
  await meta.save({ epoch: 1, votedFor: null, commitSeq: 0 });
  fs.failNextFsync();
  await t.throwsAsync(meta.save({ epoch: 2, votedFor: null, commitSeq: 0 }), {
    instanceOf: StorageFailedError,
  });
  await t.throwsAsync(meta.save({ epoch: 3, votedFor: null, commitSeq: 0 }), {
    instanceOf: StorageFailedError,
  });
  fs.crash();
  t.is((await new FileMetaStore({ dir: NODE_DIR, fs }).load()).epoch, 1);
});

test('operations pending at a crash never complete, and handles from before it are dead', async (t) => {
  let hold = false;
  let release: (() => void) | null = null;
  const fs = new SimFileSystem({
    prng: new Prng(5),
    delay: () => (hold ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve()),
  });
  await fs.mkdirp('/d');
  const file = await fs.open('/d/f', 'wx');
  hold = true;
  let settled = false;
  void file.write(Buffer.from('abc'), 0, 3, 0).finally(() => (settled = true));
  fs.crash({ directoryChangesKept: () => 0 });
  hold = false;
  release!();
  await settle();
  t.false(settled, 'the write that was pending at the crash never settles');
  t.deepEqual(await fs.readdir('/d'), [], 'the file was never made durable in its directory');
  let lateSettled = false;
  void file.size().finally(() => (lateSettled = true));
  await settle();
  t.false(lateSettled, 'a handle from before the crash is dead');
});
