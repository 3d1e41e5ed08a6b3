import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { Publisher } from '../../clients/index.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { bigStateSeed } from './big-state-plugin.js';
import { tempDir, testAdmin, testPublisher } from './replica-fixtures.js';
import { type ProcessEvent, ReplicaProcess } from './replica-process.js';

const here = dirname(fileURLToPath(import.meta.url));
const pluginPath = join(here, 'big-state-plugin.js');
const stateBytes = 256 * 1024 * 1024;
const chunkBytes = 1024 * 1024;
/** The first life of the late joiner writes this many chunks, then halts and is killed. */
const chunksBeforeKill = 64;
/** Nodes keep only this many entries beyond what the retention rule holds. */
const retainedEntries = 100;
const digestEvery = 300;

async function publish(publisher: Publisher, from: number, count: number): Promise<number> {
  let lastSeq = 0;
  for (let i = from; i < from + count; i += 50) {
    const acks = await Promise.all(
      Array.from({ length: Math.min(50, from + count - i) }, (_, k) =>
        publisher.publish('big', Buffer.from(`message ${i + k}`)),
      ),
    );
    lastSeq = Math.max(lastSeq, ...acks.map((a) => a.seq));
  }
  return lastSeq;
}

const digestAt = (events: readonly ProcessEvent[], seq: number) =>
  events.find((e) => e.event === 'digest' && e['seq'] === seq)?.['digest'];

