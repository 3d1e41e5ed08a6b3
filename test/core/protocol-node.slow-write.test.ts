/**
 * A host applies one Ready at a time, and a Ready's write may wait on a slow
 * fsync. Meanwhile the sequencer still owes its followers heartbeats and a
 * follower still owes the sequencer acknowledgements, or a disk stall looks
 * like a dead node and costs an election. These tests hold a Ready in flight
 * (taken, not advanced) and check what the core lets the host send early.
 */
import test from 'ava';
import type { AppendMessage } from '../../src/core/types.js';
import { electedCluster, proposal, TEST_TIMING } from './harness.js';

test('a sequencer whose Ready is in flight heartbeats once one is due, naming only what that Ready multicast', (t) => {
  const cluster = electedCluster();
  const leader = cluster.node('a');
  t.is(leader.heartbeatNow(), null, 'nothing in flight: heartbeats go with the Readies');

  leader.propose([proposal('p', 1)], 0);
  const inFlight = leader.ready();
  const multicastSeq = inFlight.entries.at(-1)!.seq;
  // Appended while the write is in flight: it goes out with the next Ready, not before.
  leader.propose([proposal('p', 2)], 0);
  t.is(leader.lastSeq, multicastSeq + 1);
  t.is(leader.heartbeatNow(), null, 'no heartbeat is due yet');

  for (let i = 0; i < TEST_TIMING.heartbeatIntervalTicks; i++) leader.tick();
  const heartbeat = leader.heartbeatNow();
  t.truthy(heartbeat);
  t.is(heartbeat!.entries.length, 0);
  t.is(heartbeat!.prevSeq, multicastSeq, 'it names the last seq already multicast');
  t.is(heartbeat!.prevEpoch, leader.epochAt(multicastSeq)!);
  t.is(heartbeat!.epoch, leader.currentEpoch);
  t.is(leader.heartbeatNow(), null, 'one heartbeat per interval');

  leader.advance(inFlight);
  for (let i = 0; i < TEST_TIMING.heartbeatIntervalTicks; i++) leader.tick();
  t.is(leader.heartbeatNow(), null, 'once advanced, the next Ready carries it');
});

test('a follower whose Ready is in flight acknowledges only what earlier Readies made durable', (t) => {
  const cluster = electedCluster();
  const follower = cluster.node('b');
  const durableSeq = follower.lastSeq;
  t.is(follower.ackNow(), null, 'nothing in flight: acks go with the Readies');

  cluster.propose('a', [proposal('p', 1)]);
  cluster.process('a');
  const append = cluster
    .take((e) => e.to === 'b' && e.message.type === 'append')
    .find((e) => (e.message as AppendMessage).entries.length > 0)!.message as AppendMessage;
  follower.step(append);
  const inFlight = follower.ready();
  t.is(inFlight.entries.length, 1, 'the new entry is being written');
  t.true(
    inFlight.messages.some(
      (m) => m.to === 'a' && m.message.type === 'ack' && m.message.matchSeq === durableSeq + 1,
    ),
    'the Ready that writes the entry acknowledges it once written',
  );
  t.is(follower.lastSeq, durableSeq + 1);
  t.is(follower.ackNow(), null, 'the Ready in flight carries the ack of what it writes');

  // The sequencer's next heartbeat arrives while the write is in flight.
  cluster.tick('a', TEST_TIMING.heartbeatIntervalTicks);
  const heartbeat = cluster
    .take((e) => e.to === 'b' && e.message.type === 'append')
    .find((e) => (e.message as AppendMessage).entries.length === 0)!.message;
  follower.step(heartbeat);
  const early = follower.ackNow();
  t.truthy(early);
  t.is(early!.to, 'a');
  t.false(early!.message.reject);
  t.is(early!.message.matchSeq, durableSeq, 'the entry being written is not claimed');
  t.is(early!.message.epoch, cluster.node('a').currentEpoch);

  follower.advance(inFlight);
  t.is(follower.ackNow(), null, 'once advanced, the Readies acknowledge');
  // The heartbeat's own ack, in a later tick, claims the entry too.
  follower.tick();
  const next = follower.hasReady() ? follower.ready() : null;
  t.truthy(next);
  t.true(
    next!.messages.some(
      (m) => m.to === 'a' && m.message.type === 'ack' && m.message.matchSeq === durableSeq + 1,
    ),
  );
});

test('a follower that has not yet made a new epoch durable acknowledges nothing early', (t) => {
  const cluster = electedCluster();
  const follower = cluster.node('b');
  const epoch = follower.currentEpoch + 1;
  const heartbeatFrom = (from: string): AppendMessage => ({
    type: 'append',
    epoch,
    from,
    prevSeq: follower.lastSeq,
    prevEpoch: follower.epochAt(follower.lastSeq)!,
    entries: [],
    commitSeq: follower.committedSeq,
  });
  // A sequencer of a newer epoch: the follower takes it on; the epoch is saved by this Ready.
  follower.step(heartbeatFrom('c'));
  const inFlight = follower.ready();
  t.is(inFlight.hardState?.epoch, epoch);
  follower.step(heartbeatFrom('c'));
  t.is(follower.ackNow(), null, 'the epoch is not durable yet');

  follower.advance(inFlight);
  follower.step(heartbeatFrom('c'));
  const next = follower.ready();
  // Heard from the sequencer again while this Ready is written.
  follower.step(heartbeatFrom('c'));
  const early = follower.ackNow();
  t.truthy(early, 'with the epoch durable, an early ack goes out');
  t.is(early!.message.epoch, epoch);
  t.is(early!.to, 'c');
  follower.advance(next);
});

test('a follower whose log restarts after a seq it lacks claims no more than its old commit point until that restart is written', (t) => {
  const cluster = electedCluster();
  const follower = cluster.node('b');
  const epoch = follower.currentEpoch;
  const oldCommit = follower.committedSeq;
  const restartSeq = follower.lastSeq + 50;
  /** The sequencer's position: its log (and commit point) ends at restartSeq. */
  const heartbeat = (extra: Partial<AppendMessage> = {}): AppendMessage => ({
    type: 'append',
    epoch,
    from: 'a',
    prevSeq: restartSeq,
    prevEpoch: epoch,
    entries: [],
    commitSeq: restartSeq,
    ...extra,
  });
  // The sequencer's retention dropped what the follower lacks: its log restarts after restartSeq.
  follower.step(heartbeat({ logStart: true, prevTimestampMs: 0 }));
  const inFlight = follower.ready();
  t.deepEqual(inFlight.resetLogAfter, { seq: restartSeq, epoch });
  follower.step(heartbeat());
  const early = follower.ackNow();
  t.truthy(early);
  t.true(
    early!.message.matchSeq <= oldCommit,
    `claims ${early!.message.matchSeq}, beyond the old commit point ${oldCommit}`,
  );

  follower.advance(inFlight);
  follower.step(heartbeat());
  const next = follower.ready();
  follower.step(heartbeat());
  t.is(follower.ackNow()?.message.matchSeq, restartSeq, 'once written, the restart point is held');
  follower.advance(next);
});
