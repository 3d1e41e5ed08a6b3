import test from 'ava';
import { type Entry, EntryKind, type RunHeader } from '../../src/core/types.js';
import { type Cluster, electedCluster, partition, proposal, TEST_TIMING } from './harness.js';

/** The entries of `producerId` that node `id` holds. */
function entriesOf(cluster: Cluster, id: string, producerId: string): Entry[] {
  return cluster.store(id).entries.filter((e) => e.producerId === producerId);
}

/**
 * A publisher's batch is proposed as one run of consecutive producerSeqs.
 * Whatever part of it the cluster already holds is answered as duplicates
 * naming their seqs, the rest is appended once, in order: also when the
 * batch is retried after part of it committed and the rest was cut off by
 * a failover and truncated.
 */

test('a batch overlapping what the producer already sequenced appends only its new part, in order', (t) => {
  const cluster = electedCluster();
  const epoch = cluster.node('a').currentEpoch;
  cluster.propose(
    'a',
    [1, 2, 3].map((n) => proposal('p', n)),
  );
  cluster.settle();
  const results = cluster.propose(
    'a',
    [2, 3, 4, 5].map((n) => proposal('p', n)),
  );
  t.deepEqual(results, [
    { kind: 'duplicate', seq: 3, epoch },
    { kind: 'duplicate', seq: 4, epoch },
    { kind: 'appended', seq: 5, epoch },
    { kind: 'appended', seq: 6, epoch },
  ]);
  cluster.settle();
  for (const id of ['a', 'b', 'c']) {
    t.deepEqual(
      entriesOf(cluster, id, 'p').map((e) => [e.seq, e.producerSeq]),
      [
        [2, 1],
        [3, 2],
        [4, 3],
        [5, 4],
        [6, 5],
      ],
      `node ${id} holds each message once, in producer order`,
    );
  }
});

test('a batch retried after its first part committed and its tail was truncated by a failover is sequenced exactly once', (t) => {
  const cluster = electedCluster();
  const oldEpoch = cluster.node('a').currentEpoch;
  // The first half of the batch commits everywhere.
  cluster.propose(
    'a',
    [1, 2].map((n) => proposal('p', n)),
  );
  cluster.settle();
  // The second half reaches only the old sequencer, which is then cut off.
  const isolated = partition(['a']);
  t.like(
    cluster.propose(
      'a',
      [3, 4].map((n) => proposal('p', n)),
    ),
    [
      { kind: 'appended', seq: 4 },
      { kind: 'appended', seq: 5 },
    ],
  );
  cluster.drop(isolated);
  for (let i = 0; i < 10 * TEST_TIMING.electionTimeoutTicks && !cluster.node('b').isLeader; i++) {
    cluster.tickAll(1, isolated);
    if (cluster.node('c').isLeader) break;
  }
  const leader = cluster.node('b').isLeader ? 'b' : 'c';
  t.true(cluster.node(leader).isLeader);
  const epoch = cluster.node(leader).currentEpoch;
  // The publisher retries the whole batch at the new sequencer.
  const results = cluster.propose(
    leader,
    [1, 2, 3, 4].map((n) => proposal('p', n)),
  );
  t.deepEqual(results.slice(0, 2), [
    { kind: 'duplicate', seq: 2, epoch: oldEpoch },
    { kind: 'duplicate', seq: 3, epoch: oldEpoch },
  ]);
  // Seq 4 is the new sequencer's epoch start: the tail follows it.
  t.deepEqual(results.slice(2), [
    { kind: 'appended', seq: 5, epoch },
    { kind: 'appended', seq: 6, epoch },
  ]);
  // Healed, the old sequencer truncates its uncommitted tail (seqs 4 and 5)
  // and takes the new sequencer's entries: every node holds p:1..4 once.
  cluster.settle();
  for (const id of ['a', 'b', 'c']) {
    const store = cluster.store(id);
    t.deepEqual(
      store.entries.filter((e) => e.producerId === 'p').map((e) => [e.seq, e.producerSeq, e.epoch]),
      [
        [2, 1, oldEpoch],
        [3, 2, oldEpoch],
        [5, 3, epoch],
        [6, 4, epoch],
      ],
      `node ${id}`,
    );
  }
});

test('a batch that is all new and fits goes in one step as consecutive seqs; anything else is left to propose, with nothing appended', (t) => {
  const cluster = electedCluster();
  const node = cluster.node('a');
  const epoch = node.currentEpoch;
  const items = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, k) => ({
      producerSeq: from + k,
      topic: `t${k % 2}`,
      payload: Uint8Array.of(from + k),
    }));
  const start = node.lastSeq;
  t.deepEqual(node.proposeRun('p', '', items(1, 3), 1_000), { firstSeq: start + 1, epoch });
  cluster.settle();
  // The dedup table knows the run: a retry of it is a duplicate, message by message.
  t.is(node.proposeRun('p', '', items(2, 3), 1_001), null, 'a duplicate');
  t.is(node.proposeRun('p', '', items(5, 6), 1_001), null, 'a gap after producerSeq 3');
  t.is(node.proposeRun('p', '', [...items(4, 4), ...items(6, 6)], 1_001), null, 'not consecutive');
  t.is(node.proposeRun('p', '', [], 1_001), null, 'nothing to sequence');
  t.is(cluster.node('b').proposeRun('q', '', items(1, 1), 1_001), null, 'not the sequencer');
  t.is(node.lastSeq, start + 3, 'nothing appended by a refused run');
  t.like(cluster.propose('a', [proposal('p', 3)]), [{ kind: 'duplicate', seq: start + 3 }]);
  cluster.settle();
  for (const id of ['a', 'b', 'c']) {
    t.deepEqual(
      entriesOf(cluster, id, 'p').map((e) => [
        e.seq,
        e.producerSeq,
        e.topic,
        e.payload[0],
        e.timestampMs,
      ]),
      [
        [start + 1, 1, 't0', 1, 1_000],
        [start + 2, 2, 't1', 2, 1_000],
        [start + 3, 3, 't0', 3, 1_000],
      ],
      `node ${id} holds the run once`,
    );
  }
});

