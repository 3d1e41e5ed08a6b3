import test from 'ava';
import { AdminClient, type PublishAck, Publisher, Subscriber } from '../../clients/index.js';
import { collect, decode, eventually, startCluster } from '../helpers/cluster.js';

/**
 * The sequencer holds a commit notice (an append that only moves the
 * followers' commit point) until the next append carries the commit point,
 * or at most LIMITS.commitNoticeHoldMs. A subscriber reading from a follower
 * sees a message only once that follower knows it committed, so these
 * tests watch the notices from a follower's subscriber.
 */
test('commit notices: the last message of an idle stream reaches a subscriber on a follower, and back-to-back publishes leave notices out', async (t) => {
  const cluster = await startCluster(t);
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const leader = await eventually(
    async () => {
      const all = await admin.statusAll();
      const leaders = all.filter((b) => b.status?.role === 'leader');
      return leaders.length === 1 ? leaders[0]!.status! : null;
    },
    10_000,
    'one sequencer',
  );
  const follower = cluster.clientEndpoints.find((e) => e !== leader.clientEndpoint)!;
  const publisher = new Publisher({ brokers: [leader.clientEndpoint] });
  t.teardown(() => publisher.close());
  const subscriber = new Subscriber({ brokers: [follower], fromSeq: 1 });
  t.teardown(() => subscriber.close());

  // One message, then nothing: only the held notice, sent when its hold
  // ends, can tell the follower that it committed.
  const lone = await publisher.publish('notice', 'lone');
  const first = await collect(subscriber, (m) => m.some((x) => x.seq >= lone.seq), 10_000);
  t.is(decode(first.at(-1)!.payload), 'lone');
  t.is(first.at(-1)!.seq, lone.seq);

  // One publish in flight at a time: each commit's notice is still held
  // when the next publish's append goes out and carries the commit point.
  const before = (await admin.status(leader.clientEndpoint)).commitNoticesLeftOut;
  const count = 200;
  const acks: PublishAck[] = [];
  for (let i = 0; i < count; i++) acks.push(await publisher.publish('notice', `m${i}`));
  const rest = await collect(subscriber, (m) => m.some((x) => x.seq >= acks.at(-1)!.seq), 10_000);
  t.deepEqual(
    rest.map((m) => decode(m.payload)),
    acks.map((_, i) => `m${i}`),
    'the follower delivers every message once, in order',
  );
  const after = (await admin.status(leader.clientEndpoint)).commitNoticesLeftOut;
  t.true(
    after - before > 0,
    `the sequencer left out no commit notice over ${count} back-to-back publishes (${before} -> ${after})`,
  );
});
