import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { digestOf } from '../../clients/replica/digest.js';
import { SnapshotError } from '../../clients/replica/replica-errors.js';
import {
  decodeSnapshotFile,
  encodeSnapshotFile,
  type SnapshotRecord,
} from '../../clients/replica/snapshot-file.js';
import { SnapshotStore } from '../../clients/replica/snapshot-store.js';
import { tempDir } from './replica-fixtures.js';

function record(seq: number, text = `state at ${seq}`): SnapshotRecord {
  const data = new TextEncoder().encode(text);
  return { plugin: 'app', seq, digest: digestOf(data), data };
}

const names = (dir: string) => readdirSync(dir).sort();
const fileOf = (seq: number) => `snapshot-${String(seq).padStart(16, '0')}.snap`;

test('a snapshot file round-trips and any damage to it is detected', (t) => {
  const bytes = encodeSnapshotFile(record(42));
  t.deepEqual(decodeSnapshotFile(bytes), { ...record(42), data: Buffer.from(record(42).data) });
  const torn = bytes.subarray(0, bytes.length - 10);
  t.throws(() => decodeSnapshotFile(torn), { instanceOf: SnapshotError, message: /checksum/ });
  const flipped = Buffer.from(bytes);
  flipped[30] = (flipped[30] ?? 0) ^ 1;
  t.throws(() => decodeSnapshotFile(flipped), { instanceOf: SnapshotError });
  t.throws(
    () =>
      decodeSnapshotFile(Buffer.from('not a snapshot at all, but long enough to be read as one')),
    {
      instanceOf: SnapshotError,
      message: /magic/,
    },
  );
});

test('the store keeps the newest snapshot and the previous good one', async (t) => {
  const dir = tempDir(t, 'snapshots');
  const store = await SnapshotStore.open(dir);
  t.is(store.latest, null);
  for (const seq of [10, 20, 30, 40]) await store.save(record(seq));
  t.deepEqual(names(dir), [fileOf(30), fileOf(40)]);
  const reopened = await SnapshotStore.open(dir);
  t.is(reopened.latest?.seq, 40);
  t.is(new TextDecoder().decode(reopened.latest!.data), 'state at 40');
  t.deepEqual(reopened.skipped, []);
});

test('a torn newest snapshot is skipped and set aside, and the previous good one is used', async (t) => {
  const dir = tempDir(t, 'snapshots');
  const store = await SnapshotStore.open(dir);
  await store.save(record(10));
  await store.save(record(20));
  const newest = join(dir, fileOf(20));
  const bytes = readFileSync(newest);
  writeFileSync(newest, bytes.subarray(0, bytes.length >> 1));
  writeFileSync(join(dir, `${fileOf(30)}.tmp`), 'half a save');
  const reopened = await SnapshotStore.open(dir);
  t.is(reopened.latest?.seq, 10);
  t.is(reopened.skipped.length, 1);
  t.regex(reopened.skipped[0]!.reason, /checksum/);
  t.deepEqual(names(dir), [fileOf(10), `${fileOf(20)}.damaged`]);
  // The next save prunes down to it and the previous good one again.
  await reopened.save(record(25));
  t.deepEqual(names(dir), [fileOf(10), `${fileOf(20)}.damaged`, fileOf(25)]);
});

test('a file whose name and header disagree on the seq is not trusted', async (t) => {
  const dir = tempDir(t, 'snapshots');
  writeFileSync(join(dir, fileOf(99)), encodeSnapshotFile(record(5)));
  const store = await SnapshotStore.open(dir);
  t.is(store.latest, null);
  t.regex(store.skipped[0]!.reason, /seq/);
});

test('a read-only store changes nothing on disk and refuses to save', async (t) => {
  const dir = tempDir(t, 'snapshots');
  const store = await SnapshotStore.open(dir);
  await store.save(record(10));
  writeFileSync(join(dir, fileOf(20)), 'torn');
  writeFileSync(join(dir, `${fileOf(30)}.tmp`), 'half');
  const before = names(dir);
  const readOnly = await SnapshotStore.open(dir, { readOnly: true });
  t.is(readOnly.latest?.seq, 10);
  t.deepEqual(names(dir), before);
  await t.throwsAsync(readOnly.save(record(40)), { instanceOf: SnapshotError });
  const missing = await SnapshotStore.open(join(dir, 'absent'), { readOnly: true });
  t.is(missing.latest, null);
});