test('a run whose entries the host makes is taken as the host made them, described by the header the core gives, and deduplicated like any other', (t) => {
  const cluster = electedCluster();
  const node = cluster.node('a');
  const epoch = node.currentEpoch;
  const start = node.lastSeq;
  const headers: RunHeader[] = [];
  let made: Entry[] = [];
  const maker = (header: RunHeader): readonly Entry[] => {
    headers.push(header);
    // Entries that say they share a run are recorded as one.
    const runKey = {};
    made = Array.from({ length: header.count }, (_, k) => ({
      runKey,
      seq: header.firstSeq + k,
      epoch: header.epoch,
      kind: EntryKind.data,
      producerId: header.producerId,
      producerSeq: header.firstProducerSeq + k,
      topic: 'made',
      payload: Uint8Array.of(k),
      timestampMs: header.timestampMs,
      owner: header.owner,
    }));
    return made;
  };
  const items = [1, 2].map((n) => ({ producerSeq: n, topic: 't', payload: Uint8Array.of(n) }));
  t.deepEqual(node.proposeRun('p', 'alice', items, 2_000, maker), { firstSeq: start + 1, epoch });
  t.deepEqual(headers, [
    {
      firstSeq: start + 1,
      count: 2,
      epoch,
      timestampMs: 2_000,
      firstProducerSeq: 1,
      producerId: 'p',
      owner: 'alice',
    },
  ]);
  cluster.process('a');
  const carried = cluster.store('a').readies.flatMap((ready) => ready.entries);
  t.is(
    carried.find((e) => e.seq === start + 1),
    made[0],
    'the Ready carries the objects the host made',
  );
  t.is(
    carried.find((e) => e.seq === start + 2),
    made[1],
  );
  t.is(node.producerOwner('p'), 'alice');
  t.like(
    node.propose(
      [
        { ...proposal('p', 1), owner: 'alice' },
        { ...proposal('p', 2), owner: 'alice' },
      ],
      2_001,
    ),
    [
      { kind: 'duplicate', seq: start + 1 },
      { kind: 'duplicate', seq: start + 2 },
    ],
    'the run is in the dedup table, pair by pair',
  );
  t.is(node.proposeRun('p', 'alice', items, 2_001, maker), null, 'a retry is left to propose');
  t.is(headers.length, 1, 'no entries are made for a refused run');
  // A maker that does not make the run it was asked for breaks the contract: the core stops.
  const wrong = (header: RunHeader): readonly Entry[] => maker(header).slice(1);
  t.throws(
    () =>
      node.proposeRun(
        'p',
        'alice',
        [3, 4].map((n) => ({ ...items[0]!, producerSeq: n })),
        2_002,
        wrong,
      ),
    {
      message: /the entries made for a run are the run/,
    },
  );
});

test('entries that share a run key but are not a run stop the core before they change anything', (t) => {
  const cluster = electedCluster();
  const node = cluster.node('a');
  const start = node.lastSeq;
  const runKey = {};
  const items = [1, 2, 3].map((n) => ({ producerSeq: n, topic: 't', payload: Uint8Array.of(n) }));
  const skipping = (header: RunHeader): readonly Entry[] =>
    items.map((item, k) => ({
      runKey,
      seq: header.firstSeq + k,
      epoch: header.epoch,
      kind: EntryKind.data,
      producerId: header.producerId,
      // The last one skips a producerSeq: not the run its key claims.
      producerSeq: header.firstProducerSeq + k + (k === 2 ? 1 : 0),
      topic: item.topic,
      payload: item.payload,
      timestampMs: header.timestampMs,
    }));
  t.throws(() => node.proposeRun('p', '', items, 3_000, skipping), {
    message: /share a run key are not a run/,
  });
  t.is(node.lastSeq, start, 'nothing appended');
  t.deepEqual(node.propose([proposal('p', 1)], 3_001), [
    { kind: 'appended', seq: start + 1, epoch: node.currentEpoch },
  ]);
});

test('a batch beyond the room left in the uncommitted window is left to propose, which takes what fits', (t) => {
  const cluster = electedCluster(['a', 'b', 'c'], { overrides: { maxUncommittedEntries: 3 } });
  const node = cluster.node('a');
  const batch = [1, 2, 3, 4].map((n) => ({
    producerSeq: n,
    topic: 't',
    payload: Uint8Array.of(n),
  }));
  const start = node.lastSeq;
  t.is(node.proposeRun('p', '', batch, 1_000), null);
  t.is(node.lastSeq, start);
  t.like(
    cluster.propose(
      'a',
      batch.map((item) => proposal('p', item.producerSeq)),
    ),
    [{ kind: 'appended' }, { kind: 'appended' }, { kind: 'appended' }, { kind: 'busy' }],
  );
  t.is(node.proposeRun('p', '', batch.slice(3), 1_001), null, 'the window is full');
  cluster.settle();
  t.not(node.proposeRun('p', '', batch.slice(3), 1_002), null, 'the rest fits once it commits');
});
