import test from 'ava';
import { entryBytes } from '../../src/core/protocol-node.js';
import { EntryKind } from '../../src/core/types.js';
import { LIMITS } from '../../src/limits.js';
import { takeReady } from './fixtures.js';
import { electedCluster, messagesOf, newNode, ofType, proposal, TEST_TIMING } from './harness.js';

test('the sequencer assigns contiguous seqs from 1 in the order proposals arrive', (t) => {
  const cluster = electedCluster();
  const first = cluster.propose('a', [proposal('p', 1), proposal('q', 1), proposal('p', 2)]);
  const second = cluster.propose('a', [proposal('q', 2), proposal('r', 1)]);
  cluster.settle();

  // Seq 1 is the epoch-start entry the sequencer wrote when it was elected.
  t.deepEqual(
    [...first, ...second].map((r) => (r.kind === 'appended' ? r.seq : -1)),
    [2, 3, 4, 5, 6],
  );
  const log = cluster.store('a').entries;
  t.deepEqual(
    log.map((e) => e.seq),
    [1, 2, 3, 4, 5, 6],
  );
  t.deepEqual(
    log.slice(1).map((e) => `${e.producerId}:${e.producerSeq}`),
    ['p:1', 'q:1', 'p:2', 'q:2', 'r:1'],
  );
  for (const id of ['b', 'c']) t.deepEqual(cluster.store(id).entries, log);
});

test('every entry carries the epoch of the sequencer that assigned its seq', (t) => {
  const cluster = electedCluster();
  const epoch = cluster.node('a').currentEpoch;
  t.true(epoch > 0);
  const results = cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  t.deepEqual(
    results.map((r) => (r.kind === 'appended' ? r.epoch : -1)),
    [epoch, epoch],
  );
  t.true(cluster.store('a').entries.every((e) => e.epoch === epoch));
});

test('log timestamps never decrease, even when the host clock goes back', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1)], 5000);
  cluster.propose('a', [proposal('p', 2)], 4000);
  cluster.propose('a', [proposal('p', 3), proposal('p', 4)], 6000);
  const stamps = cluster
    .store('a')
    .entries.filter((e) => e.kind === EntryKind.data)
    .map((e) => e.timestampMs);
  t.deepEqual(stamps, [5000, 5000, 6000, 6000]);
});

test('a new sequencer stamps entries no earlier than the last timestamp in its log', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1)], 9000);
  cluster.settle();
  // The sequencer is cut off; b takes over and its host clock runs behind.
  cluster.tickAll(TEST_TIMING.electionTimeoutTicks * 3, (e) => e.from === 'a' || e.to === 'a');
  t.true(cluster.node('b').isLeader || cluster.node('c').isLeader);
  const leader = cluster.node('b').isLeader ? 'b' : 'c';
  cluster.propose(leader, [proposal('p', 2)], 100);
  const stamps = cluster.store(leader).entries.map((e) => e.timestampMs);
  for (let i = 1; i < stamps.length; i++)
    t.true(stamps[i]! >= stamps[i - 1]!, `timestamp at ${i + 1}`);
  t.is(stamps[stamps.length - 1], 9000);
});

test('a node that is not the sequencer refuses proposals and names the sequencer it knows', (t) => {
  const cluster = electedCluster();
  t.deepEqual(cluster.propose('b', [proposal('p', 1)]), [{ kind: 'notLeader', leaderId: 'a' }]);
  const lonely = newNode('x', ['x', 'y', 'z']);
  t.deepEqual(lonely.propose([proposal('p', 1)], 0), [{ kind: 'notLeader', leaderId: null }]);
  t.false(lonely.hasReady());
});

