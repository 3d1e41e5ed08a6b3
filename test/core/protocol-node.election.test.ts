import test from 'ava';
import type { ProtocolNode } from '../../src/core/protocol-node.js';
import { EntryKind, type VoteRequestMessage } from '../../src/core/types.js';
import { takeReady } from './fixtures.js';
import {
  append,
  dataEntry,
  messagesOf,
  newNode,
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
    if (messagesOf(takeReady(node), 'voteRequest').length > 0) {
      gaps.push(sinceLast);
      sinceLast = 0;
    }
  }
  t.deepEqual(gaps, [TIMEOUT, TIMEOUT * 1.5, TIMEOUT]);
});

test('a node outside the membership cannot start an election, but its appends are heard (a sequencer the log does not name yet)', (t) => {
  const node = newNode('b', MEMBERS);
  node.step(voteRequest({ from: 'x', epoch: 8 }));
  t.false(node.hasReady());
  t.is(node.currentEpoch, 0);
  node.step(append({ from: 'x', epoch: 7, entries: [dataEntry(1, 7)], commitSeq: 1 }));
  t.is(node.currentEpoch, 7);
  t.is(node.lastSeq, 1);
});

test('a pre-vote asks for the next epoch without bumping the node epoch or persisting anything', (t) => {
  const node = newNode('b', MEMBERS);
  ticksUntilCampaign(node);
  const ready = takeReady(node);
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
  takeReady(node);
  node.step({ type: 'voteResponse', epoch: 1, from: 'a', granted: true, preVote: true });
  const ready = takeReady(node);
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
      const responses = messagesOf(takeReady(voter), 'voteResponse');
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
  const ready = takeReady(voter);
  t.deepEqual(ready.hardState, { epoch: 1, votedFor: 'c', commitSeq: 0 });
  t.deepEqual(messagesOf(ready, 'voteResponse'), [
    { type: 'voteResponse', epoch: 1, from: 'b', granted: true, preVote: false },
  ]);
});

test('a node grants at most one vote per epoch, and repeats it to the same candidate', (t) => {
  const voter = newNode('b', MEMBERS);
  voter.step(voteRequest({ from: 'c', epoch: 1 }));
  takeReady(voter);
  voter.step(voteRequest({ from: 'a', epoch: 1 }));
  let ready = takeReady(voter);
  t.deepEqual(
    messagesOf(ready, 'voteResponse').map((r) => r.granted),
    [false],
  );
  t.is(voter.status().votedFor, 'c');
  voter.step(voteRequest({ from: 'c', epoch: 1 }));
  ready = takeReady(voter);
  t.deepEqual(
    messagesOf(ready, 'voteResponse').map((r) => r.granted),
    [true],
  );
  // A later epoch frees the vote.
  voter.step(voteRequest({ from: 'a', epoch: 2 }));
  ready = takeReady(voter);
  t.deepEqual(
    messagesOf(ready, 'voteResponse').map((r) => r.granted),
    [true],
  );
  t.deepEqual(ready.hardState, { epoch: 2, votedFor: 'a', commitSeq: 0 });
});

test('granting a pre-vote changes neither the voter epoch nor its vote', (t) => {
  const voter = newNode('b', MEMBERS);
  voter.step(voteRequest({ from: 'c', epoch: 1, preVote: true }));
  const ready = takeReady(voter);
  t.deepEqual(messagesOf(ready, 'voteResponse'), [
    { type: 'voteResponse', epoch: 1, from: 'b', granted: true, preVote: true },
  ]);
  t.is(ready.hardState, null);
  t.is(voter.currentEpoch, 0);
  t.is(voter.status().votedFor, null);
  // It can still vote for someone else in that epoch.
  voter.step(voteRequest({ from: 'a', epoch: 1 }));
  t.deepEqual(
    messagesOf(takeReady(voter), 'voteResponse').map((r) => r.granted),
    [true],
  );
});

test('a follower that heard from its sequencer within an election timeout ignores vote requests', (t) => {
  const voter = newNode('b', MEMBERS);
  voter.step(append({ from: 'a', epoch: 1, entries: [dataEntry(1, 1)] }));
  takeReady(voter);
  voter.step(voteRequest({ from: 'c', epoch: 2, lastSeq: 5, lastEpoch: 1 }));
  voter.step(voteRequest({ from: 'c', epoch: 2, lastSeq: 5, lastEpoch: 1, preVote: true }));
  const ready = takeReady(voter);
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
  const ready = takeReady(node);
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
    takeReady(node).entries.map((e) => e.seq),
    [1, 2],
  );
  t.deepEqual(takeReady(node).committed, { fromSeq: 1, toSeq: 2 });
});

