import test from 'ava';
import { takeReady } from './fixtures.js';
import {
  append,
  Cluster,
  dataEntry,
  electedCluster,
  epochStartEntry,
  messagesOf,
  newNode,
  partition,
  proposal,
  recoveredFrom,
  scriptedRandom,
  TEST_TIMING,
  winElection,
} from './harness.js';

const MEMBERS = ['a', 'b', 'c'];
const TIMEOUT = TEST_TIMING.electionTimeoutTicks;

test('votes go to the most up-to-date log: a node that missed entries cannot become sequencer', (t) => {
  // c times out first (random 0), b last (random 0.99). Without check-quorum there is no
  // lease, so b answers c's campaign and refuses it for its log alone.
  const randoms: Record<string, number> = { a: 0.5, b: 0.99, c: 0 };
  const cluster = electedCluster(MEMBERS, {
    random: (id) => scriptedRandom(randoms[id]!),
    overrides: { checkQuorum: false },
  });
  cluster.propose('a', [proposal('p', 1)]);
  cluster.deliver((e) => e.to === 'b');
  const isolated = partition(['a']);
  cluster.drop(isolated);
  let cCampaigned = false;
  for (let i = 0; i < 10 * TIMEOUT && !cluster.node('b').isLeader; i++) {
    cluster.tickAll(1, isolated);
    cCampaigned ||= cluster.sent.some((e) => e.from === 'c' && e.message.type === 'voteRequest');
    t.false(cluster.node('c').isLeader);
  }
  t.true(cCampaigned, 'c campaigned first');
  t.true(
    cluster.sent.some(
      (e) =>
        e.from === 'b' && e.to === 'c' && e.message.type === 'voteResponse' && !e.message.granted,
    ),
    'b refused c',
  );
  t.true(cluster.node('b').isLeader);
  t.is(cluster.store('c').entries[1]?.producerId, 'p', 'c received the entry from b');
});

test('a rejoining partitioned node does not disrupt a healthy sequencer', (t) => {
  const cluster = electedCluster();
  const epoch = cluster.node('a').currentEpoch;
  const isolated = partition(['c']);
  cluster.tickAll(TIMEOUT * 5, isolated);
  t.true(
    cluster.sent.some((e) => e.from === 'c' && e.message.type === 'voteRequest'),
    'c campaigned alone',
  );
  t.is(cluster.node('c').currentEpoch, epoch, 'pre-votes kept c at its epoch');

  // Heal: c's next campaign reaches the others, who heard from a recently and ignore it.
  const sentBefore = cluster.sent.length;
  for (let i = 0; i < 2 * TIMEOUT && cluster.queue.length === 0; i++) cluster.tick('c');
  t.true(cluster.queue.length > 0 && cluster.queue.every((e) => e.message.type === 'voteRequest'));
  cluster.settle();
  t.false(
    cluster.sent
      .slice(sentBefore)
      .some((e) => e.message.type === 'voteResponse' && e.message.granted),
    'nobody granted c a vote',
  );
  cluster.tickAll(TIMEOUT * 3);
  t.true(cluster.node('a').isLeader);
  t.is(cluster.node('a').currentEpoch, epoch);
  t.is(cluster.node('c').currentLeader, 'a');
  cluster.propose('a', [proposal('p', 1)]);
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  t.deepEqual(cluster.store('c').entries, cluster.store('a').entries);
});

test('check-quorum makes a sequencer that hears from no majority step down within two election timeouts', (t) => {
  const cluster = electedCluster();
  cluster.tickAll(TIMEOUT * 2, partition(['a']));
  t.false(cluster.node('a').isLeader);
  t.is(cluster.node('a').currentLeader, null);
  t.deepEqual(cluster.propose('a', [proposal('p', 1)]), [{ kind: 'notLeader', leaderId: null }]);
});

test('a sequencer that hears from a majority keeps its role', (t) => {
  const cluster = electedCluster();
  const epoch = cluster.node('a').currentEpoch;
  cluster.tickAll(TIMEOUT * 5, partition(['c']));
  t.true(cluster.node('a').isLeader);
  t.is(cluster.node('a').currentEpoch, epoch);
});

