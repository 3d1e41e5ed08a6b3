import test from 'ava';
import { AdminClient } from '../../clients/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { runOrdo } from '../helpers/ordo-cli.js';
import createRandomCounter, { pluginName as randomPlugin } from '../replica/random-plugin.js';
import { startTestReplica, testAdmin, testPublisher } from '../replica/replica-fixtures.js';
import { kvWorkload, publishBatch } from '../replica/workloads.js';

/** A predicate evaluated in the page: the page names `id` as the sequencer. */
const sequencerIs = (id: string) =>
  `document.getElementById('sequencer')?.textContent === ${JSON.stringify(id)}`;

test('the status page in headless Chromium names the sequencer, and the new one after ordo transfer-leader', async (t) => {
  const cluster = await startCluster(t);
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const leader = await eventually(() => admin.findLeader(), 10_000, 'a sequencer');

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  // A follower serves the page too: the view is the cluster's, not one node's.
  const viewer = cluster.nodes.find((n) => n.id !== leader.id)!;
  await page.goto(`${viewer.httpUrl}/`);
  t.is(await page.title(), 'Ordo cluster status');
  await page.waitForFunction(sequencerIs(leader.id), undefined, { timeout: 15_000 });
  t.is(await page.textContent('#health'), 'healthy');
  t.is(await page.locator('#nodes tbody tr').count(), 3);
  t.is(await page.locator('#nodes tbody tr.leader td').first().textContent(), leader.id);
  t.is(await page.locator('#followers tbody tr').count(), 2);

  const target = cluster.nodes.find((n) => n.id !== leader.id)!.id;
  const transfer = await runOrdo([
    'transfer-leader',
    '--brokers',
    cluster.clientEndpoints.join(','),
    '--to',
    target,
  ]);
  t.is(transfer.code, 0, transfer.stderr);
  // The page updates by itself: no reload.
  await page.waitForFunction(sequencerIs(target), undefined, { timeout: 15_000 });
  const epoch = Number(await page.textContent('#epoch'));
  t.true(epoch > leader.epoch, `the epoch moved on (${epoch} > ${leader.epoch})`);
  t.is(await page.locator('#nodes tbody tr.leader td').first().textContent(), target);
  if (process.env['ORDO_SCREENSHOT'] !== undefined)
    await page.screenshot({ path: process.env['ORDO_SCREENSHOT'], fullPage: true });
});

test('the status page marks a diverged replica and shows the digests; ordo status calls the cluster degraded', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const admin = testAdmin(t, brokers);
  await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
  const fast = { digestIntervalSeqs: 10, reportIntervalMs: 100, divergenceCheckIntervalMs: 200 };
  const workload = kvWorkload(3);
  const replicas = await Promise.all([
    ...[1, 2].map((i) =>
      startTestReplica(t, {
        brokers,
        plugin: randomPlugin,
        stateMachine: createRandomCounter,
        replicaId: `random-${i}`,
        ...fast,
      }),
    ),
    startTestReplica(t, {
      brokers,
      plugin: workload.plugin,
      stateMachine: workload.factory,
      replicaId: 'kv-1',
      ...fast,
    }),
  ]);
  const lastSeq = await publishBatch(testPublisher(t, brokers), workload, 30);
  for (const r of replicas) await r.replica.whenApplied(lastSeq, 10_000);

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${cluster.nodes[0]!.httpUrl}/`);
  const diverged = page.locator('#replicas tbody tr.diverged');
  await diverged.nth(1).waitFor({ timeout: 15_000 });
  t.is(await diverged.count(), 2);
  t.regex((await diverged.first().textContent()) ?? '', /random-1.*DIVERGED at seq 10/);
  const kv = page.locator('#replicas tbody tr[data-key="kv-1"]');
  t.regex((await kv.textContent()) ?? '', /kv-1.*[0-9a-f]{16}.*ok$/);
  t.is(await page.textContent('#health'), 'degraded');

  const status = await runOrdo(['status', '--brokers', brokers.join(','), '--json']);
  t.is(status.code, 2, 'a diverged replica: degraded');
  const report = JSON.parse(status.stdout) as { problems: string[] };
  t.true(
    report.problems.some((p) => /replica random-1 \(random-counter\) diverged at seq 10/.test(p)),
  );
});
