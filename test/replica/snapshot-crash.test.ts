import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { Publisher } from '../../clients/publisher.js';
import { startCluster } from '../helpers/cluster.js';
import {
  commonDigestSeqs,
  startTestReplica,
  tempDir,
  testAdmin,
  testPublisher,
  waitForReportedSeq,
} from './replica-fixtures.js';
import { examplePluginPath, type ProcessEvent, ReplicaProcess } from './replica-process.js';
import { kvWorkload, publishBatch, type Workload } from './workloads.js';

const snapshotName = (seq: number) => `snapshot-${String(seq).padStart(16, '0')}.snap`;

/** Publishes batches of 50 until `done()` holds, at most `maxBatches` of them; resolves with the last seq. */
async function publishUntil(
  publisher: Publisher,
  workload: Workload,
  done: () => boolean,
  maxBatches: number,
): Promise<number> {
  let lastSeq = 0;
  for (let batch = 0; batch < maxBatches && !done(); batch++)
    lastSeq = await publishBatch(publisher, workload, 50);
  return lastSeq;
}

test('a replica killed mid-snapshot restarts from the previous good snapshot', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const admin = testAdmin(t, brokers);
  const publisher = testPublisher(t, brokers);
  const workload = kvWorkload(5);
  const reference = await startTestReplica(t, {
    brokers,
    plugin: workload.plugin,
    stateMachine: workload.factory,
    replicaId: 'kv-reference',
    digestIntervalSeqs: 50,
  });
  const dataDir = tempDir(t, 'kv-crash');
  const snapshotsDir = join(dataDir, 'snapshots');
  const options = {
    brokers,
    plugin: examplePluginPath('kv-store'),
    dataDir,
    id: 'kv-crash',
    args: ['--snapshot-every', '100', '--digest-every', '50', '--report-interval-ms', '200'],
  };
  const digestsSeen: ProcessEvent[] = [];
  const halted = (c: ReplicaProcess) => c.events.some((e) => e.event === 'test-halted');

  // Life 1: the third save tears its file under the final name (as if the rename
  // reached the disk before the data) and hangs there; then the process is killed.
  let c = await ReplicaProcess.start(t, {
    ...options,
    env: { ORDO_TEST_REPLICA_FAULTS: 'halt-in-snapshot=3:final' },
  });
  await publishUntil(publisher, workload, () => halted(c), 40);
  const tornSeq = (await c.waitFor((e) => e.event === 'test-halted', 10_000, 'the torn save'))[
    'seq'
  ] as number;
  const goodSeqs = c.events.filter((e) => e.event === 'snapshot').map((e) => e['seq'] as number);
  t.is(goodSeqs.length, 2);
  const previousGood = goodSeqs[1]!;
  await c.kill('SIGKILL');
  digestsSeen.push(...c.events);
  t.true(
    existsSync(join(snapshotsDir, snapshotName(tornSeq))),
    'the torn snapshot is there under its final name',
  );

  // Life 2: the torn file fails its checksum, is set aside, and the previous good
  // snapshot is restored. This time the first save is torn in its temporary file.
  c = await ReplicaProcess.start(t, {
    ...options,
    env: { ORDO_TEST_REPLICA_FAULTS: 'halt-in-snapshot=1:temp' },
  });
  const skipped = await c.waitFor(
    (e) => e.event === 'snapshot-skipped',
    1000,
    'the torn snapshot to be skipped',
  );
  t.true((skipped['file'] as string).endsWith(snapshotName(tornSeq)));
  t.regex(skipped['reason'] as string, /checksum/);
  t.is((await c.waitFor((e) => e.event === 'restored', 1000, 'the restore'))['seq'], previousGood);
  t.true(existsSync(join(snapshotsDir, `${snapshotName(tornSeq)}.damaged`)));
  await publishUntil(publisher, workload, () => halted(c), 40);
  await c.waitFor((e) => e.event === 'test-halted', 10_000, 'the second torn save');
  await c.kill('SIGKILL');
  digestsSeen.push(...c.events);
  t.true(
    readdirSync(snapshotsDir).some((name) => name.endsWith('.tmp')),
    'the half-written temporary file is left behind',
  );

  // Life 3: no fault. The temporary file never was a snapshot: the previous good one is restored again.
  c = await ReplicaProcess.start(t, options);
  t.is((await c.waitFor((e) => e.event === 'restored', 1000, 'the restore'))['seq'], previousGood);
  t.false(c.events.some((e) => e.event === 'snapshot-skipped'));
  t.false(readdirSync(snapshotsDir).some((name) => name.endsWith('.tmp')));
  const lastSeq = await publishBatch(publisher, workload, 100);
  await reference.replica.whenApplied(lastSeq, 20_000);
  await waitForReportedSeq(admin, 'kv-crash', lastSeq, 20_000);
  await c.kill('SIGTERM');
  digestsSeen.push(...c.events);
  const stopped = await c.waitFor((e) => e.event === 'stopped', 100, 'the last state');
  t.deepEqual(
    { seq: stopped['seq'], digest: stopped['digest'] },
    reference.replica.currentDigest(),
  );
  const digests = digestsSeen
    .filter((e) => e.event === 'digest')
    .map((e) => ({ seq: e['seq'] as number, digest: e['digest'] as string }));
  t.true(commonDigestSeqs(t, reference.replica.digests, digests) >= Math.floor(lastSeq / 50));
});