test('a deposed sequencer that hears a higher epoch steps down, its stale appends are rejected and its suffix truncated', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1)]);
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  const oldEpoch = cluster.node('a').currentEpoch;
  const committedBefore = cluster.node('a').committedSeq;
  t.is(committedBefore, 2);

  // a is cut off (and does not tick, so check-quorum does not save it); b and c elect a new sequencer.
  const isolated = partition(['a']);
  for (
    let i = 0;
    i < 10 * TIMEOUT && !cluster.node('b').isLeader && !cluster.node('c').isLeader;
    i++
  ) {
    cluster.tick('b');
    cluster.tick('c');
    cluster.settle(isolated);
  }
  const leader = cluster.node('b').isLeader ? 'b' : 'c';
  const follower = leader === 'b' ? 'c' : 'b';
  const newEpoch = cluster.node(leader).currentEpoch;
  t.true(newEpoch > oldEpoch);
  cluster.settle(isolated);
  t.true(cluster.node('a').isLeader, 'a does not know yet');

  // The deposed sequencer still sequences; its batch reaches the others.
  t.like(cluster.propose('a', [proposal('q', 1)])[0], {
    kind: 'appended',
    seq: 3,
    epoch: oldEpoch,
  });
  const followerLogBefore = [...cluster.store(follower).entries];
  cluster.deliver((e) => e.from === 'a');
  t.deepEqual(
    cluster.store(follower).entries,
    followerLogBefore,
    'the stale batch was not appended',
  );
  const answers = cluster.queue.filter((e) => e.to === 'a');
  t.true(answers.length >= 1);
  for (const { message } of answers)
    t.like(message, { type: 'ack', epoch: newEpoch, reject: true });

  cluster.deliver((e) => e.to === 'a');
  t.false(cluster.node('a').isLeader);
  t.is(cluster.node('a').currentEpoch, newEpoch);
  t.is(
    cluster.node('a').committedSeq,
    committedBefore,
    'the deposed sequencer committed nothing more',
  );

  // Once a hears from the new sequencer it drops the entry nobody else has.
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks * 2);
  const truncations = cluster
    .store('a')
    .readies.map((r) => r.truncateAfter)
    .filter((x) => x !== null);
  t.deepEqual(truncations, [2]);
  t.deepEqual(cluster.store('a').entries, cluster.store(leader).entries);
  t.false(cluster.store('a').entries.some((e) => e.producerId === 'q'));
});

test('a follower truncates a divergent uncommitted suffix, and the Ready that does it carries truncateAfter', (t) => {
  const log = [dataEntry(1, 1), dataEntry(2, 1), dataEntry(3, 1), dataEntry(4, 1)];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 1 }));
  node.step(
    append({
      from: 'c',
      epoch: 2,
      prevSeq: 2,
      prevEpoch: 1,
      entries: [dataEntry(3, 2, 'x', 1)],
      commitSeq: 1,
    }),
  );
  const ready = takeReady(node);
  t.is(ready.truncateAfter, 2);
  t.deepEqual(
    ready.entries.map((e) => [e.seq, e.epoch]),
    [[3, 2]],
  );
  t.is(node.lastSeq, 3);
  t.is(node.epochAt(3), 2);
  t.deepEqual(
    messagesOf(ready, 'ack').map((a) => [a.reject, a.matchSeq]),
    [[false, 3]],
  );
});

test('a follower rejects an append that does not match its log and hints where they may agree', (t) => {
  const log = [dataEntry(1, 1), dataEntry(2, 1), dataEntry(3, 1)];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 1 }));
  node.step(append({ from: 'c', epoch: 3, prevSeq: 3, prevEpoch: 2, entries: [dataEntry(4, 3)] }));
  const ready = takeReady(node);
  t.deepEqual(ready.entries, []);
  t.deepEqual(
    messagesOf(ready, 'ack').map((a) => [a.reject, a.hintSeq, a.hintEpoch]),
    [[true, 3, 1]],
  );
});

test('a sequencer answers a rejection by retransmitting from the point where the logs agree', (t) => {
  const cluster = new Cluster(MEMBERS);
  cluster.elect('a');
  cluster.settle();
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.settle();
  const leader = cluster.node('a');
  const epoch = leader.currentEpoch;
  leader.step({
    type: 'ack',
    epoch,
    from: 'b',
    matchSeq: 0,
    reject: true,
    hintSeq: 1,
    hintEpoch: epoch,
  });
  t.like(takeReady(leader).retransmits, [
    { to: 'b', prevSeq: 1, prevEpoch: epoch, fromSeq: 2, toSeq: 3 },
  ]);
});

test('entries a deposed sequencer appended but had not yet handed to its host are truncated with notice, so their publishers are answered', (t) => {
  const node = newNode('a', ['a', 'b', 'c']);
  winElection(node, ['b', 'c']);
  takeReady(node);
  const epoch = node.currentEpoch;
  // Proposed while the host was still writing the previous Ready: not handed out yet.
  const results = node.propose([proposal('p', 1), proposal('p', 2)], 0);
  t.deepEqual(
    results.map((r) => r.kind),
    ['appended', 'appended'],
  );
  // A sequencer of a later epoch, whose log ends at seq 1, takes over.
  node.step(append({ from: 'b', epoch: epoch + 1, prevSeq: 1, prevEpoch: epoch, commitSeq: 1 }));
  node.step(
    append({
      from: 'b',
      epoch: epoch + 1,
      prevSeq: 1,
      prevEpoch: epoch,
      entries: [epochStartEntry(2, epoch + 1)],
      commitSeq: 1,
    }),
  );
  const ready = takeReady(node);
  t.is(ready.truncateAfter, 1, 'the host hears that seqs 2 and 3 are gone');
  t.deepEqual(
    ready.entries.map((e) => [e.seq, e.epoch]),
    [[2, epoch + 1]],
  );
});
