import test from 'ava';
import { BrokerConnection } from '../../clients/broker-connection.js';
import { AdminClient, Publisher, Subscriber } from '../../clients/index.js';
import { publishResultsOf } from '../../src/wire/client-codec.js';
import { ordo } from '../../src/wire/schema.js';
import { collect, eventually, startCluster } from '../helpers/cluster.js';

test('a publisher that retries the same (producerId, producerSeq) gets the original seq and the message is delivered once', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const admin = new AdminClient(brokers);
  t.teardown(() => admin.close());
  const leader = await eventually(() => admin.findLeader(), 5000, 'a sequencer');
  const connection = new BrokerConnection(leader.endpoint);
  t.teardown(() => connection.close());
  const request = {
    publish: {
      producerId: 'retrying-producer',
      items: [1, 2, 3].map((producerSeq) => ({
        producerSeq,
        topic: 'retry',
        payload: Buffer.from(`m${producerSeq}`),
      })),
    },
  };
  const first = await connection.request(request, 5000);
  // The same request again, as a publisher whose answer was lost would send it.
  const second = await connection.request(request, 5000);
  const firstResults = publishResultsOf(first.publish!);
  const secondResults = publishResultsOf(second.publish!);
  t.deepEqual(
    firstResults.map((r) => r.status),
    [1, 2, 3].map(() => ordo.PublishStatus.PUBLISH_STATUS_OK),
  );
  t.deepEqual(
    secondResults.map((r) => r.status),
    [1, 2, 3].map(() => ordo.PublishStatus.PUBLISH_STATUS_DUPLICATE),
  );
  t.deepEqual(
    secondResults.map((r) => r.seq),
    firstResults.map((r) => r.seq),
  );

  // A message that skips ahead of the producer's order is refused, naming the one expected.
  const skipped = await connection.request(
    {
      publish: {
        producerId: 'retrying-producer',
        items: [{ producerSeq: 7, topic: 'retry', payload: Buffer.from('m7') }],
      },
    },
    5000,
  );
  t.is(
    publishResultsOf(skipped.publish!)[0]!.status,
    ordo.PublishStatus.PUBLISH_STATUS_OUT_OF_ORDER,
  );
  t.is(publishResultsOf(skipped.publish!)[0]!.expectedProducerSeq, 4);

  const subscriber = new Subscriber({ brokers, fromSeq: 1, topics: ['retry'] });
  t.teardown(() => subscriber.close());
  // A marker published after the retries bounds the read.
  const marker = new Publisher({ brokers });
  t.teardown(() => marker.close());
  const markerAck = await marker.publish('retry', 'end');
  const messages = await collect(subscriber, (m) => m.at(-1)!.seq >= markerAck.seq, 10_000);
  t.deepEqual(
    messages.map((m) => new TextDecoder().decode(m.payload)),
    ['m1', 'm2', 'm3', 'end'],
  );
});

test('two publisher instances sharing a producer id (a restarted producer) do not duplicate a message', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const first = new Publisher({ brokers, producerId: 'restarted' });
  const ackBefore = await first.publish('restart', 'hello');
  first.close();
  const second = new Publisher({ brokers, producerId: 'restarted', firstProducerSeq: 1 });
  t.teardown(() => second.close());
  const ackAfter = await second.publish('restart', 'hello');
  t.true(ackAfter.duplicate);
  t.is(ackAfter.seq, ackBefore.seq);
});

test('a publisher whose producer the cluster has forgotten starts a new producer session instead of retrying forever', async (t) => {
  // fsync=memory: a restarted cluster has an empty log and knows no producer.
  const cluster = await startCluster(t);
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  for (let i = 0; i < 5; i++) await publisher.publish('forgotten', `before-${i}`);
  const oldProducer = publisher.producerId;
  await Promise.all(cluster.nodes.map((n) => cluster.signalNode(n.id, 'SIGKILL')));
  await Promise.all(cluster.nodes.map((n) => cluster.startNode(n.id)));
  const ack = await publisher.publish('forgotten', 'after');
  t.is(publisher.sessionsRestarted, 1);
  t.not(ack.producerId, oldProducer);
  t.is(ack.producerSeq, 1);
});
