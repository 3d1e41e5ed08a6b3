import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { startCluster } from '../helpers/cluster.js';
import {
  commonDigestSeqs,
  replicaStatuses,
  startTestReplica,
  tempDir,
  testAdmin,
  testPublisher,
  waitForReportedSeq,
} from './replica-fixtures.js';
import {
  examplePluginPath,
  ordoBinPath,
  type ProcessEvent,
  ReplicaProcess,
} from './replica-process.js';
import { kvWorkload, ledgerWorkload, publishBatch, type Workload } from './workloads.js';

const run = promisify(execFile);
const digestEvery = 50;
const settings = {
  digestIntervalSeqs: digestEvery,
  snapshotEveryMessages: 100,
  reportIntervalMs: 200,
};
const processArgs = [
  '--digest-every',
  '50',
  '--snapshot-every',
  '100',
  '--report-interval-ms',
  '200',
];
const batchMessages = 300;

/**
 * Three replicas of an example (two in this process, one a real child
 * process) apply a workload while the sequencer is killed and the child
 * replica is killed with SIGKILL and restarted from its snapshot; they must
 * end with the same digest at every agreed seq and at the end, none flagged
 * diverged, and the app's invariant intact.
 */
async function survivesFailoverAndRestart(
  t: ExecutionContext,
  workload: Workload,
  query: unknown,
): Promise<void> {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const admin = testAdmin(t, brokers);
  const publisher = testPublisher(t, brokers);
  const common = { brokers, plugin: workload.plugin, stateMachine: workload.factory, ...settings };
  const a = await startTestReplica(t, { ...common, replicaId: `${workload.plugin}-a` });
  const b = await startTestReplica(t, { ...common, replicaId: `${workload.plugin}-b` });
  const cId = `${workload.plugin}-c`;
  const cOptions = {
    brokers,
    plugin: examplePluginPath(workload.plugin),
    dataDir: tempDir(t, cId),
    id: cId,
    args: processArgs,
  };
  let c = await ReplicaProcess.start(t, cOptions);

  await publishBatch(publisher, workload, batchMessages);
  const leader = await admin.findLeader();
  if (leader === null) return t.fail('no sequencer found');
  await cluster.signalNode(leader.id, 'SIGKILL');
  await publishBatch(publisher, workload, batchMessages);

  const snapshot = await c.waitFor((e) => e.event === 'snapshot', 20_000, `a snapshot by ${cId}`);
  await c.kill('SIGKILL');
  const firstLife: ProcessEvent[] = c.events;
  c = await ReplicaProcess.start(t, cOptions);
  const restored = await c.waitFor((e) => e.event === 'restored', 5000, `${cId} to restore`);
  t.is(restored['source'], 'local');
  t.true((restored['seq'] as number) >= (snapshot['seq'] as number));

  const lastSeq = await publishBatch(publisher, workload, batchMessages);
  await a.replica.whenApplied(lastSeq, 30_000);
  await b.replica.whenApplied(lastSeq, 30_000);
  await waitForReportedSeq(admin, cId, lastSeq, 30_000);
  await c.kill('SIGTERM');
  const stopped = await c.waitFor(
    (e) => e.event === 'stopped',
    100,
    `${cId} to report its last state`,
  );

  // The same state at the end...
  const final = a.replica.currentDigest();
  t.deepEqual(b.replica.currentDigest(), final);
  t.deepEqual({ seq: stopped['seq'], digest: stopped['digest'] }, final);
  // ... and at every agreed seq on the way, across the crash of c.
  const agreedSeqs = Array.from(
    { length: Math.floor(final.seq / digestEvery) },
    (_, i) => (i + 1) * digestEvery,
  );
  t.deepEqual(
    a.replica.digests.map((d) => d.seq),
    agreedSeqs,
  );
  t.is(commonDigestSeqs(t, a.replica.digests, b.replica.digests), agreedSeqs.length);
  const cDigests = [...firstLife, ...c.events]
    .filter((e) => e.event === 'digest')
    .map((e) => ({ seq: e['seq'] as number, digest: e['digest'] as string }));
  t.is(commonDigestSeqs(t, a.replica.digests, cDigests), agreedSeqs.length);

  workload.check(t, a.replica);
  t.is(a.replica.diverged, null);
  t.false(
    (await replicaStatuses(admin)).some((r) => r.diverged),
    'no broker flags a replica as diverged',
  );

  // `ordo replica --query` on c's folder answers from its snapshot plus the log, as a itself does;
  // with --linearizable it first takes a read index from the sequencer: the same answer.
  const queryWithCli = async (...extra: string[]) =>
    JSON.parse(
      (
        await run(process.execPath, [
          ordoBinPath,
          'replica',
          '--brokers',
          brokers.join(','),
          '--plugin',
          cOptions.plugin,
          '--data',
          cOptions.dataDir,
          '--query',
          JSON.stringify(query),
          ...extra,
        ])
      ).stdout,
    );
  t.deepEqual(await queryWithCli(), a.replica.query(query));
  t.deepEqual(await queryWithCli('--linearizable'), a.replica.query(query));
}

test('three kv-store replicas agree through a sequencer failover and a replica crash', async (t) => {
  await survivesFailoverAndRestart(t, kvWorkload(1), { op: 'scan', prefix: 'k', limit: 100 });
});

test('three ledger replicas agree through a sequencer failover and a replica crash, total unchanged', async (t) => {
  await survivesFailoverAndRestart(t, ledgerWorkload(2), { op: 'total' });
});
