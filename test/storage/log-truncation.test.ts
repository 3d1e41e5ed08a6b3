import { readdir } from 'node:fs/promises';
import test from 'ava';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { InvalidLogRequestError } from '../../src/storage/storage-errors.js';
import { makeEntries, makeEntry, openStore, recordBytes, tempDir } from './helpers.js';

const SEGMENT_BYTES = 64 + 10 * recordBytes(makeEntry(1));

test('truncation across segments removes the divergent suffix durably, and new entries follow', async (t) => {
  const dir = await tempDir(t);
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes: SEGMENT_BYTES,
    fsync: 'always',
    cacheEntries: 3,
  });
  await store.open();
  await store.write(null, makeEntries(1, 45, { epoch: 1 }));
  const hashAt13 = store.chainHash(13);
  const replacement = makeEntries(14, 20, { epoch: 2, payloadBytes: 40 });
  await store.write(13, replacement);
  t.is(store.lastSeq(), 20);
  t.is(store.chainHash(13), hashAt13);
  const expected = [...makeEntries(1, 13, { epoch: 1 }), ...replacement];
  t.deepEqual(await store.read(1, 100, 1e9), expected);
  t.deepEqual(
    store.describe().segments.map((s) => [s.firstSeq, s.lastSeq]),
    [
      [1, 10],
      [11, 20],
    ],
  );
  const files = (await readdir(dir)).sort();
  t.deepEqual(files, ['0000000000000001.idx', '0000000000000001.log', '0000000000000011.log']);
  const hashAt20 = store.chainHash();
  await store.close();

  const reopened = new SegmentedLogStore({ recordEntries: 1, dir, segmentBytes: SEGMENT_BYTES });
  const recovered = await reopened.open();
  t.teardown(() => reopened.close());
  t.is(recovered.lastSeq, 20);
  t.deepEqual(recovered.epochStarts, [
    { epoch: 1, startSeq: 1 },
    { epoch: 2, startSeq: 14 },
  ]);
  t.is(reopened.chainHash(), hashAt20);
  t.deepEqual(await reopened.read(1, 100, 1e9), expected);
});

test('truncation to exactly a segment boundary, and to an empty log', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, { segmentBytes: SEGMENT_BYTES });
  await store.write(null, makeEntries(1, 30));
  await store.write(20, []);
  t.is(store.lastSeq(), 20);
  t.deepEqual(
    store.describe().segments.map((s) => [s.firstSeq, s.lastSeq]),
    [
      [1, 10],
      [11, 20],
    ],
  );
  await store.write(10, makeEntries(11, 11, { epoch: 3 }));
  t.deepEqual(
    store.describe().segments.map((s) => [s.firstSeq, s.lastSeq]),
    [
      [1, 10],
      [11, 11],
    ],
  );
  await store.write(0, makeEntries(1, 2, { epoch: 4 }));
  t.deepEqual(await store.read(1, 10, 1e9), makeEntries(1, 2, { epoch: 4 }));
  t.deepEqual(
    store.describe().segments.map((s) => [s.firstSeq, s.lastSeq]),
    [[1, 2]],
  );
  await store.write(0, []);
  t.is(store.lastSeq(), 0);
  t.is(store.chainHash(), '0'.repeat(16));
});

test('truncation with the same write appending in a new epoch, back to back with reads', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, { segmentBytes: SEGMENT_BYTES, cacheEntries: 2 });
  await store.write(null, makeEntries(1, 25, { epoch: 1 }));
  const reading = store.read(1, 25, 1e9);
  const writing = store.write(5, makeEntries(6, 8, { epoch: 2 }));
  t.is(store.lastSeq(), 8);
  const [read] = await Promise.all([reading, writing]);
  // The read started before the truncation: it returns a prefix of either log, never a mix that is neither.
  t.true(read.length >= 5);
  t.deepEqual(read.slice(0, 5), makeEntries(1, 5, { epoch: 1 }));
  t.deepEqual(await store.read(1, 25, 1e9), [
    ...makeEntries(1, 5, { epoch: 1 }),
    ...makeEntries(6, 8, { epoch: 2 }),
  ]);
});

test('truncation below the log start is refused', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, { segmentBytes: SEGMENT_BYTES, retentionBytes: 1 });
  await store.write(null, makeEntries(1, 25));
  t.is(await store.applyRetention(25, 0), 21);
  await t.throwsAsync(store.write(10, []), {
    instanceOf: InvalidLogRequestError,
    message: /log starts at seq 21/,
  });
  await store.write(20, []);
  t.is(store.lastSeq(), 20);
  t.is(store.firstSeq(), 21);
  await store.write(null, makeEntries(21, 22));
  t.is(store.lastSeq(), 22);
});
