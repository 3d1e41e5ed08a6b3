import { rmSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import {
  AdminClient,
  type Message,
  type PublishAck,
  Publisher,
  Subscriber,
} from '../../clients/index.js';
import { collect, eventually, startCluster } from '../helpers/cluster.js';
import { publishUnderLoad } from '../helpers/load.js';
import { runOrdo } from '../helpers/ordo-cli.js';
import { checkStreams } from '../helpers/stream-checks.js';

test('under load, a fourth node joins and catches up, then one of the original three is removed: streams identical, nothing acknowledged lost', async (t) => {
  const cluster = await startCluster(t, { fsync: 'interval' });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  const acks: PublishAck[] = [];
  const load = publishUnderLoad(publisher, acks, 'members', 3);
  await eventually(async () => acks.length >= 100, 20_000, '100 acknowledged publishes');

  // The new node is in the config file (its address) and joins: it is not a member yet.
  const n4 = await cluster.addNodeToConfig('n4');
  await cluster.startNode('n4', ['--join']);
  const brokers = cluster.clientEndpoints.join(',');
  const added = await runOrdo(
    ['members', 'add', 'n4', '--config', cluster.configPath, '--brokers', brokers, '--json'],
    60_000,
  );
  t.is(added.code, 0, added.stderr);
  t.deepEqual(membersIn(added.stdout), [
    ['n1', true],
    ['n2', true],
    ['n3', true],
    ['n4', true],
  ]);

  // Remove n1; if it is the sequencer it hands its role over first.
  const removed = await runOrdo(['members', 'remove', 'n1', '--brokers', brokers], 60_000);
  t.is(removed.code, 0, removed.stderr);
  t.regex(removed.stdout, /n1 was removed/);
  await cluster.signalNode('n1', 'SIGTERM');
  await eventually(async () => acks.length >= 250, 30_000, '250 acknowledged publishes');
  await load.stop();

  const listed = await runOrdo(
    ['members', 'list', '--brokers', cluster.clientEndpoints.slice(1).join(','), '--json'],
    20_000,
  );
  t.is(listed.code, 0, listed.stderr);
  const list = JSON.parse(listed.stdout) as { members: { id: string }[]; leaderId: string };
  t.deepEqual(
    list.members.map((m) => m.id),
    ['n2', 'n3', 'n4'],
  );
  t.not(list.leaderId, 'n1');

  const lastAckedSeq = Math.max(...acks.map((a) => a.seq));
  const streams: Message[][] = [];
  for (const endpoint of [n4.clientEndpoint, cluster.node('n2').clientEndpoint]) {
    const subscriber = new Subscriber({ brokers: [endpoint], fromSeq: 1, includeControl: true });
    t.teardown(() => subscriber.close());
    streams.push(await collect(subscriber, (m) => m.at(-1)!.seq >= lastAckedSeq, 30_000));
  }
  checkStreams(t, streams, acks);
  t.true(streams[0]!.some((m) => m.kind === 'membership'));
  t.true(acks.length >= 250);
});

test('a node started with an empty folder under the id of a voter is refused with the fix named; members replace brings in a new node instead', async (t) => {
  const cluster = await startCluster(t, { fsync: 'interval' });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  const acks: PublishAck[] = [];
  for (let i = 0; i < 50; i++) acks.push(await publisher.publish('replace', `before-${i}`));

  // n3's disk dies: its folder is gone, and it comes back empty under its old id.
  await cluster.signalNode('n3', 'SIGKILL');
  rmSync(join(cluster.dataDir, 'n3'), { recursive: true, force: true });
  const refused = await cluster.startNode('n3').then(
    () => null,
    (error: Error) => error,
  );
  t.truthy(refused, 'n3 started with an empty folder');
  t.regex(refused!.message, /n3 refuses to start: its data folder/);
  t.regex(refused!.message, /ordo members replace n3 --with NEW/);

  // The documented fix: a new node joins and replaces n3.
  await cluster.addNodeToConfig('n5');
  await cluster.startNode('n5', ['--join']);
  const brokers = cluster.clientEndpoints.filter((e) => e !== cluster.node('n3').clientEndpoint);
  const replaced = await runOrdo(
    [
      'members',
      'replace',
      'n3',
      '--with',
      'n5',
      '--config',
      cluster.configPath,
      '--brokers',
      brokers.join(','),
      '--json',
    ],
    60_000,
  );
  t.is(replaced.code, 0, replaced.stderr);
  t.deepEqual(membersIn(replaced.stdout), [
    ['n1', true],
    ['n2', true],
    ['n5', true],
  ]);
  for (let i = 0; i < 50; i++) acks.push(await publisher.publish('replace', `after-${i}`));
  const lastAckedSeq = Math.max(...acks.map((a) => a.seq));
  const subscriber = new Subscriber({
    brokers: [cluster.node('n5').clientEndpoint],
    fromSeq: 1,
    includeControl: true,
  });
  t.teardown(() => subscriber.close());
  const stream = await collect(subscriber, (m) => m.at(-1)!.seq >= lastAckedSeq, 30_000);
  checkStreams(t, [stream], acks);
});

/** The members (id and whether a voter) in the last JSON line `ordo members … --json` printed. */
function membersIn(stdout: string): [string, boolean][] {
  const list = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    members: { id: string; voter: boolean }[];
  };
  return list.members.map((m) => [m.id, m.voter]);
}
