import test from 'ava';
import { AdminClient, type PublishAck, Publisher, Subscriber } from '../../clients/index.js';
import { collect, startCluster } from '../helpers/cluster.js';
import { checkStreams } from '../helpers/stream-checks.js';

test('with multicast frames, NACKs and deliveries dropped on purpose, NACK repair still delivers identical streams with nothing missing or repeated', async (t) => {
  const cluster = await startCluster(t, {
    env: {
      ORDO_TEST_FAULTS: JSON.stringify({
        dropMulticastFraction: 0.2,
        dropNackFraction: 0.3,
        dropDeliveryFraction: 0.1,
      }),
    },
  });
  const brokers = cluster.clientEndpoints;
  const subscribers = brokers.map(
    (endpoint) => new Subscriber({ brokers: [endpoint], fromSeq: 1, includeControl: true }),
  );
  t.teardown(() => {
    for (const s of subscribers) s.close();
  });
  const publishers = [
    new Publisher({ brokers }),
    new Publisher({ brokers: [...brokers].reverse() }),
  ];
  t.teardown(() => {
    for (const p of publishers) p.close();
  });
  const acks: PublishAck[] = [];
  // Publish in rounds so that gaps occur in the middle of the stream and at its tail.
  for (let round = 0; round < 50; round++) {
    const batch = publishers.flatMap((p, i) =>
      Array.from({ length: 10 }, (_, m) => p.publish('lossy', `r${round}-p${i}-m${m}`)),
    );
    acks.push(...(await Promise.all(batch)));
  }
  const lastAckedSeq = Math.max(...acks.map((a) => a.seq));
  const streams = await Promise.all(
    subscribers.map((s) => collect(s, (m) => m.at(-1)!.seq >= lastAckedSeq, 30_000)),
  );
  checkStreams(t, streams, acks);
  t.is(streams[0]!.filter((m) => m.kind === 'data').length, 1000);

  // The faults really happened: nodes dropped frames and subscribers repaired gaps.
  const admin = new AdminClient(brokers);
  t.teardown(() => admin.close());
  const statuses = await admin.statusAll();
  const injected = statuses.reduce((sum, b) => sum + (b.status?.faultsInjected ?? 0), 0);
  t.true(injected >= 20, `only ${injected} faults injected`);
  t.true(
    subscribers.reduce((sum, s) => sum + s.stats.gapsDetected, 0) > 0,
    'no subscriber saw a gap',
  );
});
