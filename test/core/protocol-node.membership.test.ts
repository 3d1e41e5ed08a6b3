import test from 'ava';
import { votersOf } from '../../src/core/membership.js';
import { type Entry, EntryKind } from '../../src/core/types.js';
import {
  append,
  Cluster,
  dataEntry,
  epochStartEntry,
  newNode,
  proposal,
  TEST_TIMING,
  takeReady,
  to,
} from './harness.js';

const SEED = ['a', 'b', 'c'];

/** A config entry at seq 2 of epoch 1 whose members are `voters`, all voting. */
function votersConfigAt2(voters: readonly string[]): Entry {
  return {
    seq: 2,
    epoch: 1,
    kind: EntryKind.config,
    producerId: '',
    producerSeq: 0,
    topic: '',
    payload: new TextEncoder().encode(
      JSON.stringify({ members: voters.map((id) => ({ id, voter: true, address: '' })) }),
    ),
    timestampMs: 2,
  };
}

/** a, b, c seeded; d knows no membership until added. a leads, its epoch start committed. */
function clusterWithSpare(): Cluster {
  const cluster = new Cluster(['a', 'b', 'c', 'd'], { seed: SEED });
  cluster.elect('a');
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  return cluster;
}

test('a change waits until the sequencer committed an entry of its epoch, and one change at a time', (t) => {
  const cluster = new Cluster(['a', 'b', 'c', 'd'], { seed: SEED });
  cluster.elect('a', (e) => e.message.type === 'append' || e.message.type === 'ack');
  const leader = cluster.node('a');
  t.true(leader.isLeader);
  const early = leader.proposeMembership({ kind: 'addLearner', id: 'd', address: '' }, 0);
  t.like(early, { ok: false, retriable: true });
  t.regex(early.ok ? '' : early.reason, /not yet committed an entry of its epoch/);
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  cluster.settle();
  const first = leader.proposeMembership({ kind: 'addLearner', id: 'd', address: '' }, 0);
  t.true(first.ok);
  const second = leader.proposeMembership({ kind: 'remove', id: 'c' }, 0);
  t.like(second, { ok: false, retriable: true });
  cluster.settle();
  t.false(leader.status().configPending);
  t.true(leader.proposeMembership({ kind: 'remove', id: 'c' }, 0).ok);
});

test('a learner replicates but does not count toward commits, and is promoted only once caught up', (t) => {
  const cluster = clusterWithSpare();
  const leader = cluster.node('a');
  t.true(leader.proposeMembership({ kind: 'addLearner', id: 'd', address: 'addr-d' }, 0).ok);
  // Only d hears the config entry and what follows: a and d alone cannot commit.
  cluster.settle(to('b', 'c'));
  const configSeq = leader.lastSeq;
  t.true(leader.committedSeq < configSeq, 'a learner counted toward the commit');
  t.is(cluster.node('d').lastSeq, configSeq);
  t.deepEqual(
    cluster.node('d').membership.members.map((m) => [m.id, m.voter]),
    [
      ['a', true],
      ['b', true],
      ['c', true],
      ['d', false],
    ],
    'the joining node takes the membership from the log',
  );
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  cluster.settle();
  t.is(leader.committedSeq, leader.lastSeq);
  t.true(leader.proposeMembership({ kind: 'promote', id: 'd' }, 0).ok);
  cluster.settle();
  t.deepEqual(votersOf(leader.membership), ['a', 'b', 'c', 'd']);
  // Four voters: a and d alone are no majority, a, c and d are.
  cluster.propose('a', [proposal('p', 1)]);
  cluster.settle(to('b', 'c'));
  t.true(leader.committedSeq < leader.lastSeq);
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks, to('b'));
  cluster.settle(to('b'));
  t.is(leader.committedSeq, leader.lastSeq);
});

test('a learner that has not caught up is not promoted', (t) => {
  const cluster = clusterWithSpare();
  const leader = cluster.node('a');
  t.true(leader.proposeMembership({ kind: 'addLearner', id: 'd', address: '' }, 0).ok);
  cluster.settle(to('d'));
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks, to('d'));
  cluster.settle(to('d'));
  t.false(leader.status().configPending);
  const refused = leader.proposeMembership({ kind: 'promote', id: 'd' }, 0);
  t.like(refused, { ok: false, retriable: true });
  t.regex(refused.ok ? '' : refused.reason, /has not caught up/);
});

