import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ReplicaDataDir } from '../../clients/replica/data-dir.js';
import { DataDirLockedError } from '../../clients/replica/replica-errors.js';
import { tempDir } from './replica-fixtures.js';

test('a data folder is used by one replica at a time and keeps its replica id', async (t) => {
  const dir = tempDir(t, 'data');
  const first = await ReplicaDataDir.open(dir, { idPrefix: 'app' });
  t.regex(first.replicaId, /^app-[0-9a-f]{8}$/);
  await t.throwsAsync(ReplicaDataDir.open(dir, { idPrefix: 'app' }), {
    instanceOf: DataDirLockedError,
  });
  // A read-only user (a query) takes no lock.
  const reader = await ReplicaDataDir.open(dir, { idPrefix: 'app', readOnly: true });
  await reader.close();
  await first.close();
  const second = await ReplicaDataDir.open(dir, { idPrefix: 'app' });
  t.is(second.replicaId, first.replicaId);
  await second.close();
});

test('a lock left by a process that no longer runs is taken over', async (t) => {
  const dir = tempDir(t, 'data');
  // Pids are below 2^22 on Linux: this one cannot be running.
  writeFileSync(join(dir, 'replica.lock'), '99999999\n');
  const taken = await ReplicaDataDir.open(dir, { idPrefix: 'app', replicaId: 'named' });
  t.is(taken.replicaId, 'named');
  await taken.close();
});
