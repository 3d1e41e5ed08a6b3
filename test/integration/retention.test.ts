import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { AdminClient, Publisher, SeqUnavailableError, Subscriber } from '../../clients/index.js';
import { collect, eventually, startCluster } from '../helpers/cluster.js';

test('a subscriber asking for a seq older than the log start gets a clear error naming the oldest available seq', async (t) => {
  const cluster = await startCluster(t, { configOverrides: { memoryLogEntries: 100 } });
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.publish('old', `m${i}`)));
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const endpoint = cluster.clientEndpoints[0]!;
  const firstSeq = await eventually(
    async () => {
      const s = await admin.status(endpoint);
      return s.firstSeq > 1 ? s.firstSeq : null;
    },
    5000,
    'retention to drop old entries',
  );
  const subscriber = new Subscriber({ brokers: [endpoint], fromSeq: 1 });
  t.teardown(() => subscriber.close());
  const error = await t.throwsAsync(
    collect(subscriber, () => false, 5000),
    { instanceOf: SeqUnavailableError },
  );
  t.true(
    (error?.firstAvailableSeq ?? 0) >= firstSeq,
    `firstAvailableSeq ${error?.firstAvailableSeq}`,
  );
  t.regex(error?.message ?? '', /oldest available seq is \d+/);

  // Reading from the oldest available seq works.
  const fromOldest = new Subscriber({ brokers: [endpoint], fromSeq: error!.firstAvailableSeq });
  t.teardown(() => fromOldest.close());
  const messages = await collect(fromOldest, (m) => m.length >= 10, 5000);
  t.is(messages[0]!.seq, error!.firstAvailableSeq);
});

test('a node whose log has a corrupt record in the middle refuses to start, naming the file and seq, and keeps its data', async (t) => {
  const lines: string[] = [];
  const cluster = await startCluster(t, { fsync: 'always', logs: (_id, line) => lines.push(line) });
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  await Promise.all(
    Array.from({ length: 200 }, (_, i) => publisher.publish('corrupt', `payload-number-${i}`)),
  );
  const victim = cluster.nodes[0]!;
  await cluster.signalNode(victim.id, 'SIGTERM');
  const logDir = join(cluster.dataDir, victim.id, 'log');
  const segment = join(logDir, readdirSync(logDir).find((f) => f.endsWith('.log'))!);
  const bytes = readFileSync(segment);
  // Flip one bit in the payload of a record in the middle of the segment.
  const at = bytes.indexOf(Buffer.from('payload-number-100'));
  t.true(at > 0);
  bytes[at + 3]! ^= 0x01;
  writeFileSync(segment, bytes);
  const size = bytes.length;
  await t.throwsAsync(cluster.startNode(victim.id), { message: /exited before it was ready/ });
  t.true(
    lines.some((l) => /CorruptLogError/.test(l) && l.includes(segment)),
    'the log names the corrupt file',
  );
  t.is(readFileSync(segment).length, size, 'the node must not delete data');
});

test('a node that restarts empty after retention dropped what it lacks starts its log at the sequencer log start and follows again', async (t) => {
  // fsync=memory: the restarted node comes back with an empty log.
  const cluster = await startCluster(t, { configOverrides: { memoryLogEntries: 100 } });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const leader = await eventually(() => admin.findLeader(), 5000, 'a sequencer');
  const victim = cluster.nodes.find((n) => n.id !== leader.id)!;
  await cluster.signalNode(victim.id, 'SIGKILL');
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.publish('gone', `m${i}`)));
  await eventually(
    async () => {
      const s = await admin.status(leader.endpoint);
      return s.firstSeq > 1 ? s : null;
    },
    5000,
    'retention on the sequencer',
  );
  await cluster.startNode(victim.id);
  const last = (await publisher.publish('gone', 'after-restart')).seq;
  const status = await eventually(
    async () => {
      const s = await admin.status(victim.clientEndpoint);
      return s.lastSeq >= last && s.commitSeq >= last ? s : null;
    },
    10_000,
    'the restarted node to follow the sequencer again',
  );
  t.true(status.firstSeq > 1, `the restarted node starts at ${status.firstSeq}`);
  // Its subscribers read from its first seq on.
  const subscriber = new Subscriber({ brokers: [victim.clientEndpoint], fromSeq: status.firstSeq });
  t.teardown(() => subscriber.close());
  const messages = await collect(subscriber, (m) => m.at(-1)!.seq >= last, 10_000);
  t.is(messages.at(-1)!.seq, last);
});
