import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import {
  AdminClient,
  type Message,
  type PublishAck,
  Publisher,
  Subscriber,
} from '../../clients/index.js';
import { LIMITS } from '../../src/limits.js';
import { collect, eventually, startCluster } from '../helpers/cluster.js';
import { publishUnderLoad } from '../helpers/load.js';
import { ordoBin, runOrdo } from '../helpers/ordo-cli.js';
import { checkStreams } from '../helpers/stream-checks.js';

/** Small segments, so that the witness has closed segments to drop within the test. */
const SEGMENT_BYTES = 16 * 1024;

test('2 data nodes + a witness under load: kill -9 of each member in turn leaves the cluster committing, nothing acknowledged is lost, the witness keeps only its tail', async (t) => {
  t.timeout(90_000);
  const cluster = await startCluster(t, {
    nodes: 3,
    witnesses: 1,
    fsync: 'interval',
    configOverrides: { segmentBytes: SEGMENT_BYTES },
  });
  const witness = cluster.node('n3');
  t.true(witness.witness);
  t.deepEqual(cluster.dataEndpoints, [
    cluster.node('n1').clientEndpoint,
    cluster.node('n2').clientEndpoint,
  ]);
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  await eventually(() => admin.findLeader(), 10_000, 'a sequencer');

  // The witness refuses subscribers, naming itself; a subscriber given only it fails with that.
  const refused = new Subscriber({ brokers: [witness.clientEndpoint], fromSeq: 1 });
  t.teardown(() => refused.close());
  const error = await collect(refused, () => true, 10_000).then(
    () => null,
    (e: Error) => e,
  );
  t.regex(error?.message ?? '', /n3 is a witness: .* serves no subscribers/);

  const publisher = new Publisher({ brokers: cluster.dataEndpoints });
  t.teardown(() => publisher.close());
  const acks: PublishAck[] = [];
  const load = publishUnderLoad(publisher, acks, 'witness');
  // The most entries the witness held at once (its log's first to last seq), sampled all along.
  let witnessMaxStored = 0;
  let witnessSamples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await admin.status(witness.clientEndpoint).catch(() => null);
      if (s !== null) {
        witnessSamples++;
        t.true(s.witness, 'n3 reports itself a witness');
        t.not(s.role, 'leader', 'the witness became sequencer');
        witnessMaxStored = Math.max(witnessMaxStored, s.lastSeq - s.firstSeq + 1);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();

  const grows = async (by: number, what: string) => {
    const target = acks.length + by;
    await eventually(async () => acks.length >= target, 20_000, what, 10);
  };
  await grows(200, '200 acknowledged publishes');
  for (const id of ['n1', 'n2', 'n3']) {
    await cluster.signalNode(id, 'SIGKILL');
    // Any single failure leaves the cluster committing.
    await grows(300, `300 publishes acknowledged with ${id} down`);
    await cluster.startNode(id);
    // Back in step before the next kill: the returning node holds what the others committed.
    const committed = Math.max(...acks.map((a) => a.seq));
    await eventually(
      async () => {
        const s = await admin.status(cluster.node(id).clientEndpoint).catch(() => null);
        return s !== null && s.commitSeq >= committed;
      },
      20_000,
      `${id} caught up to seq ${committed}`,
    );
    await grows(100, `100 publishes acknowledged after ${id} returned`);
  }
  await load.stop();
  sampling = false;
  await sampler;

  const lastAckedSeq = Math.max(...acks.map((a) => a.seq));
  // The witness dropped what both data nodes hold: its log starts well past seq 1.
  const final = await eventually(
    async () => {
      const s = await admin.status(witness.clientEndpoint);
      return s.firstSeq > lastAckedSeq / 2 ? s : null;
    },
    10_000,
    'the witness dropping the entries both data nodes hold',
  );
  t.true(final.witnessFloorSeq >= final.firstSeq - 1);
  const metrics = await (await fetch(`${witness.httpUrl}/metrics`)).text();
  t.regex(metrics, /^ordo_is_witness\{node="n3"\} 1$/m);
  const tail = Number(/^ordo_witness_tail_entries\{node="n3"\} (\d+)$/m.exec(metrics)?.[1]);
  t.true(tail >= 0 && tail <= LIMITS.witnessTailMaxEntries, `witness tail metric ${tail}`);
  t.true(witnessSamples > 10);
  const entriesPerSegment = Math.ceil(SEGMENT_BYTES / 40);
  t.true(
    witnessMaxStored <= LIMITS.witnessTailMaxEntries + entriesPerSegment,
    `the witness held ${witnessMaxStored} entries`,
  );
  t.log(
    `${acks.length} acknowledged, last seq ${lastAckedSeq}; witness held at most ${witnessMaxStored} entries, ends holding ${final.firstSeq}..${final.lastSeq}`,
  );

  const streams: Message[][] = [];
  for (const endpoint of cluster.dataEndpoints) {
    const subscriber = new Subscriber({ brokers: [endpoint], fromSeq: 1, includeControl: true });
    t.teardown(() => subscriber.close());
    streams.push(await collect(subscriber, (m) => m.at(-1)!.seq >= lastAckedSeq, 30_000));
  }
  checkStreams(t, streams, acks);
  t.true(acks.length >= 1400);
  // ordo verify compares the data nodes' logs, leaving the witness out.
  const verified = await runOrdo(['verify', '--brokers', cluster.clientEndpoints.join(',')]);
  t.is(verified.code, 0, verified.stdout + verified.stderr);
  t.regex(verified.stdout, /^nodes n1, n2 agree on seqs \d+\.\.\d+/);
});

test("'ordo dev --nodes 2 --witness' starts 2 data nodes and a witness, points clients at the data nodes, and 'ordo status' shows the witness", async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'ordo-dev-witness-'));
  t.teardown(() => rmSync(data, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    [ordoBin, 'dev', '--nodes', '2', '--witness', '--insecure', '--data', data],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    await exited;
  });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no banner within 30 s:\n${lines.join('\n')}`)),
      30_000,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('ordo status --brokers')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const banner = lines.join('\n');
  t.regex(banner, /2 nodes \+ 1 witness/);
  t.regex(banner, /^ {2}n3 \(witness\) {2}tcp:/m);
  const brokersOf = (command: string): string[] =>
    new RegExp(`ordo ${command} --brokers (\\S+)`).exec(banner)![1]!.split(',');
  const dataBrokers = brokersOf('publish');
  const allBrokers = brokersOf('status');
  t.is(dataBrokers.length, 2);
  t.is(allBrokers.length, 3);
  const published = await runOrdo([
    'publish',
    '--brokers',
    dataBrokers.join(','),
    '--topic',
    'greetings',
    'hello',
  ]);
  t.is(published.code, 0, published.stderr);
  const status = await runOrdo(['status', '--brokers', allBrokers.join(',')]);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /^n3\s+follower \(witness\)\s/m);
  t.regex(status.stdout, /cluster healthy/);
  child.kill('SIGINT');
  await exited;
});
