import { readdir } from 'node:fs/promises';
import test from 'ava';
import { EntryKind } from '../../src/core/types.js';
import { LogRangeError } from '../../src/storage/log-store.js';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import {
  InvalidLogRequestError,
  LogStoreUnavailableError,
} from '../../src/storage/storage-errors.js';
import { makeEntries, makeEntry, openStore, recordBytes, tempDir } from './helpers.js';

/** Room for about ten 100-byte entries per segment. */
const SMALL_SEGMENT_BYTES = 64 + 10 * recordBytes(makeEntry(1));

test('a fresh store is empty, starts at seq 1 and hashes to zeros', async (t) => {
  const dir = await tempDir(t);
  const { store, recovered } = await openStore(t, dir);
  t.deepEqual(recovered, {
    firstSeq: 1,
    lastSeq: 0,
    epochBeforeFirst: 0,
    epochStarts: [],
    lastTimestampMs: 0,
    recentEntries: [],
  });
  t.is(store.chainHash(), '0'.repeat(16));
  t.deepEqual(await store.read(1, 10, 1e6), []);
});

test('appends are read back in order, across segments that roll by size and are named by first seq', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, { segmentBytes: SMALL_SEGMENT_BYTES });
  const entries = makeEntries(1, 95);
  for (let seq = 1; seq <= 95; seq += 7) await store.write(null, entries.slice(seq - 1, seq + 6));
  t.is(store.lastSeq(), 95);
  t.deepEqual(await store.read(1, 95, Number.POSITIVE_INFINITY), entries);
  t.deepEqual(await store.read(40, 44, Number.POSITIVE_INFINITY), entries.slice(39, 44));

  const { segments } = store.describe();
  t.is(segments.length, 10);
  t.deepEqual(
    segments.map((s) => [s.firstSeq, s.lastSeq]),
    Array.from({ length: 10 }, (_, i) => [i * 10 + 1, Math.min(95, i * 10 + 10)]),
  );
  for (const s of segments) t.true(s.bytes <= SMALL_SEGMENT_BYTES);
  const files = (await readdir(dir)).sort();
  t.true(files.includes('0000000000000001.log'));
  t.true(files.includes('0000000000000011.log'));
  // Closed segments get a sidecar index; the active one does not.
  t.true(files.includes('0000000000000001.idx'));
  t.false(files.includes('0000000000000091.idx'));
});

test('a record larger than the segment size gets a segment of its own', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, { segmentBytes: 1024 });
  const entries = [makeEntry(1), makeEntry(2, { payloadBytes: 5000 }), makeEntry(3)];
  await store.write(null, entries);
  t.deepEqual(await store.read(1, 3, Number.POSITIVE_INFINITY), entries);
  t.deepEqual(
    store.describe().segments.map((s) => [s.firstSeq, s.lastSeq]),
    [
      [1, 1],
      [2, 2],
      [3, 3],
    ],
  );
});

test('read stops at maxBytes of payload but always returns at least one entry', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir);
  await store.write(null, makeEntries(1, 20));
  t.is((await store.read(1, 20, 350)).length, 3);
  t.is((await store.read(1, 20, 0)).length, 1);
  t.is((await store.read(5, 4, 1000)).length, 0);
  t.is((await store.read(18, 100, 1e6)).length, 3);
});

test('reopening returns the same recovered log and chain hashes', async (t) => {
  const dir = await tempDir(t);
  const first = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes: SMALL_SEGMENT_BYTES,
    fsync: 'always',
  });
  await first.open();
  const entries = [
    ...makeEntries(1, 12, { epoch: 1 }),
    makeEntry(13, { epoch: 2, kind: EntryKind.epochStart, payloadBytes: 0 }),
    ...makeEntries(14, 30, { epoch: 2 }),
    ...makeEntries(31, 45, { epoch: 5 }),
  ];
  await first.write(null, entries.slice(0, 20));
  await first.write(null, entries.slice(20));
  const hashes = [0, 1, 12, 13, 29, 45].map((seq) => first.chainHash(seq));
  const lastHash = first.chainHash();
  await first.close();

  const second = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes: SMALL_SEGMENT_BYTES,
    recoveredEntries: 25,
  });
  const recovered = await second.open();
  t.teardown(() => second.close());
  t.deepEqual(recovered, {
    firstSeq: 1,
    lastSeq: 45,
    epochBeforeFirst: 0,
    epochStarts: [
      { epoch: 1, startSeq: 1 },
      { epoch: 2, startSeq: 13 },
      { epoch: 5, startSeq: 31 },
    ],
    lastTimestampMs: entries[44]!.timestampMs,
    recentEntries: entries.slice(20),
  });
  t.is(second.chainHash(), lastHash);
  t.deepEqual(
    [0, 1, 12, 13, 29, 45].map((seq) => second.chainHash(seq)),
    hashes,
  );
  t.is(second.recovery?.tornTail, null);
  t.is(second.recovery?.rebuiltIndexCount, 0);
  // Different content at the same seq gives a different hash.
  t.not(hashes[1], hashes[2]);
});

