import test from 'ava';
import type { CoreConfig } from '../../src/core/config.js';
import type { ProtocolNode } from '../../src/core/protocol-node.js';
import { EntryKind } from '../../src/core/types.js';
import { takeReady } from './fixtures.js';
import {
  append,
  dataEntry,
  electedCluster,
  epochStartEntry,
  messagesOf,
  newNode,
  ofType,
  proposal,
  scriptedRandom,
  TEST_TIMING,
  to,
  winElection,
} from './harness.js';

const MEMBERS = ['a', 'b', 'c'];

/** Follower b of sequencer a (epoch 1), holding seqs 1..3 with 1 committed. */
function followerAt3(overrides: Partial<CoreConfig> = {}): ProtocolNode {
  const node = newNode('b', MEMBERS, { random: scriptedRandom(0), ...overrides });
  node.step(
    append({
      from: 'a',
      epoch: 1,
      entries: [epochStartEntry(1, 1), dataEntry(2, 1), dataEntry(3, 1)],
      commitSeq: 1,
    }),
  );
  takeReady(node);
  return node;
}

const batch = (prevSeq: number, count: number, commitSeq = 1) =>
  append({
    from: 'a',
    epoch: 1,
    prevSeq,
    prevEpoch: 1,
    entries: Array.from({ length: count }, (_, i) => dataEntry(prevSeq + 1 + i, 1)),
    commitSeq,
  });

const heartbeat = (lastSeq: number, commitSeq = 1) =>
  append({ from: 'a', epoch: 1, prevSeq: lastSeq, prevEpoch: 1, commitSeq });

function nacksIn(node: ProtocolNode) {
  return node.hasReady() ? messagesOf(takeReady(node), 'nack') : [];
}

test('a follower that misses a batch detects the gap from the next batch prevSeq and NACKs exactly the missing range', (t) => {
  const node = followerAt3();
  // Seqs 4 and 5 were lost; the batch carrying 6 and 7 arrives.
  node.step(batch(5, 2));
  const ready = takeReady(node);
  t.deepEqual(ready.entries, [], 'nothing is appended across the gap');
  t.deepEqual(messagesOf(ready, 'nack'), [
    { type: 'nack', epoch: 1, from: 'b', fromSeq: 4, toSeq: 5 },
  ]);
  t.true(ready.messages.every((m) => m.to === 'a'));
});

test('a follower detects a lost tail from a heartbeat carrying the sequencer last seq', (t) => {
  const node = followerAt3();
  node.step(heartbeat(5));
  const nacks = messagesOf(takeReady(node), 'nack');
  t.deepEqual(
    nacks.map((n) => [n.fromSeq, n.toSeq]),
    [[4, 5]],
  );
});

test('a heartbeat that matches the log raises no NACK', (t) => {
  const node = followerAt3();
  node.tick();
  node.step(heartbeat(3));
  const ready = takeReady(node);
  t.deepEqual(messagesOf(ready, 'nack'), []);
  t.deepEqual(
    messagesOf(ready, 'ack').map((a) => a.matchSeq),
    [3],
  );
});

test('an append that tells the follower nothing new is acked once per tick: a commit point alone in the same tick is not, a read round is', (t) => {
  const node = followerAt3();
  // The commit point moves, in the same tick as the ack of the entries: nothing new to say.
  node.step(heartbeat(3, 3));
  const commitOnly = takeReady(node);
  t.deepEqual(commitOnly.committed, { fromSeq: 2, toSeq: 3 });
  t.deepEqual(messagesOf(commitOnly, 'ack'), []);
  // A read round must be answered whatever the tick.
  node.step({ ...heartbeat(3, 3), readRound: 1 });
  t.deepEqual(
    messagesOf(takeReady(node), 'ack').map((a) => [a.matchSeq, a.readRound]),
    [[3, 1]],
  );
  // In a later tick the same state is acked again, so a lost ack is repeated.
  node.tick();
  node.step({ ...heartbeat(3, 3), readRound: 1 });
  t.deepEqual(
    messagesOf(takeReady(node), 'ack').map((a) => a.matchSeq),
    [3],
  );
  // New entries are always acked.
  node.step(batch(3, 1, 3));
  t.deepEqual(
    messagesOf(takeReady(node), 'ack').map((a) => a.matchSeq),
    [4],
  );
});

