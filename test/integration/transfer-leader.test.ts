import test from 'ava';
import { AdminClient, type PublishAck, Publisher, Subscriber } from '../../clients/index.js';
import { collect, eventually, startCluster } from '../helpers/cluster.js';
import { checkStreams } from '../helpers/stream-checks.js';

test('a planned leadership transfer under publish load loses and fails no publish, and the target leads', async (t) => {
  const cluster = await startCluster(t);
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const first = await eventually(() => admin.findLeader(), 5000, 'a sequencer');
  const target = cluster.nodes.find((n) => n.id !== first.id)!.id;
  const subscriber = new Subscriber({
    brokers: cluster.clientEndpoints,
    fromSeq: 1,
    includeControl: true,
  });
  t.teardown(() => subscriber.close());
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  const acks: PublishAck[] = [];
  let transferred: { epoch: number } | null = null;
  for (let round = 0; round < 20; round++) {
    const batch = Array.from({ length: 50 }, (_, i) =>
      publisher.publish('transfer', `r${round}-m${i}`),
    );
    if (round === 5) transferred = await admin.transferLeader(target, 5000);
    // Every publish must succeed: a rejection here fails the test.
    acks.push(...(await Promise.all(batch)));
  }
  t.truthy(transferred);
  t.true(transferred!.epoch > first.epoch);
  const now = await admin.findLeader();
  t.is(now?.id, target);
  t.is(acks.length, 1000);
  const lastAckedSeq = Math.max(...acks.map((a) => a.seq));
  const stream = await collect(subscriber, (m) => m.at(-1)!.seq >= lastAckedSeq, 20_000);
  checkStreams(t, [stream], acks);
});

test('a transfer to a node that is not a member is refused with a clear reason', async (t) => {
  const cluster = await startCluster(t);
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  await eventually(() => admin.findLeader(), 5000, 'a sequencer');
  await t.throwsAsync(admin.transferLeader('n99'), { message: /n99 is not a member/ });
});