test('recent entries returned by open are bounded by count and by bytes', async (t) => {
  const dir = await tempDir(t);
  const writer = new SegmentedLogStore({ recordEntries: 1, dir, fsync: 'never' });
  await writer.open();
  await writer.write(null, makeEntries(1, 50));
  await writer.close();

  const byCount = new SegmentedLogStore({ recordEntries: 1, dir, recoveredEntries: 7 });
  t.deepEqual(
    (await byCount.open()).recentEntries.map((e) => e.seq),
    [44, 45, 46, 47, 48, 49, 50],
  );
  await byCount.close();
  const byBytes = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    recoveredBytes: 3 * recordBytes(makeEntry(1)),
  });
  t.deepEqual(
    (await byBytes.open()).recentEntries.map((e) => e.seq),
    [48, 49, 50],
  );
  await byBytes.close();
});

test('reads beyond the cache come from disk through the index, across segments', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, {
    segmentBytes: SMALL_SEGMENT_BYTES,
    cacheEntries: 5,
    indexCacheSegments: 2,
  });
  const entries = makeEntries(1, 100);
  await store.write(null, entries);
  // Only 96..100 are cached; everything else is read from the files.
  t.deepEqual(await store.read(1, 100, Number.POSITIVE_INFINITY), entries);
  t.deepEqual(await store.read(33, 71, Number.POSITIVE_INFINITY), entries.slice(32, 71));
  t.deepEqual(await store.read(3, 3, 0), [entries[2]]);
  t.deepEqual(
    (await store.read(90, 100, 550)).map((e) => e.seq),
    [90, 91, 92, 93, 94],
  );
  // Many readers far behind at once, with only two segment indexes held in memory.
  const reads = await Promise.all(
    [1, 11, 21, 31, 41, 51, 61, 71].map((from) =>
      store.read(from, from + 15, Number.POSITIVE_INFINITY),
    ),
  );
  for (const [i, got] of reads.entries()) t.deepEqual(got, entries.slice(i * 10, i * 10 + 16));
});

test('a read below the first seq throws LogRangeError naming the oldest seq', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, {
    segmentBytes: SMALL_SEGMENT_BYTES,
    retentionBytes: 1,
  });
  await store.write(null, makeEntries(1, 35));
  t.is(await store.applyRetention(35, Date.now()), 31);
  const error = await t.throwsAsync(store.read(5, 40, 1e6), { instanceOf: LogRangeError });
  t.is(error?.requestedSeq, 5);
  t.is(error?.firstAvailableSeq, 31);
  t.regex(error?.message ?? '', /oldest available seq is 31/);
  t.is((await store.read(31, 40, 1e6)).length, 5);
});