test("a follower whose log is ahead of a pre-candidate's, with its sequencer gone, campaigns at the next tick", (t) => {
  // c is last in turn, but it holds seq 1 and b does not.
  const node = newNode('c', MEMBERS, { random: scriptedRandom(0.99) });
  node.step(append({ from: 'a', epoch: 1, entries: [dataEntry(1, 1)], commitSeq: 0 }));
  takeReady(node);
  node.peerUnreachable('a');
  node.step(voteRequest({ from: 'b', epoch: 2, lastSeq: 0, lastEpoch: 0, preVote: true }));
  const refusal = messagesOf(takeReady(node), 'voteResponse');
  t.deepEqual(
    refusal.map((r) => r.granted),
    [false],
  );
  node.tick();
  const requests = messagesOf(takeReady(node), 'voteRequest');
  t.is(requests.length, 2, 'c campaigns at the next tick');
  t.true(requests.every((r) => r.preVote && r.lastSeq === 1));
  // Equal logs change nothing: the pre-vote is granted and the turns stand.
  const peer = newNode('c', MEMBERS, { random: scriptedRandom(0.99) });
  peer.step(append({ from: 'a', epoch: 1, entries: [], commitSeq: 0 }));
  takeReady(peer);
  peer.peerUnreachable('a');
  peer.step(voteRequest({ from: 'b', epoch: 2, preVote: true }));
  t.deepEqual(
    messagesOf(takeReady(peer), 'voteResponse').map((r) => r.granted),
    [true],
  );
  peer.tick();
  t.false(peer.hasReady() && messagesOf(takeReady(peer), 'voteRequest').length > 0);
});

test('followers that saw the sequencer drop take turns in id order, so that they do not split the vote', (t) => {
  const window = TEST_TIMING.heartbeatIntervalTicks;
  const campaignTick = (id: string, random: number): number => {
    const node = newNode(id, ['a', 'b', 'c'], { random: scriptedRandom(random) });
    node.step(append({ from: 'a', epoch: 1, entries: [], commitSeq: 0 }));
    takeReady(node);
    node.peerUnreachable('a');
    for (let ticks = 1; ticks <= TEST_TIMING.electionTimeoutTicks; ticks++) {
      node.tick();
      if (node.hasReady() && messagesOf(takeReady(node), 'voteRequest').length > 0) return ticks;
    }
    return Number.POSITIVE_INFINITY;
  };
  // b's turn comes first (at the latest when its window ends); c's starts after b's window and a gap.
  const bLatest = campaignTick('b', 0.99);
  const cEarliest = campaignTick('c', 0);
  t.true(bLatest <= window + 1, `b campaigned after ${bLatest} ticks`);
  t.true(cEarliest > bLatest + 1, `c campaigned after ${cEarliest} ticks, b after ${bLatest}`);
  t.true(
    cEarliest < TEST_TIMING.electionTimeoutTicks,
    'c still campaigns well within an election timeout',
  );
});

test('a follower whose connection to the sequencer dropped campaigns within a few ticks instead of a whole election timeout', (t) => {
  const node = newNode('b', ['a', 'b', 'c'], { random: scriptedRandom(0.99) });
  node.step(append({ from: 'a', epoch: 1, entries: [], commitSeq: 0 }));
  takeReady(node);
  // Losing the connection to another follower changes nothing.
  node.peerUnreachable('c');
  node.tick();
  t.false(node.hasReady() && messagesOf(takeReady(node), 'voteRequest').length > 0);
  node.peerUnreachable('a');
  let ticks = 0;
  let requests: VoteRequestMessage[] = [];
  while (requests.length === 0 && ticks < TEST_TIMING.electionTimeoutTicks) {
    node.tick();
    ticks++;
    if (node.hasReady()) requests = messagesOf(takeReady(node), 'voteRequest');
  }
  t.true(ticks <= TEST_TIMING.heartbeatIntervalTicks + 1, `campaigned after ${ticks} ticks`);
  t.is(requests.length, 2);
  t.true(requests.every((r) => r.preVote));
});
