import test from 'ava';
import { type FileSystem, type FsFile, nodeFileSystem } from '../../src/storage/file-system.js';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { StorageFailedError } from '../../src/storage/storage-errors.js';
import { makeEntries, tempDir } from './helpers.js';

/**
 * The real file system, with writes that fail while told to: a full disk
 * (ENOSPC) writes part of what it was given, then fails; an fsync can be
 * made to fail too.
 */
class FillableFileSystem {
  failWrites: 'ENOSPC' | 'EDQUOT' | null = null;
  failSyncs: 'ENOSPC' | null = null;
  failedWrites = 0;

  readonly fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path, mode) => this.wrap(await nodeFileSystem.open(path, mode)),
  };

  private wrap(file: FsFile): FsFile {
    return {
      read: (buf, offset, length, position) => file.read(buf, offset, length, position),
      write: async (buf, offset, length, position) => {
        if (this.failWrites === null) return file.write(buf, offset, length, position);
        this.failedWrites++;
        // Part of the buffer reaches the file before the device is full.
        if (length > 1) await file.write(buf, offset, Math.floor(length / 2), position);
        throw errno(this.failWrites, 'write');
      },
      truncate: (length) => file.truncate(length),
      sync: () => file.sync(),
      datasync: async () => {
        if (this.failSyncs !== null) throw errno(this.failSyncs, 'fdatasync');
        return file.datasync();
      },
      size: () => file.size(),
      close: () => file.close(),
    };
  }
}

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: no space left on device, ${syscall}`);
  error.code = code;
  error.syscall = syscall;
  return error;
}

/** A retry wait the test releases by hand. */
function manualWaits() {
  const waiting: (() => void)[] = [];
  return {
    wait: (_ms: number) => new Promise<void>((resolve) => waiting.push(resolve)),
    get count() {
      return waiting.length;
    },
    release: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++)
    await new Promise((resolve) => setTimeout(resolve, 2));
  if (!condition()) throw new Error('condition not met');
}

for (const code of ['ENOSPC', 'EDQUOT'] as const) {
  test(`a log write that fails with ${code} is not acknowledged, leaves the log whole, and is written once space returns`, async (t) => {
    const dir = await tempDir(t);
    const disk = new FillableFileSystem();
    const waits = manualWaits();
    const store = new SegmentedLogStore({
      dir,
      fs: disk.fs,
      fsync: 'always',
      segmentBytes: 4096,
      retryWait: waits.wait,
    });
    await store.open();
    await store.write(null, makeEntries(1, 10));

    disk.failWrites = code;
    let written = false;
    const write = store.write(null, makeEntries(11, 40)).then(() => {
      written = true;
    });
    await until(() => waits.count > 0);
    t.regex(store.writeProblem() ?? '', new RegExp(code));
    t.is(store.writeFailures(), 1);
    // Still full at the next attempt: still nothing resolved.
    waits.release();
    await until(() => waits.count > 0);
    t.false(written, 'a write that did not reach the disk is never resolved');
    t.true(disk.failedWrites >= 2);

    disk.failWrites = null;
    waits.release();
    await write;
    t.is(store.writeProblem(), null);
    t.deepEqual(
      (await store.read(1, 40, Number.MAX_SAFE_INTEGER)).map((e) => e.seq),
      makeEntries(1, 40).map((e) => e.seq),
    );
    await store.write(null, makeEntries(41, 45));
    const hash = store.chainHash();
    await store.close();

    // On disk: every entry once, in order, no damage, the same hash chain.
    const reopened = new SegmentedLogStore({ dir, fsync: 'always', segmentBytes: 4096 });
    const recovered = await reopened.open();
    t.teardown(() => reopened.close());
    t.is(recovered.firstSeq, 1);
    t.is(recovered.lastSeq, 45);
    t.deepEqual(reopened.damagedRanges(), []);
    const entries = await reopened.read(1, 45, Number.MAX_SAFE_INTEGER);
    t.deepEqual(
      entries.map((e) => Buffer.from(e.payload).toString('hex')),
      makeEntries(1, 45).map((e) => Buffer.from(e.payload).toString('hex')),
    );
    t.is(reopened.chainHash(), hash);
  });
}

test('a failed fsync is never retried, whatever its code: the store fails', async (t) => {
  const dir = await tempDir(t);
  const disk = new FillableFileSystem();
  const store = new SegmentedLogStore({ dir, fs: disk.fs, fsync: 'always' });
  await store.open();
  t.teardown(() => store.close());
  await store.write(null, makeEntries(1, 3));
  disk.failSyncs = 'ENOSPC';
  await t.throwsAsync(store.write(null, makeEntries(4, 5)), { instanceOf: StorageFailedError });
  t.is(store.writeFailures(), 0);
});

test('closing a store whose write waits for space gives the write up', async (t) => {
  const dir = await tempDir(t);
  const disk = new FillableFileSystem();
  const waits = manualWaits();
  const store = new SegmentedLogStore({ dir, fs: disk.fs, fsync: 'always', retryWait: waits.wait });
  await store.open();
  disk.failWrites = 'ENOSPC';
  const write = store.write(null, makeEntries(1, 5));
  await until(() => waits.count > 0);
  await store.close();
  await t.throwsAsync(write, { instanceOf: StorageFailedError });
});