test('a write that would break the log is refused with a clear error and changes nothing', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir);
  await store.write(null, makeEntries(1, 5, { epoch: 2 }));
  const refused = async (promise: Promise<void>, pattern: RegExp) => {
    const error = await t.throwsAsync(promise, { instanceOf: InvalidLogRequestError });
    t.regex(error?.message ?? '', pattern);
    t.false(error?.retriable);
  };
  await refused(store.write(null, makeEntries(7, 8)), /contiguous: expected seq 6, got 7/);
  await refused(
    store.write(null, [makeEntry(6, { epoch: 2 }), makeEntry(8, { epoch: 2 })]),
    /expected seq 7, got 8/,
  );
  await refused(store.write(null, makeEntries(6, 6, { epoch: 1 })), /epoch 1 is older than 2/);
  await refused(store.write(null, [{ ...makeEntry(6, { epoch: 2 }), seq: 6.5 }]), /expected seq 6/);
  await refused(
    store.write(null, [{ ...makeEntry(6, { epoch: 2 }), kind: 9 as EntryKind }]),
    /unknown kind/,
  );
  await refused(
    store.write(null, [{ ...makeEntry(6, { epoch: 2 }), topic: 'x'.repeat(300) }]),
    /topic exceeds/,
  );
  await refused(
    store.write(null, [{ ...makeEntry(6, { epoch: 2 }), producerId: '\ud800' }]),
    /surrogate/,
  );
  await refused(
    store.write(null, [{ ...makeEntry(6, { epoch: 2 }), timestampMs: -1 }]),
    /timestampMs/,
  );
  await refused(
    store.write(null, [
      { ...makeEntry(6, { epoch: 2 }), payload: 'text' as unknown as Uint8Array },
    ]),
    /payload/,
  );
  await refused(store.write(-1, []), /truncateAfter/);
  await refused(store.read(Number.NaN, 3, 10) as unknown as Promise<void>, /fromSeq/);
  t.is(store.lastSeq(), 5);
  t.deepEqual(
    (await store.read(1, 10, 1e6)).map((e) => e.seq),
    [1, 2, 3, 4, 5],
  );
  await store.write(null, makeEntries(6, 6, { epoch: 2 }));
  t.is(store.lastSeq(), 6);
});

test('reads see entries as soon as write is called, before it resolves', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, { fsync: 'always' });
  const written = store.write(null, makeEntries(1, 3));
  t.is(store.lastSeq(), 3);
  t.deepEqual(
    (await store.read(1, 3, 1e6)).map((e) => e.seq),
    [1, 2, 3],
  );
  await written;
});

test('a batch larger than the cache is readable while its write is in flight', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(t, dir, { fsync: 'always', cacheEntries: 10 });
  const entries = makeEntries(1, 500);
  const written = store.write(null, entries);
  t.deepEqual(await store.read(1, 500, Number.POSITIVE_INFINITY), entries);
  await written;
});

test('a closed store refuses calls', async (t) => {
  const dir = await tempDir(t);
  const store = new SegmentedLogStore({ recordEntries: 1, dir });
  await store.open();
  await store.write(null, makeEntries(1, 2));
  await store.close();
  await t.throwsAsync(store.write(null, makeEntries(3, 3)), {
    instanceOf: LogStoreUnavailableError,
  });
  await t.throwsAsync(store.read(1, 2, 100), { instanceOf: LogStoreUnavailableError });
});

test('bad options are refused at construction', (t) => {
  t.throws(() => new SegmentedLogStore({ recordEntries: 1, dir: '/tmp/x', segmentBytes: 10 }), {
    instanceOf: RangeError,
  });
  t.throws(
    () => new SegmentedLogStore({ recordEntries: 1, dir: '/tmp/x', segmentBytes: 2 ** 31 }),
    {
      instanceOf: RangeError,
    },
  );
  t.throws(
    () => new SegmentedLogStore({ recordEntries: 1, dir: '/tmp/x', fsync: 'sometimes' as 'never' }),
    {
      instanceOf: TypeError,
    },
  );
});

test('two logs hash alike exactly as far as their entries agree', async (t) => {
  const stores: SegmentedLogStore[] = [];
  for (const variant of [0, 1]) {
    const { store } = await openStore(t, await tempDir(t), { segmentBytes: SMALL_SEGMENT_BYTES });
    const entries = makeEntries(1, 30).map((e) =>
      variant === 1 && e.seq === 17 ? { ...e, payload: new Uint8Array(100) } : e,
    );
    await store.write(null, entries);
    stores.push(store);
  }
  const [a, b] = stores as [SegmentedLogStore, SegmentedLogStore];
  for (let seq = 0; seq <= 30; seq++) {
    if (seq < 17) t.is(a.chainHash(seq), b.chainHash(seq), `seq ${seq}`);
    else t.not(a.chainHash(seq), b.chainHash(seq), `seq ${seq}`);
  }
});

