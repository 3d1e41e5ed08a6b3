import test from 'ava';
import type { ProtocolNode } from '../../src/core/protocol-node.js';
import { EntryKind, type VoteRequestMessage } from '../../src/core/types.js';
import {
  append,
  Cluster,
  dataEntry,
  electedCluster,
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

const voteRequest = (
  fields: Partial<VoteRequestMessage> & Pick<VoteRequestMessage, 'from' | 'epoch'>,
) =>
  ({
    type: 'voteRequest',
    lastSeq: 0,
    lastEpoch: 0,
    preVote: false,
    transfer: false,
    ...fields,
  }) satisfies VoteRequestMessage;

function ticksUntilCampaign(node: ProtocolNode): number {
  let ticks = 0;
  while (node.status().role === 'follower' && ticks < 1000) {
    node.tick();
    ticks++;
  }
  return ticks;
}

test('a follower campaigns after an election timeout drawn from config.random, between one and two electionTimeoutTicks', (t) => {
  for (const [value, expected] of [
    [0, TIMEOUT],
    [0.5, TIMEOUT * 1.5],
    [0.99, TIMEOUT * 2 - 1],
  ] as const) {
    t.is(
      ticksUntilCampaign(newNode('b', MEMBERS, { random: scriptedRandom(value) })),
      expected,
      `random ${value}`,
    );
  }
});

test('each campaign draws a fresh election timeout from config.random', (t) => {
  // Draws: 0 at start (10 ticks), then 0.5 (15 ticks), then 0 again (10 ticks).
  const node = newNode('b', MEMBERS, { random: scriptedRandom(0, 0.5) });
  const gaps: number[] = [];
  let sinceLast = 0;
  for (let i = 0; i < 40 && gaps.length < 3; i++) {
    node.tick();
    sinceLast++;
    if (messagesOf(node.ready(), 'voteRequest').length > 0) {
      gaps.push(sinceLast);
      sinceLast = 0;
    }
  }
  t.deepEqual(gaps, [TIMEOUT, TIMEOUT * 1.5, TIMEOUT]);
});

test('messages from a node outside the membership are ignored', (t) => {
  const node = newNode('b', MEMBERS);
  node.step(append({ from: 'x', epoch: 7, entries: [dataEntry(1, 7)], commitSeq: 1 }));
  node.step(voteRequest({ from: 'x', epoch: 8 }));
  t.false(node.hasReady());
  t.is(node.currentEpoch, 0);
  t.is(node.lastSeq, 0);
});

test('a pre-vote asks for the next epoch without bumping the node epoch or persisting anything', (t) => {
  const node = newNode('b', MEMBERS);
  ticksUntilCampaign(node);
  const ready = node.ready();
  t.is(node.status().role, 'pre-candidate');
  t.is(node.currentEpoch, 0);
  t.is(ready.hardState, null);
  const requests = ready.messages.filter((m) => m.message.type === 'voteRequest');
  t.deepEqual(
    requests.map((m) => m.to),
    ['a', 'c'],
  );
  for (const { message } of requests) t.like(message, { epoch: 1, preVote: true, from: 'b' });
});

test('a pre-candidate that wins the pre-vote campaigns in the next epoch and persists its own vote in the Ready that asks for votes', (t) => {
  const node = newNode('b', MEMBERS);
  ticksUntilCampaign(node);
  node.ready();
  node.step({ type: 'voteResponse', epoch: 1, from: 'a', granted: true, preVote: true });
  const ready = node.ready();
  t.is(node.status().role, 'candidate');
  t.deepEqual(ready.hardState, { epoch: 1, votedFor: 'b', commitSeq: 0 });
  const requests = messagesOf(ready, 'voteRequest');
  t.is(requests.length, 2);
  for (const request of requests) t.like(request, { epoch: 1, preVote: false });
});

test('a node grants its vote only to a candidate whose log is at least as up to date as its own', (t) => {
  // The voter's log ends with seq 2 of epoch 2.
  const voterLog = [dataEntry(1, 1), dataEntry(2, 2)];
  const cases = [
    { lastSeq: 1, lastEpoch: 2, granted: false, why: 'same last epoch, shorter log' },
    { lastSeq: 5, lastEpoch: 1, granted: false, why: 'longer log, older last epoch' },
    { lastSeq: 2, lastEpoch: 2, granted: true, why: 'identical log' },
    { lastSeq: 3, lastEpoch: 2, granted: true, why: 'same last epoch, longer log' },
    { lastSeq: 1, lastEpoch: 3, granted: true, why: 'newer last epoch, shorter log' },
  ];
  for (const { lastSeq, lastEpoch, granted, why } of cases) {
    for (const preVote of [false, true]) {
      const voter = newNode('b', MEMBERS, {}, recoveredFrom(voterLog, { epoch: 3 }));
      voter.step(voteRequest({ from: 'c', epoch: 4, lastSeq, lastEpoch, preVote }));
      const responses = messagesOf(voter.ready(), 'voteResponse');
      t.deepEqual(
        responses.map((r) => r.granted),
        [granted],
        `${why}${preVote ? ' (pre-vote)' : ''}`,
      );
    }
  }
});

test('a vote is in the hard state of the same Ready that sends it', (t) => {
  const voter = newNode('b', MEMBERS);
  voter.step(voteRequest({ from: 'c', epoch: 1 }));
  const ready = voter.ready();
  t.deepEqual(ready.hardState, { epoch: 1, votedFor: 'c', commitSeq: 0 });
  t.deepEqual(messagesOf(ready, 'voteResponse'), [
    { type: 'voteResponse', epoch: 1, from: 'b', granted: true, preVote: false },
  ]);
});

test('a node grants at most one vote per epoch, and repeats it to the same candidate', (t) => {
  const voter = newNode('b', MEMBERS);
  voter.step(voteRequest({ from: 'c', epoch: 1 }));
  voter.ready();
  voter.step(voteRequest({ from: 'a', epoch: 1 }));
  let ready = voter.ready();
  t.deepEqual(
    messagesOf(ready, 'voteResponse').map((r) => r.granted),
    [false],
  );
  t.is(voter.status().votedFor, 'c');
  voter.step(voteRequest({ from: 'c', epoch: 1 }));
  ready = voter.ready();
  t.deepEqual(
    messagesOf(ready, 'voteResponse').map((r) => r.granted),
    [true],
  );
  // A later epoch frees the vote.
  voter.step(voteRequest({ from: 'a', epoch: 2 }));
  ready = voter.ready();
  t.deepEqual(
    messagesOf(ready, 'voteResponse').map((r) => r.granted),
    [true],
  );
  t.deepEqual(ready.hardState, { epoch: 2, votedFor: 'a', commitSeq: 0 });
});

test('granting a pre-vote changes neither the voter epoch nor its vote', (t) => {
  const voter = newNode('b', MEMBERS);
  voter.step(voteRequest({ from: 'c', epoch: 1, preVote: true }));
  const ready = voter.ready();
  t.deepEqual(messagesOf(ready, 'voteResponse'), [
    { type: 'voteResponse', epoch: 1, from: 'b', granted: true, preVote: true },
  ]);
  t.is(ready.hardState, null);
  t.is(voter.currentEpoch, 0);
  t.is(voter.status().votedFor, null);
  // It can still vote for someone else in that epoch.
  voter.step(voteRequest({ from: 'a', epoch: 1 }));
  t.deepEqual(
    messagesOf(voter.ready(), 'voteResponse').map((r) => r.granted),
    [true],
  );
});

test('a follower that heard from its sequencer within an election timeout ignores vote requests', (t) => {
  const voter = newNode('b', MEMBERS);
  voter.step(append({ from: 'a', epoch: 1, entries: [dataEntry(1, 1)] }));
  voter.ready();
  voter.step(voteRequest({ from: 'c', epoch: 2, lastSeq: 5, lastEpoch: 1 }));
  voter.step(voteRequest({ from: 'c', epoch: 2, lastSeq: 5, lastEpoch: 1, preVote: true }));
  const ready = voter.ready();
  t.deepEqual(messagesOf(ready, 'voteResponse'), []);
  t.is(voter.currentEpoch, 1);
  t.is(voter.currentLeader, 'a');
});

test('a candidate refused by a majority returns to follower in its epoch', (t) => {
  const node = newNode('b', MEMBERS, { preVote: false });
  ticksUntilCampaign(node);
  t.is(node.status().role, 'candidate');
  node.step({ type: 'voteResponse', epoch: 1, from: 'a', granted: false, preVote: false });
  node.step({ type: 'voteResponse', epoch: 1, from: 'c', granted: false, preVote: false });
  t.is(node.status().role, 'follower');
  t.is(node.currentEpoch, 1);
  t.false(node.isLeader);
});

test('a new sequencer appends an epoch-start entry of its epoch after its log', (t) => {
  const log = [dataEntry(1, 1), dataEntry(2, 1)];
  const node = newNode('a', MEMBERS, {}, recoveredFrom(log, { epoch: 1 }));
  winElection(node, ['b']);
  const ready = node.ready();
  t.is(node.currentEpoch, 2);
  t.deepEqual(ready.roleChange, { role: 'leader', epoch: 2, leaderId: 'a' });
  t.deepEqual(
    ready.entries.map((e) => ({
      seq: e.seq,
      epoch: e.epoch,
      kind: e.kind,
      producerId: e.producerId,
    })),
    [{ seq: 3, epoch: 2, kind: EntryKind.epochStart, producerId: '' }],
  );
  t.deepEqual(
    messagesOf(ready, 'append').map((m) => [m.prevSeq, m.prevEpoch, m.entries.length]),
    [[2, 1, 1]],
  );
});

test('a single-member cluster elects itself at its first election timeout and commits on its own', (t) => {
  const node = newNode('a', ['a']);
  for (let i = 0; i < TIMEOUT; i++) node.tick();
  t.true(node.isLeader);
  t.is(node.currentEpoch, 1);
  node.propose([proposal('p', 1)], 0);
  // The first Ready persists both entries; the next one may count them.
  t.deepEqual(
    node.ready().entries.map((e) => e.seq),
    [1, 2],
  );
  t.deepEqual(node.ready().committed, { fromSeq: 1, toSeq: 2 });
});

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
  const ready = node.ready();
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
  const ready = node.ready();
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
  t.like(leader.ready().retransmits, [
    { to: 'b', prevSeq: 1, prevEpoch: epoch, fromSeq: 2, toSeq: 3 },
  ]);
});
