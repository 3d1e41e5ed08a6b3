import { open } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { FsyncPolicy } from '../../src/storage/fsync-policy.js';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { makeEntries, tempDir } from './helpers.js';

/** Counts write and fdatasync calls on every FileHandle while a test runs (the tests here run serially). */
async function countSyscalls(dir: string) {
  const probe = await open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as {
    write: (...args: unknown[]) => Promise<unknown>;
    datasync: () => Promise<void>;
  };
  await probe.close();
  const counts = { writes: 0, datasyncs: 0 };
  const { write, datasync } = proto;
  proto.write = function (this: unknown, ...args: unknown[]) {
    counts.writes++;
    return write.apply(this, args);
  };
  proto.datasync = function (this: unknown) {
    counts.datasyncs++;
    return datasync.apply(this);
  };
  const restore = () => {
    proto.write = write;
    proto.datasync = datasync;
  };
  return { counts, restore };
}

async function openWith(
  dir: string,
  fsync: FsyncPolicy,
  fsyncIntervalMs?: number,
): Promise<SegmentedLogStore> {
  const store = new SegmentedLogStore({
    dir,
    fsync,
    ...(fsyncIntervalMs ? { fsyncIntervalMs } : {}),
  });
  await store.open();
  return store;
}

test.serial(
  'fsync always: one write of many entries is one write syscall and one fdatasync',
  async (t) => {
    const dir = await tempDir(t);
    const store = await openWith(dir, 'always');
    const { counts, restore } = await countSyscalls(dir);
    t.teardown(restore);
    await store.write(null, makeEntries(1, 1024));
    t.deepEqual(counts, { writes: 1, datasyncs: 1 });
    await store.write(null, makeEntries(1025, 1025));
    t.deepEqual(counts, { writes: 2, datasyncs: 2 });
    await store.close();
  },
);

test.serial(
  'fsync always: concurrent writes coalesce into one batch with one fdatasync (group commit)',
  async (t) => {
    const dir = await tempDir(t);
    const store = await openWith(dir, 'always');
    const { counts, restore } = await countSyscalls(dir);
    t.teardown(restore);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 20; i++)
      writes.push(store.write(null, makeEntries(i * 10 + 1, i * 10 + 10)));
    await Promise.all(writes);
    // The first write starts the loop alone; the 19 queued behind it go out together.
    t.deepEqual(counts, { writes: 2, datasyncs: 2 });
    t.is((await store.read(1, 200, 1e9)).length, 200);
    await store.close();
  },
);

test.serial(
  'fsync interval: writes resolve without waiting, and syncs come at most once per interval',
  async (t) => {
    const dir = await tempDir(t);
    const store = await openWith(dir, 'interval', 50);
    const { counts, restore } = await countSyscalls(dir);
    t.teardown(restore);
    const started = performance.now();
    for (let i = 0; i < 30; i++) {
      await store.write(null, makeEntries(i + 1, i + 1));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const elapsedMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 120));
    t.is(counts.writes, 30);
    t.true(counts.datasyncs >= 1, 'the interval timer synced');
    t.true(
      counts.datasyncs <= Math.ceil(elapsedMs / 50) + 2,
      `${counts.datasyncs} syncs in ${elapsedMs} ms`,
    );
    const syncsBefore = counts.datasyncs;
    await new Promise((resolve) => setTimeout(resolve, 120));
    t.is(counts.datasyncs, syncsBefore, 'no sync while nothing is written');
    await store.close();
  },
);

test.serial('fsync never: no fdatasync on the write path', async (t) => {
  const dir = await tempDir(t);
  const store = await openWith(dir, 'never');
  const { counts, restore } = await countSyscalls(dir);
  t.teardown(restore);
  for (let i = 0; i < 10; i++) await store.write(null, makeEntries(i * 5 + 1, i * 5 + 5));
  await store.close();
  t.deepEqual(counts, { writes: 10, datasyncs: 0 });
});