test('opening the same files twice gives the same recovered log', async (t) => {
  const dir = await tempDir(t);
  const writer = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes: SMALL_SEGMENT_BYTES,
  });
  await writer.open();
  await writer.write(null, [
    ...makeEntries(1, 22, { epoch: 2 }),
    ...makeEntries(23, 27, { epoch: 4 }),
  ]);
  await writer.close();
  const opened: unknown[] = [];
  const hashes: string[] = [];
  for (let i = 0; i < 2; i++) {
    const store = new SegmentedLogStore({
      recordEntries: 1,
      dir,
      segmentBytes: SMALL_SEGMENT_BYTES,
    });
    opened.push(await store.open());
    hashes.push(store.chainHash());
    await store.close();
  }
  t.deepEqual(opened[0], opened[1]);
  t.is(hashes[0], hashes[1]);
});

test('reset forgets every entry, starts the log at the given seq and survives a reopen', async (t) => {
  const dir = await tempDir(t);
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes: SMALL_SEGMENT_BYTES,
    fsync: 'always',
  });
  await store.open();
  await store.write(null, makeEntries(1, 30, { epoch: 1 }));
  await store.reset(500, 3);
  t.is(store.firstSeq(), 500);
  t.is(store.lastSeq(), 499);
  await t.throwsAsync(store.read(10, 20, 1000), { instanceOf: LogRangeError });
  await store.write(null, makeEntries(500, 510, { epoch: 3 }));
  await store.close();

  const again = new SegmentedLogStore({ recordEntries: 1, dir, segmentBytes: SMALL_SEGMENT_BYTES });
  const recovered = await again.open();
  t.teardown(() => again.close());
  t.is(recovered.firstSeq, 500);
  t.is(recovered.lastSeq, 510);
  t.is(recovered.epochBeforeFirst, 3);
  t.deepEqual(
    (await again.read(500, 510, 1_000_000)).map((e) => e.seq),
    makeEntries(500, 510).map((e) => e.seq),
  );
  const files = (await readdir(dir)).filter((f) => f.endsWith('.log'));
  t.true(
    files.every((f) => Number.parseInt(f, 10) >= 500),
    `old segments must be gone: ${files.join(', ')}`,
  );
});

test('a reset may start inside the log: the entries from there on are dropped with the rest', async (t) => {
  const dir = await tempDir(t);
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes: SMALL_SEGMENT_BYTES,
    fsync: 'always',
  });
  await store.open();
  await store.write(null, makeEntries(1, 30, { epoch: 1 }));
  await store.reset(20, 1);
  t.is(store.firstSeq(), 20);
  t.is(store.lastSeq(), 19);
  await store.write(null, makeEntries(20, 25, { epoch: 2 }));
  await store.close();
  const again = new SegmentedLogStore({ recordEntries: 1, dir, segmentBytes: SMALL_SEGMENT_BYTES });
  const recovered = await again.open();
  t.teardown(() => again.close());
  t.like(recovered, { firstSeq: 20, lastSeq: 25, epochBeforeFirst: 1 });
  t.true((await again.read(20, 25, 1_000_000)).every((e) => e.epoch === 2));
});

test('retention by age keeps segments whose entries carry no log time (epoch starts before any message)', async (t) => {
  const dir = await tempDir(t);
  const store = new SegmentedLogStore({
    recordEntries: 1,
    dir,
    segmentBytes: SMALL_SEGMENT_BYTES,
    fsync: 'always',
    retentionBytes: null,
    retentionAgeMs: 1000,
  });
  await store.open();
  t.teardown(() => store.close());
  const untimed = makeEntries(1, 30, { epoch: 1 }).map((e) => ({ ...e, timestampMs: 0 }));
  await store.write(null, untimed);
  t.is(await store.applyRetention(30, 1_800_000_000_000), 1, 'nothing dropped for log time 0');
  const timed = makeEntries(31, 60, { epoch: 1 }).map((e) => ({ ...e, timestampMs: 5000 }));
  await store.write(null, timed);
  t.is(
    await store.applyRetention(60, 1_800_000_000_000),
    1,
    'the oldest segment still has no time',
  );
});
