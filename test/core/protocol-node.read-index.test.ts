import test from 'ava';
import type { ReadState } from '../../src/core/index.js';
import type { Cluster } from './harness.js';
import { electedCluster, ofType, partition, proposal, TEST_TIMING, to } from './harness.js';

/** Every read index the node settled so far, in order. */
function readStatesOf(cluster: Cluster, id: string): ReadState[] {
  return cluster.store(id).readies.flatMap((ready) => [...ready.readStates]);
}

test('a read index is settled at the commit point it was taken at, once a majority echoed its round', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.settle();
  const leader = cluster.node('a');
  const commitSeq = leader.committedSeq;
  t.is(commitSeq, 3, 'the epoch-start entry and both messages are committed');

  t.deepEqual(leader.requestReadIndex(7), { ok: true });
  cluster.process('a');
  const carried = cluster.queue.filter((e) => e.message.type === 'append');
  t.true(carried.length >= 2, 'the round goes to every follower at once');
  t.true(carried.every((e) => e.message.type === 'append' && e.message.readRound === 1));
  t.deepEqual(readStatesOf(cluster, 'a'), [], 'nothing is settled before any follower answered');

  // A write committed after the read index was taken does not move it.
  cluster.propose('a', [proposal('p', 3)]);
  // Only b answers: with a, that is a majority of three.
  cluster.settle(to('c'));
  t.deepEqual(readStatesOf(cluster, 'a'), [{ token: 7, index: commitSeq }]);
});

test('a read index is never settled without a majority, and a sequencer that steps down answers it with none', (t) => {
  const cluster = electedCluster();
  const leader = cluster.node('a');
  t.deepEqual(leader.requestReadIndex(1), { ok: true });
  t.deepEqual(leader.requestReadIndex(2), { ok: true });
  // a is cut off: its rounds reach nobody.
  cluster.settle(partition(['a']));
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks * 2, partition(['a']));
  t.deepEqual(readStatesOf(cluster, 'a'), []);

  // b and c elect a new sequencer; when a hears of it, both reads end unanswered.
  const others = [cluster.node('b'), cluster.node('c')];
  for (let i = 0; i < 1000 && !others.some((n) => n.isLeader); i++)
    cluster.tickAll(1, partition(['a']));
  t.true(others.some((n) => n.isLeader));
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  t.false(leader.isLeader);
  t.deepEqual(readStatesOf(cluster, 'a'), [
    { token: 1, index: null },
    { token: 2, index: null },
  ]);
});

test('an echo of an earlier round does not confirm a later read index', (t) => {
  const cluster = electedCluster();
  const leader = cluster.node('a');
  t.deepEqual(leader.requestReadIndex(1), { ok: true });
  cluster.settle(to('c'));
  t.deepEqual(readStatesOf(cluster, 'a'), [{ token: 1, index: leader.committedSeq }]);

  t.deepEqual(leader.requestReadIndex(2), { ok: true });
  cluster.process('a');
  // The appends of round 2 are lost; an ack that echoes round 1 arrives.
  cluster.drop(ofType('append'));
  const ack = (readRound: number) => ({
    type: 'ack' as const,
    epoch: leader.currentEpoch,
    from: 'b',
    matchSeq: leader.lastSeq,
    reject: false,
    hintSeq: 0,
    hintEpoch: 0,
    readRound,
  });
  leader.step(ack(1));
  cluster.process('a');
  t.is(readStatesOf(cluster, 'a').length, 1, 'round 2 waits for an echo of round 2');
  leader.step(ack(2));
  cluster.process('a');
  t.deepEqual(readStatesOf(cluster, 'a').at(-1), { token: 2, index: leader.committedSeq });
});

test('a follower, and a sequencer that has not committed an entry of its epoch, refuse a read index', (t) => {
  const cluster = electedCluster();
  const refusal = cluster.node('b').requestReadIndex(1);
  t.false(refusal.ok);
  t.regex(!refusal.ok ? refusal.reason : '', /not the sequencer \(leader is a\)/);

  // c takes over while every ack is lost, so its epoch-start entry stays uncommitted.
  t.deepEqual(cluster.node('a').transferLeadership('c'), { ok: true });
  cluster.settle(ofType('ack'));
  t.true(cluster.node('c').isLeader);
  const early = cluster.node('c').requestReadIndex(2);
  t.false(early.ok);
  t.regex(!early.ok ? early.reason : '', /not yet committed an entry of its epoch/);
  t.true(!early.ok && early.retriable);
});