test('a 256 MiB snapshot reaches a late joiner whose log prefix is gone, through a download killed part way and resumed', async (t) => {
  t.timeout(300_000);
  const startedMs = Date.now();
  t.log(`state: ${stateBytes} bytes drawn from seed '${bigStateSeed}'`);
  // One node: every broker stores every snapshot (the replica uploads to each), so more
  // nodes only multiply the bytes this machine moves; the 3-node path is late-join.test.ts.
  const cluster = await startCluster(t, {
    nodes: 1,
    configOverrides: { memoryLogEntries: retainedEntries },
  });
  const brokers = cluster.clientEndpoints;
  const admin = testAdmin(t, brokers);
  const publisher = testPublisher(t, brokers);
  const args = [
    '--snapshot-every',
    '200',
    '--snapshot-interval-ms',
    '600000',
    '--digest-every',
    String(digestEvery),
    '--report-interval-ms',
    '200',
  ];
  const env = { ORDO_TEST_BIG_STATE_BYTES: String(stateBytes) };
  // Starting generates and digests the 256 MiB state: allow for a loaded machine.
  const common = { brokers, plugin: pluginPath, args, env, readyTimeoutMs: 60_000 };
  const a = await ReplicaProcess.start(t, { ...common, dataDir: tempDir(t, 'big-a'), id: 'big-a' });

  // 200 messages: one snapshot, uploaded chunk by chunk to every broker.
  await publish(publisher, 0, 200);
  const snapshot = await a.waitFor(
    (e) => e.event === 'snapshot' || e.event === 'snapshot-failed' || e.event === 'stopped',
    60_000,
    'the first snapshot',
  );
  if (snapshot.event !== 'snapshot') return t.fail(`no snapshot: ${JSON.stringify(snapshot)}`);
  const snapshotSeq = snapshot['seq'] as number;
  t.is(snapshot['bytes'], stateBytes);
  // The retention rule. The snapshot event comes seconds after seq 201 committed (the
  // save of 256 MiB), so retention (every second) had cut the log to its last 100 entries
  // without the rule; with it, each node keeps it whole until it stores the snapshot,
  // whose upload only starts now and takes seconds.
  for (const { status } of await admin.statusAll()) {
    t.true((status?.commitSeq ?? 0) > retainedEntries + 1);
    t.is(status?.firstSeq, 1, `${status?.id} keeps the log whole until it stores a snapshot`);
  }
  // And no node ever cuts it past the snapshot it stores.
  const firstSeqs = new Set<number>();
  const watchRetention = setInterval(() => {
    void admin.statusAll().then(
      (all) => {
        for (const s of all) if (s.status !== null) firstSeqs.add(s.status.firstSeq);
      },
      () => {},
    );
  }, 100);
  t.teardown(() => clearInterval(watchRetention));
  for (const endpoint of brokers)
    await a.waitFor(
      (e) =>
        e.event === 'snapshot-stored' && e['seq'] === snapshotSeq && e['endpoint'] === endpoint,
      60_000,
      `the snapshot stored on ${endpoint}`,
    );
  const uploadedMs = Date.now();

  // 150 more (no second snapshot): the log before the snapshot goes on every node
  // (the retention rule lets it go only because the snapshot covering it is stored there).
  const lastSeq = await publish(publisher, 200, 150);
  t.true(lastSeq >= digestEvery);
  await eventually(
    async () =>
      (await admin.statusAll()).every(
        (s) => s.status !== null && s.status.firstSeq === snapshotSeq + 1,
      ),
    10_000,
    `retention to drop the log up to the snapshot's seq ${snapshotSeq} on every node`,
    50,
  );
  await a.waitFor((e) => e.event === 'digest' && e['seq'] === digestEvery, 60_000, 'a digest');
  clearInterval(watchRetention);
  t.true(
    [...firstSeqs].every((seq) => seq <= snapshotSeq + 1),
    `log starts seen: ${[...firstSeqs].sort((x, y) => x - y).join(', ')}; none past ${snapshotSeq + 1}`,
  );

  // Life 1 of the late joiner: it downloads part of the snapshot, halts, and is killed.
  const lateDir = tempDir(t, 'big-late');
  let late = await ReplicaProcess.start(t, {
    ...common,
    dataDir: lateDir,
    id: 'big-late',
    env: { ...env, ORDO_TEST_REPLICA_FAULTS: `halt-in-download=${chunksBeforeKill}` },
  });
  const first = await late.waitFor(
    (e) => e.event === 'snapshot-download',
    60_000,
    'the download to start',
  );
  t.is(first['seq'], snapshotSeq);
  t.is(first['fromIndex'], 0);
  t.is(first['chunks'], stateBytes / chunkBytes);
  await late.waitFor((e) => e.event === 'test-halted', 60_000, 'the download to halt part way');
  await late.kill('SIGKILL');
  const partial = readdirSync(join(lateDir, 'snapshots')).filter((n) => n.endsWith('.part'));
  t.is(partial.length, 1, 'the partial download is on disk');
  t.true(statSync(join(lateDir, 'snapshots', partial[0]!)).size >= chunksBeforeKill * chunkBytes);

  // Life 2: it resumes from the chunks it holds, not from the start.
  late = await ReplicaProcess.start(t, { ...common, dataDir: lateDir, id: 'big-late' });
  const resumed = await late.waitFor(
    (e) => e.event === 'snapshot-download',
    60_000,
    'the download to resume',
  );
  t.is(resumed['seq'], snapshotSeq);
  t.true((resumed['fromIndex'] as number) > 0, `resumed at chunk ${resumed['fromIndex']}`);
  t.is(resumed['fromIndex'], chunksBeforeKill);
  const restored = await late.waitFor(
    (e) => e.event === 'restored' && e['source'] === 'broker',
    120_000,
    'the restore from the downloaded snapshot',
  );
  t.is(restored['seq'], snapshotSeq);
  t.is(restored['digest'], snapshot['digest']);
  t.false(late.events.some((e) => e.event === 'snapshot-chunk-refused'));
  t.false(
    existsSync(join(lateDir, 'snapshots', partial[0]!)),
    'the partial file became the snapshot',
  );

  // It applies on from the log and reaches the state the others hold.
  await late.waitFor((e) => e.event === 'digest' && e['seq'] === digestEvery, 60_000, 'a digest');
  t.is(digestAt(late.events, digestEvery), digestAt(a.events, digestEvery));
  t.log(
    `upload to ${brokers.length} brokers done ${uploadedMs - startedMs} ms in; whole test ${Date.now() - startedMs} ms`,
  );
});
