import test from 'ava';
import { formatStatus } from '../../src/cli/status-command.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import createRandomCounter, { pluginName as randomPlugin } from './random-plugin.js';
import { replicaStatuses, startTestReplica, testAdmin, testPublisher } from './replica-fixtures.js';
import { kvWorkload, publishBatch } from './workloads.js';

const fast = { digestIntervalSeqs: 10, reportIntervalMs: 100, divergenceCheckIntervalMs: 200 };

test('a plugin that reads Math.random in apply is reported as diverged at the first agreed seq', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const admin = testAdmin(t, brokers);
  const publisher = testPublisher(t, brokers);
  const random = await Promise.all(
    [1, 2, 3].map((i) =>
      startTestReplica(t, {
        brokers,
        plugin: randomPlugin,
        stateMachine: createRandomCounter,
        replicaId: `random-${i}`,
        ...fast,
      }),
    ),
  );
  // Deterministic replicas beside them, with the same settings, must stay unflagged.
  const workload = kvWorkload(3);
  const kv = await Promise.all(
    [1, 2].map((i) =>
      startTestReplica(t, {
        brokers,
        plugin: workload.plugin,
        stateMachine: workload.factory,
        replicaId: `kv-${i}`,
        ...fast,
      }),
    ),
  );
  const lastSeq = await publishBatch(publisher, workload, 40);
  for (const r of [...random, ...kv]) await r.replica.whenApplied(lastSeq, 10_000);

  // The brokers compare digests: every random replica is flagged, at seq 10, the first agreed seq.
  const flagged = await eventually(
    async () => {
      const statuses = (await replicaStatuses(admin)).filter(
        (r) => r.plugin === randomPlugin && r.diverged,
      );
      return new Set(statuses.map((r) => r.replicaId)).size === 3 ? statuses : null;
    },
    10_000,
    'every random replica to be flagged diverged',
    50,
  );
  for (const status of flagged) t.is(status.divergedAtSeq, 10);
  const all = await admin.statusAll();
  t.regex(formatStatus(all), /replica random-1 \(random-counter\).*DIVERGED at seq 10/);

  // Each random replica learns it too and says so in its log.
  for (const r of random) {
    await eventually(
      async () => r.replica.diverged,
      10_000,
      `${r.replica.replicaId} to learn it diverged`,
      50,
    );
    t.is(r.replica.diverged?.atSeq, 10);
    t.true(r.events.some((e) => e.type === 'diverged' && e.atSeq === 10));
    t.true(r.logger.lines.some((line) => line.startsWith('error') && line.includes('DIVERGED')));
  }

  // The deterministic replicas compared equal at the same seqs and stay clean.
  const kvStatuses = (await replicaStatuses(admin)).filter((r) => r.plugin === workload.plugin);
  t.true(kvStatuses.length >= 2);
  t.false(kvStatuses.some((r) => r.diverged));
  t.deepEqual(kv[0]!.replica.digests, kv[1]!.replica.digests);
  t.true(kv[0]!.replica.digests.length >= Math.floor(lastSeq / 10));
  for (const r of kv) t.is(r.replica.diverged, null);
});
