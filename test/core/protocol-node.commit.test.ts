import test from 'ava';
import type { AckMessage } from '../../src/core/types.js';
import { takeReady } from './fixtures.js';
import {
  append,
  dataEntry,
  electedCluster,
  epochStartEntry,
  from,
  messagesOf,
  newNode,
  proposal,
  recoveredFrom,
  TEST_TIMING,
  to,
  winElection,
} from './harness.js';

const MEMBERS = ['a', 'b', 'c'];

const ack = (from: string, epoch: number, matchSeq: number): AckMessage => ({
  type: 'ack',
  epoch,
  from,
  matchSeq,
  reject: false,
  hintSeq: 0,
  hintEpoch: 0,
});

test('the sequencer commits an entry only once a majority of members acknowledged it', (t) => {
  const cluster = electedCluster(['a', 'b', 'c', 'd', 'e']);
  cluster.propose('a', [proposal('p', 1)]);
  const leader = cluster.node('a');

  cluster.deliver(to('b'));
  cluster.deliver(from('b'));
  t.is(leader.committedSeq, 1, 'the sequencer and one follower are not a majority of five');
  t.false(cluster.store('a').delivered.includes(2));

  cluster.deliver(to('c'));
  cluster.deliver(from('c'));
  t.is(leader.committedSeq, 2);
  t.deepEqual(cluster.store('a').delivered, [1, 2]);
});

test('an acknowledgement never counts for more than the sequencer holds', (t) => {
  const leader = newNode('a', MEMBERS);
  winElection(leader, ['b']);
  takeReady(leader);
  takeReady(leader);
  const epoch = leader.currentEpoch;
  // A confused follower claims seqs the sequencer never wrote.
  leader.step(ack('b', epoch, 50));
  takeReady(leader);
  t.is(leader.committedSeq, 1);
  t.is(leader.status().peers.find((p) => p.id === 'b')?.matchSeq, 1);
});

test('an entry of an earlier epoch is not committed by counting replicas, only with an entry of the current epoch', (t) => {
  // a holds seq 2 from epoch 2, never committed; it wins epoch 3 and writes its epoch-start entry at seq 3.
  const log = [dataEntry(1, 1), dataEntry(2, 2)];
  const leader = newNode('a', MEMBERS, {}, recoveredFrom(log, { epoch: 2, commitSeq: 1 }));
  winElection(leader, ['b']);
  const epoch = leader.currentEpoch;
  t.is(epoch, 3);
  t.deepEqual(
    takeReady(leader).entries.map((e) => [e.seq, e.epoch, e.kind]),
    [[3, 3, epochStartEntry(3, 3).kind]],
  );
  takeReady(leader);

  leader.step(ack('b', epoch, 2));
  t.is(takeReady(leader).committed, null, 'a majority holds seq 2, but it is from epoch 2');
  t.is(leader.committedSeq, 1);

  leader.step(ack('b', epoch, 3));
  t.deepEqual(takeReady(leader).committed, { fromSeq: 2, toSeq: 3 });
});

test('a follower learns the commit point from batches and from heartbeats', (t) => {
  const node = newNode('b', MEMBERS);
  node.step(
    append({
      from: 'a',
      epoch: 1,
      entries: [epochStartEntry(1, 1), dataEntry(2, 1), dataEntry(3, 1)],
      commitSeq: 1,
    }),
  );
  t.deepEqual(takeReady(node).committed, { fromSeq: 1, toSeq: 1 });
  node.step(append({ from: 'a', epoch: 1, prevSeq: 3, prevEpoch: 1, commitSeq: 3 }));
  t.deepEqual(takeReady(node).committed, { fromSeq: 2, toSeq: 3 });
  t.is(node.committedSeq, 3);
});