test('a follower buffers entries that arrived ahead of a gap and delivers everything in order once it is repaired', (t) => {
  const node = followerAt3();
  node.step(batch(5, 2, 1));
  node.step(batch(7, 1, 1));
  takeReady(node);
  // The retransmission of 4..5 arrives with a commit point past the buffered batches.
  node.step(batch(3, 2, 5));
  node.step(heartbeat(8, 8));
  const ready = takeReady(node);
  t.deepEqual(
    ready.entries.map((e) => e.seq),
    [4, 5, 6, 7, 8],
  );
  t.deepEqual(ready.committed, { fromSeq: 2, toSeq: 8 });
  t.is(node.lastSeq, 8);
  t.deepEqual(messagesOf(ready, 'nack'), []);
  t.deepEqual(
    messagesOf(ready, 'ack').map((a) => a.matchSeq),
    [8],
  );
});

test('a duplicated batch is not appended twice', (t) => {
  const node = followerAt3();
  node.step(batch(3, 2));
  t.deepEqual(
    takeReady(node).entries.map((e) => e.seq),
    [4, 5],
  );
  node.step(batch(3, 2));
  const ready = takeReady(node);
  t.deepEqual(ready.entries, []);
  t.is(ready.truncateAfter, null);
  t.is(node.lastSeq, 5);
});

test('a follower does not repeat a NACK for the same range within nackRetryTicks', (t) => {
  const node = followerAt3({ random: scriptedRandom(0) });
  node.step(batch(5, 2));
  t.is(nacksIn(node).length, 1);
  // More evidence of the same gap, and time passing, within the retry interval.
  node.step(heartbeat(7));
  node.step(batch(7, 1));
  t.deepEqual(nacksIn(node), []);
  for (let i = 1; i < TEST_TIMING.nackRetryTicks; i++) {
    node.tick();
    t.deepEqual(nacksIn(node), [], `tick ${i}`);
  }
});

test('an unanswered NACK is repeated after nackRetryTicks plus a jitter drawn from config.random', (t) => {
  // The jitter is floor(random * (nackRetryTicks + 1)) ticks: 0 with random 0, nackRetryTicks with 0.99.
  for (const [value, expectedTicks] of [
    [0, TEST_TIMING.nackRetryTicks],
    [0.99, TEST_TIMING.nackRetryTicks * 2],
  ] as const) {
    const random = scriptedRandom(value);
    const node = followerAt3({ random });
    node.step(heartbeat(5));
    t.is(nacksIn(node).length, 1);
    let ticks = 0;
    let repeated: ReturnType<typeof nacksIn> = [];
    while (repeated.length === 0 && ticks < 50) {
      node.tick();
      ticks++;
      repeated = nacksIn(node);
    }
    t.is(ticks, expectedTicks, `random ${value}`);
    t.deepEqual(
      repeated.map((n) => [n.fromSeq, n.toSeq]),
      [[4, 5]],
    );
  }
});

test('the NACK jitter draws from config.random each time a NACK is sent', (t) => {
  const random = scriptedRandom(0);
  const node = followerAt3({ random });
  const before = random.draws;
  node.step(heartbeat(5));
  nacksIn(node);
  t.is(random.draws, before + 1);
});

test('a NACK asks for at most maxNackRangeEntries entries', (t) => {
  const node = followerAt3({ maxNackRangeEntries: 4 });
  node.step(heartbeat(100));
  t.deepEqual(
    nacksIn(node).map((n) => [n.fromSeq, n.toSeq]),
    [[4, 7]],
  );
});

test('once a NACKed range is repaired, the next gap is NACKed at once', (t) => {
  const node = followerAt3({ maxNackRangeEntries: 2 });
  node.step(heartbeat(7));
  t.deepEqual(
    nacksIn(node).map((n) => [n.fromSeq, n.toSeq]),
    [[4, 5]],
  );
  node.step(batch(3, 2));
  t.deepEqual(
    nacksIn(node).map((n) => [n.fromSeq, n.toSeq]),
    [[6, 7]],
  );
});

