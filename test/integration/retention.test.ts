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

test('bit flips in the log of a stopped node are repaired from its peers under load: nothing acknowledged is lost and the hash chains agree', async (t) => {
  const lines: string[] = [];
  const cluster = await startCluster(t, { fsync: 'always', logs: (_id, line) => lines.push(line) });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  const acked = new Map<number, string>();
  const publishAll = (from: number, count: number) =>
    Promise.all(
      Array.from({ length: count }, (_, i) =>
        publisher
          .publish('repair', `payload-number-${from + i}`)
          .then((ack) => acked.set(ack.seq, `payload-number-${from + i}`)),
      ),
    );
  // In waves, so that the records flipped below are followed by intact ones
  // on the victim (the newest record, damaged, would be taken for a torn write).
  for (let wave = 0; wave < 4; wave++) await publishAll(wave * 100, 100);
  const leader = await eventually(() => admin.findLeader(), 5000, 'a sequencer');
  const victim = cluster.nodes.find((n) => n.id !== leader.id)!;
  // The victim must hold the last wave too: a quorum acked it, perhaps without the victim.
  const lastAcked = Math.max(...acked.keys());
  await eventually(
    async () => ((await admin.status(victim.clientEndpoint)).commitSeq >= lastAcked ? true : null),
    10_000,
    `${victim.id} to hold seq ${lastAcked}`,
  );
  await cluster.signalNode(victim.id, 'SIGKILL');
  // Load goes on while the victim is down and while it repairs and restarts.
  const during = publishAll(400, 500);
  const logDir = join(cluster.dataDir, victim.id, 'log');
  const segment = join(logDir, readdirSync(logDir).find((f) => f.endsWith('.log'))!);
  const bytes = readFileSync(segment);
  // One bit flipped in each of three records in the middle of the log.
  for (const n of [40, 120, 200]) {
    const at = bytes.indexOf(Buffer.from(`payload-number-${n}`));
    t.true(at > 0, `record ${n} is in the segment`);
    bytes[at + 5]! ^= 0x04;
  }
  writeFileSync(segment, bytes);
  await cluster.startNode(victim.id);
  await during;
  await publishAll(900, 100);

  const status = await eventually(
    async () => {
      const s = await admin.status(victim.clientEndpoint);
      return s.recordsRepaired > 0 ? s : null;
    },
    10_000,
    'the victim to report its repair',
  );
  // Records hold many entries: each damaged record's entries are all repaired, each record once.
  const repairs = lines.filter((l) => /repaired \d+ damaged entries/.test(l));
  t.true(repairs.length >= 1 && repairs.length <= 3, `${repairs.length} repairs logged`);
  t.true(status.recordsRepaired >= 3, `${status.recordsRepaired} entries repaired`);
  // Every acknowledged message is read back from the repaired node, at its seq.
  const last = Math.max(...acked.keys());
  const subscriber = new Subscriber({ brokers: [victim.clientEndpoint], fromSeq: 1 });
  t.teardown(() => subscriber.close());
  const messages = await collect(subscriber, (m) => m.at(-1)!.seq >= last, 15_000);
  const bySeq = new Map(messages.map((m) => [m.seq, new TextDecoder().decode(m.payload)]));
  const missing = [...acked].filter(([seq, payload]) => bySeq.get(seq) !== payload);
  t.deepEqual(missing, [], 'every acknowledged message at its seq on the repaired node');
  // All nodes hold the same log: equal hash chains once they hold the same seqs.
  const chains = await eventually(
    async () => {
      const all = await Promise.all(cluster.clientEndpoints.map((e) => admin.status(e)));
      const same = all.every((s) => s.lastSeq === all[0]!.lastSeq && s.commitSeq === s.lastSeq);
      return same ? all.map((s) => s.logChainHash) : null;
    },
    10_000,
    'every node to hold the whole log',
  );
  t.is(new Set(chains).size, 1, `chain hashes ${chains.join(' ')}`);
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
  // Retention runs on each node on its own timer: wait until every running
  // node dropped seq 1, so that whichever leads when the victim is back (a
  // loaded machine may see an election) no longer holds it.
  const others = cluster.nodes.filter((n) => n.id !== victim.id);
  await eventually(
    async () => {
      const firstSeqs = await Promise.all(
        others.map(async (n) => (await admin.status(n.clientEndpoint)).firstSeq),
      );
      return firstSeqs.every((first) => first > 1) ? firstSeqs : null;
    },
    5000,
    'retention on every running node',
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