test('a follower never commits past what it verified matches the sequencer log', (t) => {
  // b holds seqs 2 and 3 from epoch 1 (uncommitted); sequencer c of epoch 2 wrote different ones there.
  const log = [dataEntry(1, 1), dataEntry(2, 1), dataEntry(3, 1)];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 1 }));

  node.step(append({ from: 'c', epoch: 2, prevSeq: 3, prevEpoch: 2, commitSeq: 3 }));
  let ready = takeReady(node);
  t.is(ready.committed, null, 'a heartbeat that does not match commits nothing');
  t.deepEqual(
    messagesOf(ready, 'ack').map((a) => [a.reject, a.matchSeq]),
    [[true, 1]],
  );

  node.step(
    append({
      from: 'c',
      epoch: 2,
      prevSeq: 0,
      prevEpoch: 0,
      entries: [dataEntry(1, 1)],
      commitSeq: 3,
    }),
  );
  ready = takeReady(node);
  t.is(ready.committed, null, 'only seq 1 is known to match');
  t.is(node.committedSeq, 1);
  t.deepEqual(
    messagesOf(ready, 'ack').map((a) => a.matchSeq),
    [1],
  );

  node.step(
    append({
      from: 'c',
      epoch: 2,
      prevSeq: 1,
      prevEpoch: 1,
      entries: [epochStartEntry(2, 2), dataEntry(3, 2)],
      commitSeq: 3,
    }),
  );
  ready = takeReady(node);
  t.is(ready.truncateAfter, 1);
  t.deepEqual(ready.committed, { fromSeq: 2, toSeq: 3 });
});

test('a Ready that moves the commit point carries it in its hard state, on the sequencer and on followers', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  for (const id of MEMBERS) {
    t.is(cluster.node(id).committedSeq, 3, id);
    t.is(cluster.store(id).hardState.commitSeq, 3, `${id} persisted its commit point`);
    for (const ready of cluster.store(id).readies) {
      if (ready.committed !== null) t.is(ready.hardState?.commitSeq, ready.committed.toSeq, id);
    }
  }
});

test('a node restarted from its store delivers nothing it delivered before the crash', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  t.deepEqual(cluster.store('b').delivered, [1, 2, 3]);
  cluster.restart('b');
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks * 2);
  t.deepEqual(cluster.store('b').delivered, [1, 2, 3]);
});

test('an empty append that only moves the commit point is marked a commit notice; one carrying a read round or a transfer is not', (t) => {
  const leader = newNode('a', MEMBERS);
  winElection(leader, ['b']);
  takeReady(leader);
  leader.step(ack('b', leader.currentEpoch, 1));
  takeReady(leader);
  const epoch = leader.currentEpoch;
  const multicastOf = (ready: ReturnType<typeof takeReady>) =>
    ready.messages.filter((m) => m.to === null && m.message.type === 'append');

  leader.propose([proposal('p', 1)], 0);
  t.deepEqual(
    multicastOf(takeReady(leader)).map((m) => m.commitNotice),
    [undefined],
    'an append with entries is never held',
  );
  leader.step(ack('b', epoch, 2));
  const commitOnly = multicastOf(takeReady(leader));
  t.is(commitOnly.length, 1);
  t.is(commitOnly[0]!.commitNotice, true);
  t.is((commitOnly[0]!.message as { commitSeq: number }).commitSeq, 2);

  leader.propose([proposal('p', 2)], 0);
  takeReady(leader);
  t.true(leader.requestReadIndex(7).ok);
  leader.step(ack('b', epoch, 3));
  const withRead = multicastOf(takeReady(leader));
  t.is(withRead.length, 1);
  t.is(withRead[0]!.commitNotice, undefined, 'a read round must reach the followers at once');

  leader.propose([proposal('p', 3)], 0);
  takeReady(leader);
  t.true(leader.transferLeadership('c').ok);
  takeReady(leader);
  leader.step(ack('b', epoch, 4));
  const duringTransfer = multicastOf(takeReady(leader));
  t.true(duringTransfer.length >= 1);
  t.true(
    duringTransfer.every((m) => m.commitNotice === undefined),
    'a transfer must reach the followers at once',
  );
});
