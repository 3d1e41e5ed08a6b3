import test from 'ava';
import { takeReady } from './fixtures.js';
import {
  append,
  dataEntry,
  electedCluster,
  messagesOf,
  newNode,
  ofType,
  partition,
  proposal,
  TEST_TIMING,
  to,
} from './harness.js';

const MEMBERS = ['a', 'b', 'c'];
const TIMEOUT = TEST_TIMING.electionTimeoutTicks;

test('the sequencer sends timeoutNow only once the target has acknowledged its whole log', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.settle(to('c'));
  t.is(cluster.node('c').lastSeq, 1);
  const leader = cluster.node('a');
  t.deepEqual(leader.transferLeadership('c'), { ok: true });
  cluster.process('a');
  t.false(
    cluster.queue.some((e) => e.message.type === 'timeoutNow'),
    'c lags, so it is not told to campaign yet',
  );

  // A heartbeat shows c the gap; it repairs it and acknowledges everything.
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  const timeoutNowAt = cluster.sent.findIndex((e) => e.message.type === 'timeoutNow');
  const caughtUpAt = cluster.sent.findIndex(
    (e) => e.from === 'c' && e.message.type === 'ack' && e.message.matchSeq === 3,
  );
  t.true(caughtUpAt >= 0 && timeoutNowAt > caughtUpAt);
  t.is(cluster.sent[timeoutNowAt]?.to, 'c');
});

test('proposals answer busy transferring while a transfer is under way', (t) => {
  const cluster = electedCluster();
  cluster.node('a').transferLeadership('b');
  cluster.process('a');
  // The timeoutNow is lost, so the transfer stays under way. The heartbeat
  // that announces the hand-over to the other followers goes with it.
  t.deepEqual(
    cluster
      .take()
      .map((e) => [e.message.type, e.to, e.message.type === 'append' && e.message.transferTo]),
    [
      ['timeoutNow', 'b', false],
      ['append', 'b', 'b'],
      ['append', 'c', 'b'],
    ],
  );
  t.deepEqual(cluster.propose('a', [proposal('p', 1)]), [{ kind: 'busy', reason: 'transferring' }]);
  t.is(cluster.node('a').status().transferTarget, 'b');
  t.is(cluster.node('a').lastSeq, 1);
});

test('the target campaigns at once on timeoutNow, skipping the pre-vote, and flags its requests as a transfer', (t) => {
  const node = newNode('b', MEMBERS);
  node.step(append({ from: 'a', epoch: 1, entries: [dataEntry(1, 1)] }));
  takeReady(node);
  node.step({ type: 'timeoutNow', epoch: 1, from: 'a' });
  const ready = takeReady(node);
  t.is(node.status().role, 'candidate');
  t.is(node.currentEpoch, 2);
  t.deepEqual(ready.hardState, { epoch: 2, votedFor: 'b', commitSeq: 0 });
  const requests = messagesOf(ready, 'voteRequest');
  t.is(requests.length, 2);
  for (const request of requests)
    t.like(request, { epoch: 2, preVote: false, transfer: true, lastSeq: 1 });
});

test('a timeoutNow from a node that is not the sequencer is ignored', (t) => {
  const node = newNode('b', MEMBERS);
  node.step(append({ from: 'a', epoch: 1, entries: [dataEntry(1, 1)] }));
  takeReady(node);
  node.step({ type: 'timeoutNow', epoch: 1, from: 'c' });
  t.is(node.status().role, 'follower');
  t.is(node.currentEpoch, 1);
});

test('a voter in its lease still grants a vote to a transfer campaign its sequencer announced', (t) => {
  const voter = newNode('c', MEMBERS);
  voter.step(append({ from: 'a', epoch: 1, entries: [dataEntry(1, 1)], transferTo: 'b' }));
  takeReady(voter);
  voter.step({
    type: 'voteRequest',
    epoch: 2,
    from: 'b',
    lastSeq: 1,
    lastEpoch: 1,
    preVote: false,
    transfer: true,
  });
  t.deepEqual(
    messagesOf(takeReady(voter), 'voteResponse').map((r) => [r.epoch, r.granted]),
    [[2, true]],
  );
});

test('the target of a transfer wins without waiting for an election timeout', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1)]);
  cluster.settle();
  const epoch = cluster.node('a').currentEpoch;
  t.deepEqual(cluster.node('a').transferLeadership('c'), { ok: true });
  cluster.settle();
  t.true(cluster.node('c').isLeader);
  t.is(cluster.node('c').currentEpoch, epoch + 1);
  t.false(cluster.node('a').isLeader);
  t.is(cluster.node('a').currentLeader, 'c');
  t.is(cluster.node('b').currentLeader, 'c');

  // The new sequencer sequences at once, and nothing the old one committed is lost.
  t.like(cluster.propose('c', [proposal('p', 2)])[0], {
    kind: 'appended',
    seq: 4,
    epoch: epoch + 1,
  });
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  for (const id of MEMBERS) t.deepEqual(cluster.store(id).delivered, [1, 2, 3, 4], id);
});

test('a transfer that has not finished within an election timeout is abandoned', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1)]);
  const cutOff = partition(['c']);
  cluster.settle(cutOff);
  cluster.node('a').transferLeadership('c');
  for (let i = 1; i < TIMEOUT; i++) {
    cluster.tickAll(1, cutOff);
    t.is(cluster.node('a').status().transferTarget, 'c', `tick ${i}`);
  }
  t.deepEqual(cluster.propose('a', [proposal('p', 2)]), [{ kind: 'busy', reason: 'transferring' }]);
  cluster.tickAll(1, cutOff);
  t.is(cluster.node('a').status().transferTarget, null);
  t.true(cluster.node('a').isLeader);
  t.like(cluster.propose('a', [proposal('p', 2)])[0], { kind: 'appended' });
});

test('transferLeadership refuses on a node that is not the sequencer, and for a target that is not a peer', (t) => {
  const cluster = electedCluster();
  t.like(cluster.node('b').transferLeadership('c'), { ok: false });
  t.like(cluster.node('a').transferLeadership('z'), { ok: false });
  t.like(cluster.node('a').transferLeadership('a'), { ok: false });
  t.is(cluster.node('a').status().transferTarget, null);
  t.deepEqual(
    cluster.take(ofType('timeoutNow')).map((e) => e.to),
    [],
  );
});

test('a lost timeoutNow is sent again when the caught-up target next acknowledges', (t) => {
  const cluster = electedCluster();
  cluster.node('a').transferLeadership('c');
  cluster.process('a');
  t.is(cluster.drop(ofType('timeoutNow')), 1);
  // The next heartbeat round: c acknowledges the same log again.
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  t.true(cluster.node('c').isLeader);
  t.is(cluster.node('a').currentLeader, 'c');
});
