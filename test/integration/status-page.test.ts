import test from 'ava';
import { AdminClient } from '../../clients/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { runOrdo } from '../helpers/ordo-cli.js';

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
