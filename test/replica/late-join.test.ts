import test from 'ava';
import { eventually, startCluster } from '../helpers/cluster.js';
import { startTestReplica, testAdmin, testPublisher } from './replica-fixtures.js';
import { ledgerWorkload, publishBatch } from './workloads.js';

/** Nodes keep only this many entries, so the log prefix a new replica needs is soon gone. */
const retainedEntries = 100;

test('a replica joining after retention dropped the log prefix starts from a shared snapshot', async (t) => {
  const cluster = await startCluster(t, { configOverrides: { memoryLogEntries: retainedEntries } });
  const brokers = cluster.clientEndpoints;
  const admin = testAdmin(t, brokers);
  const publisher = testPublisher(t, brokers);
  const workload = ledgerWorkload(4);
  const settings = { digestIntervalSeqs: 50, snapshotEveryMessages: 40, reportIntervalMs: 200 };
  const common = { brokers, plugin: workload.plugin, stateMachine: workload.factory, ...settings };
  const a = await startTestReplica(t, { ...common, replicaId: 'ledger-a' });
  const b = await startTestReplica(t, { ...common, replicaId: 'ledger-b' });

  let lastSeq = 0;
  for (let batch = 0; batch < 6; batch++) lastSeq = await publishBatch(publisher, workload, 100);
  await a.replica.whenApplied(lastSeq, 20_000);
  await b.replica.whenApplied(lastSeq, 20_000);
  // Retention runs on a timer: wait until every node dropped seq 1.
  await eventually(
    async () => (await admin.statusAll()).every((s) => s.status !== null && s.status.firstSeq > 1),
    10_000,
    'retention to drop the start of the log on every node',
    50,
  );

  const late = await startTestReplica(t, { ...common, replicaId: 'ledger-late' });
  await late.replica.whenApplied(lastSeq, 20_000);
  const restored = late.events.filter((e) => e.type === 'restored');
  t.is(restored[0]?.type === 'restored' ? restored[0].source : null, 'empty');
  const fromBroker = restored.find((e) => e.type === 'restored' && e.source === 'broker');
  if (fromBroker?.type !== 'restored')
    return t.fail('the late replica did not restore a shared snapshot');
  t.true(fromBroker.seq > 1);
  t.true(late.logger.lines.some((l) => l.includes('no longer in the log')));

  // It holds what the others hold and its invariant is intact.
  t.deepEqual(late.replica.currentDigest(), a.replica.currentDigest());
  workload.check(t, late.replica);
  // It saved the shared snapshot, so a restart does not need the brokers' copy again.
  t.true(
    late.events.some((e) => e.type === 'snapshot' && e.seq === fromBroker.seq),
    JSON.stringify(late.events),
  );

  // Publishing goes on: all three keep agreeing, at the end and at every agreed seq.
  lastSeq = await publishBatch(publisher, workload, 100);
  for (const r of [a, b, late]) await r.replica.whenApplied(lastSeq, 20_000);
  t.deepEqual(late.replica.currentDigest(), a.replica.currentDigest());
  t.deepEqual(b.replica.currentDigest(), a.replica.currentDigest());
  // It took no digest of the seqs before the snapshot, whose states it never
  // held: its first is at the first agreed seq from the restored one on.
  const firstAgreedSeq =
    Math.ceil(fromBroker.seq / settings.digestIntervalSeqs) * settings.digestIntervalSeqs;
  t.is(late.replica.digests[0]?.seq, firstAgreedSeq, JSON.stringify(late.replica.digests));
  const theirs = new Map(a.replica.digests.map((d) => [d.seq, d.digest]));
  const compared = late.replica.digests.filter((d) => theirs.has(d.seq));
  t.true(compared.length >= 1);
  for (const d of compared) t.is(d.digest, theirs.get(d.seq)!);
});