test('the sequencer multicasts new entries in batches of at most maxBatchEntries whose prevSeq chains', (t) => {
  const cluster = electedCluster(['a', 'b', 'c'], { overrides: { maxBatchEntries: 2 } });
  cluster.take();
  const node = cluster.node('a');
  node.propose(
    [1, 2, 3, 4, 5].map((n) => proposal('p', n)),
    0,
  );
  const ready = takeReady(node);
  const batches = messagesOf(ready, 'append');
  t.true(ready.messages.every((m) => m.to === null));
  t.deepEqual(
    batches.map((b) => b.entries.map((e) => e.seq)),
    [[2, 3], [4, 5], [6]],
  );
  t.deepEqual(
    batches.map((b) => b.prevSeq),
    [1, 3, 5],
  );
  t.true(batches.every((b) => b.prevEpoch === node.currentEpoch && b.epoch === node.currentEpoch));
  t.deepEqual(
    ready.entries.map((e) => e.seq),
    [2, 3, 4, 5, 6],
  );
});

test('a sequencer with nothing new multicasts a heartbeat carrying its last seq every heartbeat interval', (t) => {
  const cluster = electedCluster();
  cluster.propose('a', [proposal('p', 1), proposal('p', 2)]);
  cluster.settle();
  const sentBefore = cluster.sent.length;
  for (let i = 1; i < TEST_TIMING.heartbeatIntervalTicks; i++) cluster.tick('a');
  t.is(cluster.sent.length, sentBefore, 'no heartbeat before the interval');
  cluster.tick('a');
  const heartbeats = cluster.take(ofType('append'));
  t.deepEqual(
    heartbeats.map((h) => h.to),
    ['b', 'c'],
  );
  for (const { message, multicast } of heartbeats) {
    t.true(multicast);
    t.like(message, { type: 'append', prevSeq: 3, entries: [], commitSeq: 3 });
  }
});

test('propose answers busy window-full when maxUncommittedEntries entries are in flight', (t) => {
  const cluster = electedCluster(['a', 'b', 'c'], { overrides: { maxUncommittedEntries: 3 } });
  // Followers receive nothing, so nothing new commits.
  const results = cluster.propose(
    'a',
    [1, 2, 3, 4].map((n) => proposal('p', n)),
  );
  cluster.take();
  t.deepEqual(
    results.map((r) => r.kind),
    ['appended', 'appended', 'appended', 'busy'],
  );
  t.deepEqual(results[3], { kind: 'busy', reason: 'window-full' });
  t.is(cluster.store('a').lastSeq, 4);

  // Once the followers catch up and the entries commit, the window opens again.
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks * 2);
  t.is(cluster.node('a').committedSeq, 4);
  t.like(cluster.propose('a', [proposal('p', 4)])[0], { kind: 'appended', seq: 5 });
});

test('the sequencer caps each multicast batch in bytes too, with at least one entry per batch', (t) => {
  const cluster = electedCluster(['a', 'b', 'c'], { overrides: { maxBatchBytes: 2500 } });
  cluster.take();
  const node = cluster.node('a');
  const big = (n: number) => ({ ...proposal('p', n), payload: new Uint8Array(1000) });
  node.propose([big(1), big(2), big(3), { ...big(4), payload: new Uint8Array(5000) }, big(5)], 0);
  const batches = messagesOf(takeReady(node), 'append');
  t.deepEqual(
    batches.map((b) => b.entries.map((e) => e.seq)),
    [[2, 3], [4], [5], [6]],
    'two 1000-byte entries fit 2500 bytes, three do not; an entry larger than the cap goes alone',
  );
  t.true(batches.every((b) => b.prevSeq === b.entries[0]!.seq - 1));
});

test('a batch at the byte cap plus one largest entry still fits a frame', (t) => {
  t.true(
    LIMITS.maxBatchBytes +
      entryBytes({
        seq: 1,
        epoch: 1,
        kind: EntryKind.data,
        producerId: 'x'.repeat(LIMITS.maxProducerIdBytes),
        producerSeq: 1,
        topic: 't'.repeat(LIMITS.maxTopicBytes),
        payload: new Uint8Array(LIMITS.maxPayloadBytes),
        timestampMs: 0,
      }) <
      LIMITS.maxFrameBytes,
  );
});
