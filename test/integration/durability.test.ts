import test from 'ava';
import { BrokerConnection } from '../../clients/broker-connection.js';
import { AdminClient, type PublishAck, Publisher, Subscriber } from '../../clients/index.js';
import type { LocalCluster } from '../../src/cluster/local-cluster.js';
import { CORE_LIMITS } from '../../src/core/core-limits.js';
import { publishResultsOf } from '../../src/wire/client-codec.js';
import { ordo } from '../../src/wire/schema.js';
import { seededRandom } from '../core/fixtures.js';
import { collect, eventually, startCluster } from '../helpers/cluster.js';
import { checkStreams } from '../helpers/stream-checks.js';

/** Waits until every node holds the same log, fully committed, with the same hash chain. */
async function identicalLogs(admin: AdminClient): Promise<{ lastSeq: number; hash: string }> {
  return eventually(
    async () => {
      const all = await admin.statusAll();
      if (all.some((b) => b.status === null)) return null;
      const statuses = all.map((b) => b.status!);
      const first = statuses[0]!;
      const same = statuses.every(
        (s) =>
          s.lastSeq === first.lastSeq &&
          s.commitSeq === first.lastSeq &&
          s.logChainHash === first.logChainHash &&
          s.logChainHash !== '',
      );
      return same ? { lastSeq: first.lastSeq, hash: first.logChainHash } : null;
    },
    20_000,
    'every node to hold the same committed log (same hash chain)',
  );
}

async function readAll(brokers: string[], lastSeq: number) {
  const subscriber = new Subscriber({ brokers, fromSeq: 1, includeControl: true });
  try {
    return await collect(subscriber, (m) => m.at(-1)!.seq >= lastSeq, 30_000);
  } finally {
    subscriber.close();
  }
}

async function restartAll(cluster: LocalCluster): Promise<void> {
  await Promise.all(
    cluster.nodes.map((n) => (n.process === null ? cluster.startNode(n.id) : Promise.resolve())),
  );
}

test('fsync=always: nodes killed with SIGKILL at random moments under load and restarted lose no acknowledged message, and end with identical logs', async (t) => {
  const seed = Number(process.env['ORDO_TEST_SEED'] ?? Date.now() % 1_000_000);
  t.log(`kill schedule seed ${seed} (replay with ORDO_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  const cluster = await startCluster(t, { fsync: 'always' });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  const acks: PublishAck[] = [];
  let kills = 0;
  for (let round = 0; round < 12; round++) {
    const pending = Array.from({ length: 100 }, (_, i) =>
      publisher.publish('durable', `r${round}-m${i}`),
    );
    // Kill one node while this round is in flight, at a random moment, then bring it back.
    const victim = cluster.nodes[Math.floor(random() * cluster.nodes.length)]!;
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 30)));
    await cluster.signalNode(victim.id, 'SIGKILL');
    kills++;
    acks.push(...(await Promise.all(pending)));
    await cluster.startNode(victim.id);
  }
  t.is(kills, 12);
  const log = await identicalLogs(admin);
  const lastAckedSeq = Math.max(...acks.map((a) => a.seq));
  t.true(log.lastSeq >= lastAckedSeq);
  const streams = await Promise.all(
    cluster.clientEndpoints.map((endpoint) => readAll([endpoint], log.lastSeq)),
  );
  checkStreams(t, streams, acks);
});

test('fsync=always: the whole cluster killed with SIGKILL and restarted keeps every acknowledged message', async (t) => {
  const cluster = await startCluster(t, { fsync: 'always' });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  const acks = await Promise.all(
    Array.from({ length: 500 }, (_, i) => publisher.publish('durable', `before-${i}`)),
  );
  // Kill everything at once, with publishes still in flight.
  const inFlight = Array.from({ length: 200 }, (_, i) =>
    publisher.publish('durable', `during-${i}`).catch(() => null),
  );
  await Promise.all(cluster.nodes.map((n) => cluster.signalNode(n.id, 'SIGKILL')));
  await restartAll(cluster);
  for (const ack of await Promise.all(inFlight)) if (ack !== null) acks.push(ack);
  acks.push(
    ...(await Promise.all(
      Array.from({ length: 100 }, (_, i) => publisher.publish('durable', `after-${i}`)),
    )),
  );
  const log = await identicalLogs(admin);
  const streams = await Promise.all(
    cluster.clientEndpoints.map((endpoint) => readAll([endpoint], log.lastSeq)),
  );
  checkStreams(t, streams, acks);
  t.is(streams[0]!.filter((m) => m.kind === 'data' && m.payload.length > 0).length >= 600, true);
});

test('fsync=always: after a whole-cluster restart, a retry of a message older than the recovery window is still a duplicate (dedup checkpoint)', async (t) => {
  // What this test proves is the dedup checkpoint, not availability on a
  // slow disk. On a loaded CI machine an fsync can outlast the default
  // election timeout: should the sequencer be deposed, its uncommitted tail
  // is truncated, and a producer whose remembered entries all went is told
  // to start afresh (its in-flight messages fail as uncertain). A longer
  // election timeout and a window no wider than the table's per-producer
  // history keep that away from the filler traffic (docs/operations.md).
  const cluster = await startCluster(t, {
    fsync: 'always',
    configOverrides: { electionTimeoutMs: 1500 },
  });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const request = (producerSeq: number) => ({
    publish: {
      producerId: 'early',
      items: [{ producerSeq, topic: 'early', payload: Buffer.from(`e${producerSeq}`) }],
    },
  });
  const publishRaw = async (producerSeq: number) => {
    const leader = await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
    const connection = new BrokerConnection(leader.endpoint);
    try {
      return publishResultsOf((await connection.request(request(producerSeq), 5000)).publish!)[0]!;
    } finally {
      connection.close();
    }
  };
  const first = await publishRaw(1);
  t.is(first.status, ordo.PublishStatus.PUBLISH_STATUS_OK);
  // Bury it beyond the 10,000 recent entries a restarted node rebuilds the table from.
  const publisher = new Publisher({
    brokers: cluster.clientEndpoints,
    maxInFlightMessages: CORE_LIMITS.maxProducerHistoryEntries,
  });
  t.teardown(() => publisher.close());
  const acks = await Promise.all(
    Array.from({ length: 12_000 }, (_, i) => publisher.publish('bulk', `b${i}`)),
  );
  const lastSeq = Math.max(...acks.map((a) => a.seq));
  await eventually(
    async () => {
      const all = await admin.statusAll();
      return all.every((b) => (b.status?.dedupCheckpointSeq ?? 0) >= lastSeq);
    },
    10_000,
    'every node to checkpoint its dedup table',
  );
  await Promise.all(cluster.nodes.map((n) => cluster.signalNode(n.id, 'SIGKILL')));
  await Promise.all(cluster.nodes.map((n) => cluster.startNode(n.id)));
  // The answer to the first publish was lost, say: the producer retries it.
  const retried = await publishRaw(1);
  t.is(retried.status, ordo.PublishStatus.PUBLISH_STATUS_DUPLICATE);
  t.is(retried.seq, first.seq);
  t.is((await publishRaw(2)).status, ordo.PublishStatus.PUBLISH_STATUS_OK);
});
