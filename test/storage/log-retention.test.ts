import test from 'ava';
import { LogRangeError } from '../../src/storage/log-store.js';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { makeEntries, makeEntry, openStore, recordBytes, tempDir } from './helpers.js';

const RECORD_BYTES = recordBytes(makeEntry(1));
const SEGMENT_BYTES = 64 + 10 * RECORD_BYTES;

test('retention by size deletes whole committed segments, oldest first, never the active one', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, {
    segmentBytes: SEGMENT_BYTES,
    retentionBytes: 3 * SEGMENT_BYTES,
  });
  await store.write(null, makeEntries(1, 55));
  // 6 segments (5 full, 1 active): 2 must go to get back under three segments' worth... but not past commit.
  t.is(await store.applyRetention(15, 0), 11);
  t.is(store.firstSeq(), 11);
  t.is(await store.applyRetention(55, 0), 31);
  t.true(store.describe().totalBytes <= 3 * SEGMENT_BYTES);
  t.is(await store.applyRetention(55, 0), 31);
  await t.throwsAsync(store.read(30, 31, 1e6), { instanceOf: LogRangeError });
  t.deepEqual((await store.read(31, 55, 1e9)).map((e) => e.seq)[0], 31);
});

test('retention by age deletes segments whose newest entry is older than the limit', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, {
    segmentBytes: SEGMENT_BYTES,
    retentionBytes: null,
    retentionAgeMs: 1000,
  });
  // Seq n is written at time n * 100 ms: segment k (seqs 10k-9..10k) ends at 1000k ms.
  await store.write(
    null,
    makeEntries(1, 45).map((e) => ({ ...e, timestampMs: e.seq * 100 })),
  );
  t.is(await store.applyRetention(45, 2000), 1, 'nothing is older than 1 s yet');
  t.is(await store.applyRetention(45, 2001), 11);
  t.is(await store.applyRetention(45, 3500), 21);
  t.is(await store.applyRetention(45, 4001), 31);
  t.is(await store.applyRetention(45, 1e9), 41, 'the active segment stays');
  t.is(await store.applyRetention(45, 1e9), 41);
});

test('the log start stays well described after retention, across a reopen', async (t) => {
  const dir = await tempDir(t);
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes: SEGMENT_BYTES,
    retentionBytes: 1,
    fsync: 'always',
  });
  await store.open();
  await store.write(null, [
    ...makeEntries(1, 20, { epoch: 1 }),
    ...makeEntries(21, 35, { epoch: 3 }),
  ]);
  const hashBefore = store.chainHash(30);
  t.is(await store.applyRetention(35, 0), 31);
  t.is(store.chainHash(30), hashBefore);
  await store.close();

  const reopened = new SegmentedLogStore({ recordEntries: 1, dir, segmentBytes: SEGMENT_BYTES });
  const recovered = await reopened.open();
  t.teardown(() => reopened.close());
  t.is(recovered.firstSeq, 31);
  t.is(recovered.lastSeq, 35);
  t.is(recovered.epochBeforeFirst, 3);
  t.deepEqual(recovered.epochStarts, [{ epoch: 3, startSeq: 31 }]);
  t.is(reopened.chainHash(30), hashBefore);
  t.deepEqual(recovered.recentEntries, makeEntries(31, 35, { epoch: 3 }));
});
