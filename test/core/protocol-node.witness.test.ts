import test from 'ava';
import { applyChange } from '../../src/core/membership.js';
import { Cluster, from, ofType, proposal, TEST_TIMING, to } from './harness.js';

/** a and b keep the log; w is a witness. */
const IDS = ['a', 'b', 'w'];

function witnessCluster(tailMaxEntries?: number): Cluster {
  return new Cluster(IDS, {
    overrides: {
      witnesses: ['w'],
      ...(tailMaxEntries === undefined ? {} : { witnessTailMaxEntries: tailMaxEntries }),
    },
  });
}

function publish(cluster: Cluster, leader: string, count: number, first = 1): void {
  for (let i = 0; i < count; i++) cluster.propose(leader, [proposal('p', first + i)]);
}

test('a witness never campaigns, however long it hears no sequencer', (t) => {
  const cluster = witnessCluster();
  const w = cluster.node('w');
  t.true(w.isWitness);
  t.true(w.isVoter);
  for (let i = 0; i < 20 * TEST_TIMING.electionTimeoutTicks; i++) cluster.tick('w');
  t.is(w.status().role, 'follower');
  t.is(w.currentEpoch, 0);
  t.false(cluster.sent.some((e) => e.from === 'w' && e.message.type === 'voteRequest'));
});

test('a witness votes and counts toward the commit quorum, but is no transfer target', (t) => {
  const cluster = witnessCluster();
  cluster.elect('a');
  // b hears nothing: a and the witness alone commit.
  publish(cluster, 'a', 5);
  cluster.settle(to('b'));
  const a = cluster.node('a');
  t.is(a.committedSeq, a.lastSeq);
  const refused = a.transferLeadership('w');
  t.like(refused, { ok: false });
  t.regex(refused.ok ? '' : refused.reason, /w is a witness: it never leads/);
  t.like(a.transferLeadership('b'), { ok: true });
});

test('a witness takes no entries beyond its tail while a data voter is away, and resumes once it is back', (t) => {
  const cluster = witnessCluster(5);
  cluster.elect('a');
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  const start = cluster.node('a').committedSeq;
  const w = cluster.node('w');
  // b is away: what every data voter holds stays where b left it.
  const away = (e: { from: string; to: string }) => e.to === 'b' || e.from === 'b';
  publish(cluster, 'a', 20);
  cluster.settle(away);
  cluster.tickAll(2 * TEST_TIMING.nackRetryTicks, away);
  t.true(w.lastSeq <= w.witnessFloorSeq + 5, `witness holds up to ${w.lastSeq}`);
  t.is(w.witnessFloorSeq, start);
  // Commits wait: nothing beyond the witness's tail rests on one data copy.
  t.is(cluster.node('a').committedSeq, w.lastSeq);
  t.true(cluster.node('a').committedSeq < cluster.node('a').lastSeq);
  // b returns: everything commits, and the witness's floor follows both data voters
  // (its tail moves on by at most its bound per round, as its own commit point follows).
  cluster.tickAll(20 * TEST_TIMING.nackRetryTicks);
  const a = cluster.node('a');
  t.is(a.committedSeq, a.lastSeq);
  t.is(w.lastSeq, a.lastSeq);
  t.is(w.witnessFloorSeq, a.committedSeq);
});

test('with the sequencer gone, a lagging data voter catches up from the witness tail and takes over without losing a commit', (t) => {
  const cluster = witnessCluster();
  cluster.elect('a');
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  // b misses the last entries; a and the witness commit them.
  publish(cluster, 'a', 8);
  cluster.settle(to('b'));
  const committed = cluster.node('a').committedSeq;
  t.is(committed, cluster.node('a').lastSeq);
  t.true(cluster.node('b').lastSeq < committed);
  // a dies. b campaigns; the witness refuses (b's log is behind) and sends its tail.
  const aDown = (e: { from: string; to: string }) => e.from === 'a' || e.to === 'a';
  cluster.drop(aDown);
  for (let i = 0; i < 200 && !cluster.node('b').isLeader; i++) {
    cluster.tick('b');
    cluster.tick('w');
    cluster.settle(aDown);
  }
  t.true(cluster.node('b').isLeader, 'b did not take over');
  t.true(
    cluster.sent.some((e) => e.from === 'w' && e.message.type === 'append' && e.message.catchUp),
    'the witness sent no tail',
  );
  publish(cluster, 'b', 1, 100);
  cluster.settle(aDown);
  const b = cluster.node('b');
  t.is(b.committedSeq, b.lastSeq);
  // Every entry a committed is in b's log, as a had it.
  t.deepEqual(
    cluster.store('b').entries.slice(0, committed),
    cluster.store('a').entries.slice(0, committed),
  );
});

test('a catch-up append from a node that is no witness is refused, and one that does not fit the log end is ignored', (t) => {
  const cluster = witnessCluster();
  cluster.elect('a');
  publish(cluster, 'a', 3);
  cluster.settle();
  const entries = cluster.store('a').entries.slice(1, 3);
  const b = cluster.node('b');
  const base = {
    type: 'append' as const,
    epoch: b.currentEpoch,
    prevEpoch: b.currentEpoch,
    commitSeq: 0,
    catchUp: true,
  };
  t.regex(b.step({ ...base, from: 'a', prevSeq: 1, entries }) ?? '', /not a witness/);
  const lastSeq = b.lastSeq;
  t.is(b.step({ ...base, from: 'w', prevSeq: 1, entries }), null);
  cluster.process('b');
  t.is(b.lastSeq, lastSeq, 'a catch-up that does not start at the log end changed the log');
  t.false(cluster.sent.some((e) => ofType('voteRequest')(e) && from('w')(e)));
});

test('a witness added to a running 2-node cluster joins as a learner, votes once promoted, and keeps the cluster committing without either data node', (t) => {
  const cluster = new Cluster(IDS, { seed: ['a', 'b'] });
  cluster.elect('a');
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  const a = cluster.node('a');
  t.true(a.proposeMembership({ kind: 'addLearner', id: 'w', address: '', witness: true }, 0).ok);
  cluster.settle();
  t.true(a.proposeMembership({ kind: 'promote', id: 'w' }, 0).ok);
  cluster.settle();
  t.deepEqual(
    a.membership.members.map((m) => [m.id, m.voter, m.witness === true]),
    [
      ['a', true, false],
      ['b', true, false],
      ['w', true, true],
    ],
  );
  t.true(cluster.node('w').isWitness);
  // b is gone: a and the witness commit.
  publish(cluster, 'a', 3);
  cluster.settle(to('b'));
  t.is(a.committedSeq, a.lastSeq);
  // With b removed, a is the last data voter: it cannot go, leaving only the witness.
  t.true(a.proposeMembership({ kind: 'remove', id: 'b' }, 0).ok);
  cluster.settle(to('b'));
  const refused = applyChange(a.membership, { kind: 'remove', id: 'a' });
  t.like(refused, { ok: false, reason: 'the last data voter cannot be removed' });
});
