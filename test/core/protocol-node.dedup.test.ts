import test from 'ava';
import { takeReady } from './fixtures.js';
import {
  append,
  dataEntry,
  electedCluster,
  epochStartEntry,
  newNode,
  partition,
  proposal,
  recoveredFrom,
  TEST_TIMING,
  to,
  winElection,
} from './harness.js';

const MEMBERS = ['a', 'b', 'c'];

test('a retried (producerId, producerSeq) is not appended twice and reports the original seq and epoch', (t) => {
  const cluster = electedCluster();
  const epoch = cluster.node('a').currentEpoch;
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.settle();
  const results = cluster.propose('a', [proposal('p', 1), proposal('p', 3), proposal('p', 3)]);
  t.deepEqual(results, [
    { kind: 'duplicate', seq: 2, epoch },
    { kind: 'appended', seq: 4, epoch },
    { kind: 'duplicate', seq: 4, epoch },
  ]);
  t.is(cluster.store('a').lastSeq, 4);
});

test('a producerSeq that skips ahead is refused with the one expected next', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1)]);
  t.deepEqual(cluster.propose('a', [proposal('p', 3)]), [
    { kind: 'outOfOrder', expectedProducerSeq: 2 },
  ]);
  t.is(cluster.node('a').lastSeq, 2);
  t.like(cluster.propose('a', [proposal('p', 2)])[0], { kind: 'appended', seq: 3 });
});

test('a retry older than the remembered history is still refused, without a seq', (t) => {
  const cluster = electedCluster(['a', 'b', 'c'], { overrides: { maxProducerHistoryEntries: 2 } });
  cluster.propose(
    'a',
    [1, 2, 3].map((n) => proposal('p', n)),
  );
  t.deepEqual(cluster.propose('a', [proposal('p', 1)]), [
    { kind: 'duplicate', seq: null, epoch: null },
  ]);
  t.is(cluster.node('a').lastSeq, 4);
});

test('a new sequencer refuses a retry of what the old one sequenced, committed or not', (t) => {
  const cluster = electedCluster();
  const oldEpoch = cluster.node('a').currentEpoch;
  cluster.propose('a', [proposal('p', 1)]);
  cluster.settle();
  // p:2 reaches only b; then a is cut off and never commits it.
  cluster.propose('a', [proposal('p', 2)]);
  cluster.deliver(to('b'));
  const isolated = partition(['a']);
  cluster.drop(isolated);
  for (let i = 0; i < 10 * TEST_TIMING.electionTimeoutTicks && !cluster.node('b').isLeader; i++) {
    cluster.tickAll(1, isolated);
  }
  t.true(cluster.node('b').isLeader, 'b holds the longer log, so c cannot win');

  const results = cluster.propose('b', [proposal('p', 1), proposal('p', 2), proposal('p', 3)]);
  t.deepEqual(results.slice(0, 2), [
    { kind: 'duplicate', seq: 2, epoch: oldEpoch },
    { kind: 'duplicate', seq: 3, epoch: oldEpoch },
  ]);
  t.like(results[2], { kind: 'appended', seq: 5 });
  t.is(
    cluster.store('b').entries.filter((e) => e.producerId === 'p').length,
    3,
    'each message is in the log once',
  );
});

test('a node that truncates a divergent suffix forgets the producer messages it removed', (t) => {
  // a sequenced p:1 and p:2 in epoch 1 but only p:1 (seq 2) committed; b of epoch 2 wrote its epoch start at seq 3.
  const log = [epochStartEntry(1, 1), dataEntry(2, 1, 'p', 1), dataEntry(3, 1, 'p', 2)];
  const node = newNode('a', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 2 }));
  node.step(
    append({
      from: 'b',
      epoch: 2,
      prevSeq: 2,
      prevEpoch: 1,
      entries: [epochStartEntry(3, 2)],
      commitSeq: 3,
    }),
  );
  t.is(takeReady(node).truncateAfter, 2);

  winElection(node, ['c']);
  const epoch = node.currentEpoch;
  t.deepEqual(node.propose([proposal('p', 1), proposal('p', 2)], 0), [
    { kind: 'duplicate', seq: 2, epoch: 1 },
    { kind: 'appended', seq: 5, epoch },
  ]);
});

