import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { FileMetaStore } from '../../src/storage/file-meta-store.js';
import { CorruptMetaError, InvalidHardStateError } from '../../src/storage/storage-errors.js';
import { tempDir } from './helpers.js';

test('a fresh node loads the initial hard state from a missing file', async (t) => {
  const dir = await tempDir(t);
  const meta = new FileMetaStore({ dir: join(dir, 'not-yet-created') });
  t.deepEqual(await meta.load(), { epoch: 0, votedFor: null, commitSeq: 0 });
  await meta.close();
});

test('save then load round-trips, across instances, and the last save wins', async (t) => {
  const dir = await tempDir(t);
  const meta = new FileMetaStore({ dir });
  await meta.save({ epoch: 3, votedFor: 'node-b', commitSeq: 41 });
  t.deepEqual(await meta.load(), { epoch: 3, votedFor: 'node-b', commitSeq: 41 });
  await Promise.all([
    meta.save({ epoch: 4, votedFor: null, commitSeq: 50 }),
    meta.save({ epoch: 5, votedFor: 'nödé-ç', commitSeq: 60 }),
  ]);
  await meta.close();
  const again = new FileMetaStore({ dir });
  t.deepEqual(await again.load(), { epoch: 5, votedFor: 'nödé-ç', commitSeq: 60 });
  t.deepEqual(await readdir(dir), ['meta.json']);
  await again.close();
});

test('a temp file left by a crash during save is ignored and removed', async (t) => {
  const dir = await tempDir(t);
  const meta = new FileMetaStore({ dir });
  await meta.save({ epoch: 2, votedFor: 'a', commitSeq: 7 });
  await meta.close();
  // The crash came after part of the next state reached the temp file, before the rename.
  await writeFile(join(dir, 'meta.json.tmp'), '{"version":1,"epoch":9,"vot');
  const after = new FileMetaStore({ dir });
  t.deepEqual(await after.load(), { epoch: 2, votedFor: 'a', commitSeq: 7 });
  t.deepEqual(await readdir(dir), ['meta.json']);
  await after.close();

  // Also before the first save ever completed.
  const fresh = await tempDir(t);
  await writeFile(join(fresh, 'meta.json.tmp'), 'partial');
  t.deepEqual(await new FileMetaStore({ dir: fresh }).load(), {
    epoch: 0,
    votedFor: null,
    commitSeq: 0,
  });
});

test('a damaged file is reported with a clear error, never taken as a fresh start', async (t) => {
  const dir = await tempDir(t);
  const meta = new FileMetaStore({ dir });
  await meta.save({ epoch: 12, votedFor: 'c', commitSeq: 99 });
  const path = join(dir, 'meta.json');
  const good = await readFile(path, 'utf8');
  for (const [content, reason] of [
    [good.replace('"epoch":12', '"epoch":13'), /CRC32C mismatch/],
    [good.slice(0, 20), /not valid JSON/],
    ['', /not valid JSON/],
    ['[]', /unknown format version/],
    [good.replace('"commitSeq":99', '"commitSeq":-1'), /out of range/],
  ] as const) {
    await writeFile(path, content);
    const error = await t.throwsAsync(new FileMetaStore({ dir }).load(), {
      instanceOf: CorruptMetaError,
    });
    t.regex(error?.message ?? '', reason);
    t.is(error?.file, path);
    t.false(error?.retriable);
  }
});

test('a hard state that cannot be right is refused before anything is written', async (t) => {
  const dir = await tempDir(t);
  const meta = new FileMetaStore({ dir });
  await t.throwsAsync(meta.save({ epoch: -1, votedFor: null, commitSeq: 0 }), {
    instanceOf: InvalidHardStateError,
  });
  await t.throwsAsync(meta.save({ epoch: 1, votedFor: 7 as unknown as string, commitSeq: 0 }), {
    instanceOf: InvalidHardStateError,
  });
  t.deepEqual(await readdir(dir), []);
});
