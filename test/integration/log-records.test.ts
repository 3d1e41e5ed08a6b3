import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { AdminClient, Publisher, Subscriber } from '../../clients/index.js';
import { collect, eventually, startCluster } from '../helpers/cluster.js';

/** Seqs where a record of at least three entries starts, read from a stopped node's segment files. */
function recordsOfSeveral(logDir: string): { firstSeq: number; count: number }[] {
  const found: { firstSeq: number; count: number }[] = [];
  for (const name of readdirSync(logDir)
    .filter((f) => f.endsWith('.log'))
    .sort()) {
    const bytes = readFileSync(join(logDir, name));
    // Segment header 64 bytes; each record: magic, frameBytes (u32 at 4), firstSeq (u64 at 28), count (u32 at 36).
    for (let at = 64; at + 48 <= bytes.length; at += bytes.readUInt32LE(at + 4)) {
      const count = bytes.readUInt32LE(at + 36);
      if (count >= 3) found.push({ firstSeq: Number(bytes.readBigUInt64LE(at + 28)), count });
    }
  }
  return found;
}

test('a subscriber starting at a seq in the middle of a record, served from disk after a restart, gets exactly the stream from that seq', async (t) => {
  const cluster = await startCluster(t, { fsync: 'always' });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  // More than a restarted node keeps in memory (10,000 recent entries), so older seqs come from its records on disk.
  const total = 14_000;
  const payloadOf = (i: number) => `record-test-${i}`;
  const seqOf = new Map<number, string>();
  for (let from = 0; from < total; from += 2000) {
    const acks = await Promise.all(
      Array.from({ length: 2000 }, (_, k) =>
        publisher.publish(k % 2 === 0 ? 'even' : 'odd', payloadOf(from + k)),
      ),
    );
    for (const [k, ack] of acks.entries()) seqOf.set(ack.seq, payloadOf(from + k));
  }
  const leader = await eventually(() => admin.findLeader(), 5000, 'a sequencer');
  const node = cluster.nodes.find((n) => n.id !== leader.id)!;
  await eventually(
    async () => {
      const status = (await admin.statusAll()).find((b) => b.status?.id === node.id)?.status;
      return status && Number(status.commitSeq) >= Math.max(...seqOf.keys()) ? true : null;
    },
    20_000,
    `${node.id} to commit every publish`,
  );
  await cluster.signalNode(node.id, 'SIGTERM');
  const records = recordsOfSeveral(join(cluster.dataDir, node.id, 'log')).filter(
    (r) => r.firstSeq + r.count < total - 10_000,
  );
  t.true(records.length > 0, 'the node wrote records of several entries');
  await cluster.startNode(node.id);

  const record = records[Math.floor(records.length / 2)]!;
  const fromSeq = record.firstSeq + 1;
  t.log(
    `record of ${record.count} entries from seq ${record.firstSeq}; subscribing from ${fromSeq} on ${node.id}`,
  );
  const lastSeq = Math.max(...seqOf.keys());
  const all = new Subscriber({ brokers: [node.clientEndpoint], fromSeq });
  t.teardown(() => all.close());
  const stream = await collect(all, (m) => m.at(-1)!.seq >= lastSeq, 30_000);
  const dataSeqs = [...seqOf.keys()].filter((s) => s >= fromSeq).sort((a, b) => a - b);
  t.is(dataSeqs[0], fromSeq, 'the seq subscribed from holds a message');
  t.is(stream[0]!.seq, fromSeq);
  const data = stream.filter((m) => m.kind === 'data');
  t.deepEqual(
    data.map((m) => m.seq),
    dataSeqs,
  );
  for (const m of data) t.is(Buffer.from(m.payload).toString(), seqOf.get(m.seq)!);

  // A topic filter over records that mix topics: only that topic, in order, from the same seq.
  const oddSeqs = dataSeqs.filter(
    (s) => Number(seqOf.get(s)!.slice('record-test-'.length)) % 2 === 1,
  );
  const odd = new Subscriber({ brokers: [node.clientEndpoint], fromSeq, topics: ['odd'] });
  t.teardown(() => odd.close());
  const oddStream = await collect(odd, (m) => m.at(-1)!.seq >= oddSeqs.at(-1)!, 30_000);
  t.deepEqual(
    oddStream.map((m) => m.seq),
    oddSeqs,
  );
});