test('a follower buffers at most maxBufferedFutureEntries entries ahead of a gap', (t) => {
  const node = followerAt3({ maxBufferedFutureEntries: 2 });
  node.step(batch(5, 2));
  node.step(batch(7, 2)); // Over the bound: dropped, to be NACKed later.
  takeReady(node);
  node.step(batch(3, 2));
  const ready = takeReady(node);
  t.deepEqual(
    ready.entries.map((e) => e.seq),
    [4, 5, 6, 7],
  );
  t.deepEqual(
    messagesOf(ready, 'nack').map((n) => [n.fromSeq, n.toSeq]),
    [[8, 9]],
  );
});

test('the sequencer answers a NACK with a retransmission from its log of at most maxRetransmitEntries', (t) => {
  const cluster = electedCluster(['a', 'b', 'c'], { overrides: { maxRetransmitEntries: 3 } });
  cluster.propose(
    'a',
    [1, 2, 3, 4, 5].map((n) => proposal('p', n)),
  );
  cluster.take();
  const leader = cluster.node('a');
  const epoch = leader.currentEpoch;
  leader.step({ type: 'nack', epoch, from: 'b', fromSeq: 2, toSeq: 6 });
  const ready = takeReady(leader);
  t.deepEqual(ready.retransmits, [
    { to: 'b', epoch, prevSeq: 1, prevEpoch: epoch, fromSeq: 2, toSeq: 4, commitSeq: 1 },
  ]);
});

test('a follower that lost a multicast batch repairs it by NACK and delivers the same sequence as the sequencer', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.drop(to('c'));
  cluster.settle();
  cluster.propose('a', [proposal('p', 3)]);
  cluster.settle();
  t.is(cluster.store('c').lastSeq, 4);
  t.true(cluster.sent.some((e) => e.from === 'c' && e.message.type === 'nack'));
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  for (const id of ['b', 'c']) {
    t.deepEqual(cluster.store(id).entries, cluster.store('a').entries);
    t.deepEqual(cluster.store(id).delivered, [1, 2, 3, 4]);
  }
  t.deepEqual(cluster.store('a').delivered, [1, 2, 3, 4]);
  t.is(cluster.take(ofType('nack')).length, 0);
});

test('the sequencer answers repeated rejections at the same point at most once per nackRetryTicks', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.take();
  const leader = cluster.node('a');
  const epoch = leader.currentEpoch;
  const reject = {
    type: 'ack',
    epoch,
    from: 'b',
    matchSeq: 1,
    reject: true,
    hintSeq: 1,
    hintEpoch: epoch,
  } as const;
  leader.step(reject);
  leader.step(reject);
  t.is(takeReady(leader).retransmits.length, 1);
  for (let i = 1; i < TEST_TIMING.nackRetryTicks; i++) {
    leader.tick();
    leader.step(reject);
    t.is(takeReady(leader).retransmits.length, 0, `tick ${i}`);
  }
  leader.tick();
  leader.step(reject);
  t.deepEqual(
    takeReady(leader).retransmits.map((r) => [r.fromSeq, r.toSeq]),
    [[2, 3]],
  );
});

test('the sequencer ignores a NACK for a range beyond its log instead of failing', (t) => {
  const cluster = electedCluster(['a', 'b', 'c']);
  cluster.propose('a', [proposal('p', 1)]);
  cluster.take();
  const leader = cluster.node('a');
  const epoch = leader.currentEpoch;
  leader.step({
    type: 'nack',
    epoch,
    from: 'b',
    fromSeq: leader.lastSeq + 5,
    toSeq: leader.lastSeq + 9,
  });
  const ready = takeReady(leader);
  t.deepEqual(ready.retransmits, []);
  t.is(messagesOf(ready, 'append').filter((m) => m.entries.length > 0).length, 0);
});

test('a follower whose NACK was answered only in part asks for the rest at once, without waiting for the retry interval', (t) => {
  const node = followerAt3({ maxNackRangeEntries: 100 });
  // Seqs 4..9 were lost; the batch carrying 10 arrives and reveals the gap.
  node.step(batch(9, 1));
  t.deepEqual(
    nacksIn(node).map((n) => [n.fromSeq, n.toSeq]),
    [[4, 9]],
  );
  // A bounded retransmission brings 4..6 only.
  node.step(batch(3, 3));
  t.deepEqual(
    nacksIn(node).map((n) => [n.fromSeq, n.toSeq]),
    [[7, 9]],
    'the rest is asked for in the same Ready',
  );
  // Nothing answered this time: no new NACK before the retry interval.
  node.step(heartbeat(10));
  t.deepEqual(nacksIn(node), []);
});