test('a node restarted from its log rebuilds the dedup table from the entries it recovered', (t) => {
  const log = [epochStartEntry(1, 1), dataEntry(2, 1, 'p', 5), dataEntry(3, 1, 'q', 1)];
  const node = newNode('a', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 3 }));
  winElection(node, ['b']);
  t.deepEqual(node.propose([proposal('p', 5), proposal('p', 7), proposal('q', 1)], 0), [
    { kind: 'duplicate', seq: 2, epoch: 1 },
    { kind: 'outOfOrder', expectedProducerSeq: 6 },
    { kind: 'duplicate', seq: 3, epoch: 1 },
  ]);
});

test('a follower that remembers a producer further than the sequencer did still takes the sequencer entries', (t) => {
  // The sequencer had forgotten p (its table is bounded) and sequenced it again from 1.
  const log = [epochStartEntry(1, 1), dataEntry(2, 1, 'p', 1), dataEntry(3, 1, 'p', 2)];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 3 }));
  node.step(
    append({
      from: 'a',
      epoch: 2,
      prevSeq: 3,
      prevEpoch: 1,
      entries: [dataEntry(4, 2, 'p', 1)],
      commitSeq: 4,
    }),
  );
  const ready = takeReady(node);
  t.deepEqual(
    ready.entries.map((e) => e.seq),
    [4],
  );
  t.deepEqual(ready.committed, { fromSeq: 4, toSeq: 4 });

  // A restart that rebuilds the table from that log does not stop the node either.
  const restarted = newNode(
    'b',
    MEMBERS,
    {},
    recoveredFrom([...log, dataEntry(4, 2, 'p', 1)], { epoch: 2, commitSeq: 4 }),
  );
  winElection(restarted, ['c']);
  t.deepEqual(restarted.propose([proposal('p', 1), proposal('p', 2)], 0), [
    { kind: 'duplicate', seq: 4, epoch: 2 },
    { kind: 'appended', seq: 6, epoch: restarted.currentEpoch },
  ]);
});

test('a node whose log was reset forgets the producers it knew, so a retry is never taken for new', (t) => {
  // b holds p#1..2 at seqs 1..2 (uncommitted there), then learns that the
  // sequencer's log starts after seq 10, where p#3 may already be.
  const log = [dataEntry(1, 1, 'p', 1), dataEntry(2, 1, 'p', 2)];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 1 }));
  node.step(
    append({ from: 'a', epoch: 1, prevSeq: 10, prevEpoch: 1, commitSeq: 10, logStart: true }),
  );
  t.deepEqual(takeReady(node).resetLogAfter, { seq: 10, epoch: 1 });
  winElection(node, ['c']);
  t.deepEqual(node.propose([proposal('p', 3)], 0), [
    { kind: 'outOfOrder', expectedProducerSeq: 1 },
  ]);
});

test('a follower holding other, uncommitted entries where the sequencer log starts restarts its log there', (t) => {
  // b holds seqs 1..4 committed and 5..6 from epoch 2, never committed; the
  // sequencer of epoch 3 dropped everything up to seq 5 (epoch 1 there) by
  // retention. Its log start cannot be matched by probing: b must start its
  // log after seq 5, or it would never catch up.
  const log = [
    dataEntry(1, 1, 'p', 1),
    dataEntry(2, 1, 'p', 2),
    dataEntry(3, 1, 'p', 3),
    dataEntry(4, 1, 'p', 4),
    dataEntry(5, 2, 'q', 1),
    dataEntry(6, 2, 'q', 2),
  ];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 2, commitSeq: 4 }));
  node.step(
    append({ from: 'a', epoch: 3, prevSeq: 5, prevEpoch: 1, commitSeq: 7, logStart: true }),
  );
  const ready = takeReady(node);
  t.deepEqual(ready.resetLogAfter, { seq: 5, epoch: 1 });
  t.is(node.status().commitSeq, 5);
  t.is(node.status().lastSeq, 5);
});

test('a log-start append that matches the follower at its start leaves the log as it is', (t) => {
  const log = [dataEntry(1, 1, 'p', 1), dataEntry(2, 1, 'p', 2), dataEntry(3, 1, 'p', 3)];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 1 }));
  node.step(
    append({ from: 'a', epoch: 2, prevSeq: 2, prevEpoch: 1, commitSeq: 3, logStart: true }),
  );
  t.is(takeReady(node).resetLogAfter, null);
  t.is(node.status().lastSeq, 3);
});
