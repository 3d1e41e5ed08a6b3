import { performance } from 'node:perf_hooks';
import test from 'ava';
import { encodeKvCommand, KvStore, kvTopic, pluginName } from '../../clients/examples/kv-store.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { startTestReplica, testAdmin, testPublisher } from './replica-fixtures.js';

/** Writes the test makes, one at a time; the sequencer is killed half way. */
const writeCount = 160;
/** Each reader's reads are bounded in count too, and stop with the writer. */
const maxReadsPerReader = 400;

interface WriteRecord {
  readonly value: number;
  readonly ackedAtMs: number;
}
interface ReadRecord {
  readonly replica: string;
  readonly startedAtMs: number;
  readonly value: number;
}

/**
 * The linearizability rule for one register written by one writer in
 * increasing values: a read must return at least the newest value whose
 * write was acknowledged before the read started. Returns the first read
 * that breaks it, described, or null.
 */
function firstStaleRead(
  writes: readonly WriteRecord[],
  reads: readonly ReadRecord[],
): string | null {
  for (const read of reads) {
    let newestAcked = 0;
    for (const w of writes)
      if (w.ackedAtMs < read.startedAtMs) newestAcked = Math.max(newestAcked, w.value);
    if (read.value < newestAcked)
      return `${read.replica} read ${read.value} at ${read.startedAtMs.toFixed(1)} ms, after ${newestAcked} was acknowledged`;
  }
  return null;
}

test('the history checker rejects a read that misses an acknowledged write', (t) => {
  const writes = [
    { value: 1, ackedAtMs: 10 },
    { value: 2, ackedAtMs: 20 },
  ];
  t.is(firstStaleRead(writes, [{ replica: 'r', startedAtMs: 15, value: 1 }]), null);
  t.is(firstStaleRead(writes, [{ replica: 'r', startedAtMs: 15, value: 2 }]), null);
  t.regex(
    firstStaleRead(writes, [{ replica: 'r', startedAtMs: 25, value: 1 }]) ?? '',
    /r read 1 at 25.0 ms, after 2 was acknowledged/,
  );
});

test('a linearizable read on any replica sees every write acknowledged before it started, across a sequencer failover', async (t) => {
  t.timeout(90_000);
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const admin = testAdmin(t, brokers);
  const publisher = testPublisher(t, brokers);
  const common = { brokers, plugin: pluginName, stateMachine: () => new KvStore() };
  const replicas = await Promise.all(
    ['kv-a', 'kv-b'].map((replicaId) => startTestReplica(t, { ...common, replicaId })),
  );

  const writes: WriteRecord[] = [];
  const reads: ReadRecord[] = [];
  let writing = true;
  let killedAtMs = Number.POSITIVE_INFINITY;
  // Readers start each read as a write is acknowledged: the moment a stale
  // read is most likely (the replica may not have applied it yet).
  let acked: () => void = () => {};
  let nextAck = new Promise<void>((resolve) => {
    acked = resolve;
  });
  const signalAck = (): void => {
    const wake = acked;
    nextAck = new Promise<void>((resolve) => {
      acked = resolve;
    });
    wake();
  };
  const reader = async (index: number): Promise<void> => {
    const { replica } = replicas[index]!;
    // Reads go on while the writer writes, and until this reader has done a
    // few that started after the failover (the one in flight may span it).
    let afterKill = 0;
    for (let i = 0; i < maxReadsPerReader && (writing || afterKill < 3); i++) {
      if (writing) await nextAck;
      const startedAtMs = performance.now();
      if (startedAtMs > killedAtMs) afterKill++;
      const answer = (await replica.query(
        { op: 'get', key: 'x' },
        { consistency: 'linearizable' },
      )) as { value: string } | null;
      reads.push({ replica: replica.replicaId, startedAtMs, value: Number(answer?.value ?? 0) });
    }
  };
  const writer = async (): Promise<void> => {
    try {
      for (let value = 1; value <= writeCount; value++) {
        if (value === writeCount / 2) {
          const leader = await eventually(() => admin.findLeader(), 5000, 'a sequencer');
          killedAtMs = performance.now();
          await cluster.signalNode(leader.id, 'SIGKILL');
        }
        await publisher.publish(
          kvTopic,
          encodeKvCommand({ op: 'put', key: 'x', value: String(value) }),
        );
        writes.push({ value, ackedAtMs: performance.now() });
        signalAck();
      }
    } finally {
      writing = false;
      signalAck();
    }
  };
  await Promise.all([writer(), reader(0), reader(1)]);

  t.is(writes.length, writeCount, 'every write was acknowledged');
  t.is(firstStaleRead(writes, reads), null);
  for (const { replica } of replicas) {
    const afterKill = reads.filter(
      (r) => r.replica === replica.replicaId && r.startedAtMs > killedAtMs,
    );
    t.true(afterKill.length > 0, `${replica.replicaId} answered reads after the failover`);
  }
  // A read started after the last acknowledgement sees the last write, on both replicas.
  for (const { replica } of replicas) {
    const answer = (await replica.query(
      { op: 'get', key: 'x' },
      { consistency: 'linearizable' },
    )) as { value: string } | null;
    t.is(Number(answer?.value), writeCount, `${replica.replicaId} reads the last write`);
  }
  t.log(`${reads.length} linearizable reads checked against ${writes.length} writes`);
});
