import test from 'ava';
import { type Message, type PublishAck, Publisher, Subscriber } from '../../clients/index.js';
import { collect, collectBatches, startCluster } from '../helpers/cluster.js';
import { checkStreams } from '../helpers/stream-checks.js';

const publishersCount = 3;
const messagesPerPublisher = 400;

async function publishAll(brokers: string[]): Promise<PublishAck[]> {
  const publishers = Array.from(
    { length: publishersCount },
    (_, p) => new Publisher({ brokers: [brokers[p % brokers.length]!, ...brokers] }),
  );
  try {
    const acks = await Promise.all(
      publishers.flatMap((publisher, p) =>
        Array.from({ length: messagesPerPublisher }, (_, i) =>
          publisher.publish(`topic-${i % 3}`, `p${p}-m${i}`),
        ),
      ),
    );
    return acks;
  } finally {
    for (const publisher of publishers) publisher.close();
  }
}

test('several publishers and subscribers on different nodes: every subscriber receives the identical contiguous sequence', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const subscribers = brokers.map(
    (endpoint) => new Subscriber({ brokers: [endpoint], fromSeq: 1, includeControl: true }),
  );
  t.teardown(() => {
    for (const s of subscribers) s.close();
  });
  const acks = await publishAll(brokers);
  const total = publishersCount * messagesPerPublisher;
  t.is(acks.length, total);
  const lastAckedSeq = Math.max(...acks.map((a) => a.seq));
  // The last subscriber reads a batch at a time: the same stream.
  const done = (m: readonly Message[]) => m.at(-1)!.seq >= lastAckedSeq;
  const [batched, ...streams] = await Promise.all([
    collectBatches(subscribers.at(-1)!, done, 20_000),
    ...subscribers.slice(0, -1).map((s) => collect(s, done, 20_000)),
  ]);
  checkStreams(t, [...streams, batched!.messages] as Message[][], acks);
  t.is(streams[0]!.filter((m) => m.kind === 'data').length, total);
  // Everything was buffered while the publishes were acknowledged, so batches hold many.
  t.true(Math.max(...batched!.batchSizes) > 1, `batch sizes ${batched!.batchSizes.join(',')}`);
});

test('a topic filter applied on the broker still gives gap-free, ordered delivery of that topic', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const filtered = new Subscriber({ brokers: [brokers[1]!], fromSeq: 1, topics: ['topic-1'] });
  t.teardown(() => filtered.close());
  const acks = await publishAll(brokers);
  const wanted = acks
    .filter((_, i) => (i % messagesPerPublisher) % 3 === 1)
    .map((a) => a.seq)
    .sort((a, b) => a - b);
  const received: Message[] = await collect(filtered, (m) => m.length >= wanted.length, 20_000);
  t.deepEqual(
    received.map((m) => m.seq),
    wanted,
  );
  t.true(received.every((m) => m.topic === 'topic-1'));
});

test('ack mode sequenced answers with the assigned seq, and the messages still commit in that order', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const publisher = new Publisher({ brokers, ackMode: 'sequenced' });
  t.teardown(() => publisher.close());
  const acks = await Promise.all(
    Array.from({ length: 200 }, (_, i) => publisher.publish('fast', `s${i}`)),
  );
  const seqs = acks.map((a) => a.seq);
  t.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'seqs follow the publish order',
  );
  t.is(new Set(seqs).size, 200);
  const subscriber = new Subscriber({ brokers, fromSeq: 1, topics: ['fast'] });
  t.teardown(() => subscriber.close());
  const messages = await collect(subscriber, (m) => m.length >= 200, 10_000);
  t.deepEqual(
    messages.map((m) => m.seq),
    seqs,
  );
});