test('a follower behind the sequencer log start is told so and starts its log there instead of NACKing forever', (t) => {
  const node = followerAt3();
  node.step(
    append({
      from: 'a',
      epoch: 1,
      prevSeq: 100,
      prevEpoch: 1,
      entries: [dataEntry(101, 1), dataEntry(102, 1)],
      commitSeq: 102,
      logStart: true,
    }),
  );
  const ready = takeReady(node);
  t.deepEqual(ready.resetLogAfter, { seq: 100, epoch: 1 });
  t.deepEqual(
    ready.entries.map((e) => e.seq),
    [101, 102],
  );
  t.deepEqual(messagesOf(ready, 'nack'), []);
  t.is(node.committedSeq, 102);
  t.deepEqual(ready.committed, { fromSeq: 101, toSeq: 102 }, 'only what it holds is delivered');
});

test('an append marked as log start that the follower can match is an ordinary append', (t) => {
  const node = followerAt3();
  node.step({ ...batch(3, 2), logStart: true });
  const ready = takeReady(node);
  t.is(ready.resetLogAfter, null);
  t.deepEqual(
    ready.entries.map((e) => e.seq),
    [4, 5],
  );
});

test('the sequencer answers a NACK for entries its retention dropped with the range from its log start, marked as such', (t) => {
  const cluster = electedCluster(['a', 'b', 'c']);
  cluster.propose(
    'a',
    [1, 2, 3, 4, 5].map((n) => proposal('p', n)),
  );
  cluster.settle();
  const leader = cluster.node('a');
  leader.compactBefore(4);
  leader.step({ type: 'nack', epoch: leader.currentEpoch, from: 'b', fromSeq: 2, toSeq: 6 });
  const ready = takeReady(leader);
  t.is(ready.retransmits.length, 1);
  t.like(ready.retransmits[0], { fromSeq: 4, prevSeq: 3, logStart: true });
});

test('a follower that starts its log after an empty log-start append keeps log time from going backwards', (t) => {
  const node = followerAt3();
  node.step(
    append({
      from: 'a',
      epoch: 1,
      prevSeq: 100,
      prevEpoch: 1,
      commitSeq: 100,
      logStart: true,
      prevTimestampMs: 5000,
    }),
  );
  t.deepEqual(takeReady(node).resetLogAfter, { seq: 100, epoch: 1 });
  // Now sequencer, with a clock behind the log's last time.
  node.tick();
  for (let i = 0; i < 200 && !node.isLeader; i++) {
    node.tick();
    for (const { message } of node.hasReady() ? takeReady(node).messages : []) {
      if (message.type === 'voteRequest') {
        node.step({
          type: 'voteResponse',
          epoch: message.epoch,
          from: 'c',
          granted: true,
          preVote: message.preVote,
        });
      }
    }
  }
  t.true(node.isLeader);
  const [result] = node.propose([proposal('p', 1)], 1000);
  t.is(result?.kind, 'appended');
  const appended = takeReady(node).entries.filter((e) => e.kind === EntryKind.data);
  t.true(
    appended.every((e) => e.timestampMs >= 5000),
    `timestamps ${appended.map((e) => e.timestampMs)}`,
  );
});

test('a follower silent for two heartbeat intervals also gets a point-to-point heartbeat, the others only the multicast one', (t) => {
  const node = newNode('a', MEMBERS, { random: scriptedRandom(0) });
  winElection(node, ['b', 'c']);
  takeReady(node);
  const unicastHeartbeats: string[] = [];
  for (let tick = 0; tick < 4 * TEST_TIMING.heartbeatIntervalTicks; tick++) {
    // b keeps acknowledging; c stays silent.
    node.step({
      type: 'ack',
      epoch: node.currentEpoch,
      from: 'b',
      matchSeq: node.lastSeq,
      reject: false,
      hintSeq: 0,
      hintEpoch: 0,
    });
    node.tick();
    if (!node.hasReady()) continue;
    for (const { to, message } of takeReady(node).messages) {
      if (to !== null && message.type === 'append' && message.entries.length === 0)
        unicastHeartbeats.push(to);
    }
  }
  t.true(unicastHeartbeats.includes('c'), 'the silent follower got a point-to-point heartbeat');
  t.false(unicastHeartbeats.includes('b'), 'a follower that acknowledges does not');
});
