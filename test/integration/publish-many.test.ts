import test from 'ava';
import { InvalidRequestError, Publisher, Subscriber } from '../../clients/index.js';
import { collect, startCluster } from '../helpers/cluster.js';

test('publishMany acknowledges every message in order, as consecutive producerSeqs, and a subscriber reads them in that order', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const publisher = new Publisher({ brokers, maxInFlightMessages: 256 });
  const subscriber = new Subscriber({ brokers, fromSeq: 1 });
  t.teardown(() => {
    publisher.close();
    subscriber.close();
  });
  const batch = Array.from({ length: 200 }, (_, i) => ({
    topic: `topic-${i % 3}`,
    payload: `many-${i}`,
  }));
  // Two calls at once, and a publish() between them: the window (256) holds
  // the first call and the single one; the second waits for room for all of it.
  const [first, single, second] = await Promise.all([
    publisher.publishMany(batch),
    publisher.publish('single', 'one'),
    publisher.publishMany(batch),
  ]);
  const acks = [...first, single, ...second];
  t.deepEqual(
    acks.map((a) => a.producerSeq),
    Array.from({ length: 401 }, (_, i) => i + 1),
  );
  for (let i = 1; i < acks.length; i++) t.true(acks[i]!.seq > acks[i - 1]!.seq);
  const lastSeq = acks.at(-1)!.seq;
  const messages = await collect(subscriber, (m) => m.at(-1)!.seq >= lastSeq, 20_000);
  const data = messages.filter((m) => m.kind === 'data');
  t.deepEqual(
    data.map((m) => m.seq),
    acks.map((a) => a.seq),
  );
  t.deepEqual(
    data.map((m) => new TextDecoder().decode(m.payload)),
    [...batch.map((m) => m.payload), 'one', ...batch.map((m) => m.payload)],
  );
});

test('publishMany refuses a bad message or a batch beyond the window before sending anything', async (t) => {
  const cluster = await startCluster(t);
  const publisher = new Publisher({ brokers: cluster.clientEndpoints, maxInFlightMessages: 8 });
  t.teardown(() => publisher.close());
  await t.throwsAsync(
    publisher.publishMany([
      { topic: 'ok', payload: 'a' },
      { topic: '', payload: 'b' },
    ]),
    { instanceOf: InvalidRequestError, message: /topic must be/ },
  );
  await t.throwsAsync(
    publisher.publishMany(Array.from({ length: 9 }, () => ({ topic: 't', payload: 'x' }))),
    { instanceOf: InvalidRequestError, message: /exceeds maxInFlightMessages \(8\)/ },
  );
  await t.throwsAsync(
    publisher.publishMany([null as unknown as { topic: string; payload: string }]),
    { instanceOf: InvalidRequestError, message: /message 0 is not/ },
  );
  t.deepEqual(await publisher.publishMany([]), []);
  // Nothing of the refused calls took a producerSeq.
  const ack = await publisher.publish('t', 'after');
  t.is(ack.producerSeq, 1);
  t.is(publisher.inFlightMessages, 0);
});
