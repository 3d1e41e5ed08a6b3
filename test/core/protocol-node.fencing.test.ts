/**
 * Input no member following the protocol sends (a faulty member, or a frame
 * forged under a member's name) is refused: step() says why, and the node's
 * epoch, role, sequencer and log stay as they were. Nothing here may stop
 * the node.
 */
import test from 'ava';
import { takeReady } from './fixtures.js';
import {
  append,
  dataEntry,
  electedCluster,
  newNode,
  ofType,
  proposal,
  TEST_TIMING,
  to,
} from './harness.js';

const MEMBERS = ['a', 'b', 'c'];

/** The parts of a node's state a refused message must leave alone. */
function snapshot(cluster: ReturnType<typeof electedCluster>, id: string) {
  const s = cluster.node(id).status();
  return {
    role: s.role,
    epoch: s.epoch,
    leaderId: s.leaderId,
    lastSeq: s.lastSeq,
    commitSeq: s.commitSeq,
    entries: cluster.store(id).entries.map((e) => [e.seq, e.epoch, e.producerId]),
  };
}

test('an append in the current epoch from a node that is not its sequencer is refused, on the sequencer and on a follower', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1)]);
  cluster.settle();
  const epoch = cluster.node('a').currentEpoch;
  const before = { a: snapshot(cluster, 'a'), c: snapshot(cluster, 'c') };
  const forged = append({
    from: 'b',
    epoch,
    prevSeq: 2,
    prevEpoch: epoch,
    entries: [dataEntry(3, epoch, 'intruder')],
    commitSeq: 3,
  });

  const onSequencer = cluster.node('a').step(forged);
  t.regex(onSequencer ?? '', /append from b in epoch \d+, in which this node is the sequencer/);
  const onFollower = cluster.node('c').step(forged);
  t.regex(onFollower ?? '', /append from b in epoch \d+, whose sequencer is a/);
  cluster.processAll();
  t.deepEqual(snapshot(cluster, 'a'), before.a);
  t.deepEqual(snapshot(cluster, 'c'), before.c);

  // The cluster carries on under its sequencer.
  t.like(cluster.propose('a', [proposal('p', 2)])[0], { kind: 'appended', seq: 3 });
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  for (const id of MEMBERS) {
    t.deepEqual(
      cluster.store(id).entries.map((e) => e.producerId),
      ['', 'p', 'p'],
      id,
    );
  }
});

test('a timeoutNow ahead of the epoch, or from a node that is not the sequencer, is refused and starts no election', (t) => {
  const cluster = electedCluster();
  const epoch = cluster.node('a').currentEpoch;
  const before = snapshot(cluster, 'b');
  t.regex(
    cluster.node('b').step({ type: 'timeoutNow', epoch: epoch + 5, from: 'a' }) ?? '',
    /timeoutNow from a in epoch \d+, ahead of this node's/,
  );
  t.regex(
    cluster.node('b').step({ type: 'timeoutNow', epoch, from: 'c' }) ?? '',
    /whose sequencer is a/,
  );
  t.regex(
    cluster.node('a').step({ type: 'timeoutNow', epoch, from: 'c' }) ?? '',
    /in which this node is the sequencer/,
  );
  cluster.processAll();
  t.deepEqual(snapshot(cluster, 'b'), before);
  t.deepEqual(cluster.take(ofType('voteRequest')), []);
  t.true(cluster.node('a').isLeader);
});

test('a transfer campaign the sequencer did not announce is refused by the sequencer and by voters in their lease', (t) => {
  const cluster = electedCluster();
  const epoch = cluster.node('a').currentEpoch;
  const campaign = {
    type: 'voteRequest' as const,
    epoch: epoch + 1,
    from: 'c',
    lastSeq: cluster.node('c').lastSeq,
    lastEpoch: epoch,
    preVote: false,
    transfer: true,
  };
  const before = { a: snapshot(cluster, 'a'), b: snapshot(cluster, 'b') };
  t.regex(cluster.node('a').step(campaign) ?? '', /transfer campaign by c .* did not announce/);
  t.regex(cluster.node('b').step(campaign) ?? '', /transfer campaign by c .* did not announce/);
  cluster.processAll();
  t.deepEqual(snapshot(cluster, 'a'), before.a);
  t.deepEqual(snapshot(cluster, 'b'), before.b);
  t.deepEqual(cluster.take(ofType('voteResponse')), []);

  // Announced, the same campaign is granted.
  cluster.node('a').transferLeadership('c');
  cluster.process('a');
  cluster.drop(ofType('timeoutNow'));
  cluster.deliver(to('b'));
  t.is(cluster.node('b').step(campaign), null);
  const ready = takeReady(cluster.node('b'));
  t.deepEqual(
    ready.messages.filter((m) => m.message.type === 'voteResponse').map((m) => m.message),
    [{ type: 'voteResponse', epoch: epoch + 1, from: 'b', granted: true, preVote: false }],
  );
});

test('a node that has not heard from any sequencer votes as usual, transfer flag or not', (t) => {
  const voter = newNode('b', MEMBERS);
  t.is(
    voter.step({
      type: 'voteRequest',
      epoch: 1,
      from: 'c',
      lastSeq: 0,
      lastEpoch: 0,
      preVote: false,
      transfer: true,
    }),
    null,
  );
  t.is(voter.status().votedFor, 'c');
});

test('an election message from outside the membership, or one naming this node, is refused', (t) => {
  const node = newNode('b', MEMBERS);
  const request = {
    type: 'voteRequest' as const,
    epoch: 5,
    from: 'x',
    lastSeq: 0,
    lastEpoch: 0,
    preVote: false,
    transfer: false,
  };
  t.regex(node.step(request) ?? '', /voteRequest from x, which is not a member/);
  t.regex(
    node.step({ type: 'timeoutNow', epoch: 1, from: 'x' }) ?? '',
    /timeoutNow from x, which is not a member/,
  );
  t.regex(node.step(append({ from: 'b', epoch: 1 })) ?? '', /names this node as its sender/);
  t.is(node.currentEpoch, 0, 'no refused message moves the epoch');
  t.false(node.hasReady());
});

test('in a five-node cluster the announced transfer target still wins at once: the followers in their lease grant it', (t) => {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const cluster = electedCluster(ids);
  const epoch = cluster.node('a').currentEpoch;
  t.deepEqual(cluster.node('a').transferLeadership('e'), { ok: true });
  cluster.settle();
  t.true(cluster.node('e').isLeader);
  t.is(cluster.node('e').currentEpoch, epoch + 1);
  for (const id of ids) t.is(cluster.node(id).currentLeader, 'e', id);
});