test('the sequencer does not remove itself; a removed voter no longer counts', (t) => {
  const cluster = clusterWithSpare();
  const leader = cluster.node('a');
  const self = leader.proposeMembership({ kind: 'remove', id: 'a' }, 0);
  t.like(self, { ok: false, retriable: true });
  t.regex(self.ok ? '' : self.reason, /transfer leadership first/);
  t.true(leader.proposeMembership({ kind: 'remove', id: 'c' }, 0).ok);
  cluster.settle();
  t.deepEqual(votersOf(leader.membership), ['a', 'b']);
  // c no longer counts: with b silent, a alone commits nothing.
  cluster.propose('a', [proposal('p', 1)]);
  cluster.settle(to('b'));
  t.true(leader.committedSeq < leader.lastSeq);
  t.is(
    leader.status().peers.find((p) => p.id === 'c'),
    undefined,
    'the sequencer still replicates to a removed node',
  );
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  cluster.settle();
  t.is(leader.committedSeq, leader.lastSeq);
});

test('a config entry is in force once appended, and a truncation that removes it restores the membership before it', (t) => {
  const b = newNode('b', SEED);
  const config = votersConfigAt2(['a', 'b']);
  b.step(append({ from: 'a', epoch: 1, entries: [epochStartEntry(1, 1), config], commitSeq: 1 }));
  const saved = takeReady(b).membership;
  t.deepEqual(votersOf(b.membership), ['a', 'b'], 'in force before it commits');
  t.is(saved?.pending.length, 1, 'the host is told to save it');
  // A new sequencer of epoch 2 replaces seq 2: the change is gone.
  b.step(
    append({
      from: 'c',
      epoch: 2,
      prevSeq: 1,
      prevEpoch: 1,
      entries: [dataEntry(2, 2)],
      commitSeq: 1,
    }),
  );
  const after = takeReady(b);
  t.deepEqual(votersOf(b.membership), ['a', 'b', 'c']);
  t.deepEqual(after.membership?.pending, []);
});

test('a saved config entry the log lost on a crash is not in force after the restart', (t) => {
  const committed = {
    members: ['a', 'b', 'c'].map((id) => ({ id, voter: true, address: '' })),
  };
  const pending = {
    seq: 5,
    epoch: 1,
    membership: { members: committed.members.slice(0, 2) },
  };
  const node = newNode(
    'b',
    SEED,
    {},
    {
      hardState: { epoch: 1, votedFor: null, commitSeq: 1 },
      firstSeq: 1,
      lastSeq: 4,
      epochBeforeFirst: 0,
      epochStarts: [{ epoch: 1, startSeq: 1 }],
      lastTimestampMs: 0,
      recentEntries: [],
      membership: { committed, pending: [pending] },
    },
  );
  t.deepEqual(votersOf(node.membership), ['a', 'b', 'c']);
  t.deepEqual(takeReady(node).membership?.pending, [], 'the corrected membership is saved');
});

test('a removal this node holds uncommitted does not make it refuse the removed node’s campaign: that node may hold the newer log', (t) => {
  // b holds a change of epoch 1, uncommitted, that removes a; a went on to
  // lead epoch 2 without it. Refusing a as "not a member" left no node able
  // to win (simulator seed 1511).
  const b = newNode('b', SEED, { checkQuorum: false });
  const removeA = votersConfigAt2(['b', 'c']);
  b.step(append({ from: 'c', epoch: 1, entries: [epochStartEntry(1, 1), removeA], commitSeq: 1 }));
  takeReady(b);
  t.deepEqual(votersOf(b.membership), ['b', 'c'], 'the removal is in force, uncommitted');
  const campaign = {
    type: 'voteRequest' as const,
    epoch: 3,
    from: 'a',
    lastSeq: 3,
    lastEpoch: 2,
    preVote: true,
    transfer: false,
  };
  t.is(b.step(campaign), null, 'the campaign is heard');
  const answers = takeReady(b).messages.filter((m) => m.message.type === 'voteResponse');
  t.deepEqual(
    answers.map((m) => [m.to, (m.message as { granted: boolean }).granted]),
    [['a', true]],
    'a holds the newer log: its pre-vote is granted',
  );

  // Once the removal is committed here, a's campaigns are refused again.
  b.step(append({ from: 'c', epoch: 1, prevSeq: 2, prevEpoch: 1, entries: [], commitSeq: 2 }));
  takeReady(b);
  t.regex(b.step(campaign) ?? '', /voteRequest from a, which is not a member/);
});
