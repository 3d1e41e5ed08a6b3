import test from 'ava';
import { takeReady } from './fixtures.js';
import {
  dataEntry,
  epochStartEntry,
  messagesOf,
  newNode,
  recoveredFrom,
  winElection,
} from './harness.js';

const MEMBERS = ['a', 'b', 'c'];

test('a node restarted with a commit point beyond its recovered log claims only what it holds', (t) => {
  // Unsynced writes were lost in the crash, but the hard state had been saved.
  const log = [dataEntry(1, 1), dataEntry(2, 1)];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 5 }));
  t.is(node.committedSeq, 2);
  t.false(node.hasReady(), 'what it recovered as committed was delivered before the crash');
});

test('a node whose log holds an epoch its saved hard state never reached takes that epoch, with no vote, and saves it', (t) => {
  // The crash came between persisting the entries of a Ready and its hard state.
  const log = [epochStartEntry(1, 1), dataEntry(2, 3)];
  const node = newNode(
    'b',
    MEMBERS,
    {},
    recoveredFrom(log, { epoch: 1, votedFor: 'a', commitSeq: 1 }),
  );
  t.is(node.currentEpoch, 3);
  t.is(node.status().votedFor, null);
  t.deepEqual(takeReady(node).hardState, { epoch: 3, votedFor: null, commitSeq: 1 });
});

test('a restarted node keeps its vote: it refuses another candidate of the epoch it voted in', (t) => {
  const node = newNode('b', MEMBERS, {}, recoveredFrom([], { epoch: 4, votedFor: 'a' }));
  node.step({
    type: 'voteRequest',
    epoch: 4,
    from: 'c',
    lastSeq: 10,
    lastEpoch: 4,
    preVote: false,
    transfer: false,
  });
  t.deepEqual(
    messagesOf(takeReady(node), 'voteResponse').map((r) => r.granted),
    [false],
  );
  node.step({
    type: 'voteRequest',
    epoch: 4,
    from: 'a',
    lastSeq: 0,
    lastEpoch: 0,
    preVote: false,
    transfer: false,
  });
  t.deepEqual(
    messagesOf(takeReady(node), 'voteResponse').map((r) => r.granted),
    [true],
  );
});

test('a restarted node campaigns in an epoch after the one it saved', (t) => {
  const log = [epochStartEntry(1, 2), dataEntry(2, 2)];
  const node = newNode('a', MEMBERS, {}, recoveredFrom(log, { epoch: 5, commitSeq: 2 }));
  winElection(node, ['b']);
  t.is(node.currentEpoch, 6);
  t.deepEqual(
    takeReady(node).entries.map((e) => [e.seq, e.epoch]),
    [[3, 6]],
  );
});

test('a node restarted after a log reset whose hard state was never saved takes the log start as committed and delivers only what it holds', (t) => {
  // The crash came after the log reset (durable) and before the hard state,
  // which still names the old commit point, 3, far below the new log start.
  const node = newNode(
    'b',
    MEMBERS,
    {},
    {
      hardState: { epoch: 1, votedFor: null, commitSeq: 3 },
      firstSeq: 101,
      lastSeq: 100,
      epochBeforeFirst: 1,
      epochStarts: [],
      lastTimestampMs: 0,
      recentEntries: [],
    },
  );
  t.is(node.committedSeq, 100);
  node.step({
    type: 'append',
    epoch: 1,
    from: 'a',
    prevSeq: 100,
    prevEpoch: 1,
    entries: [dataEntry(101, 1), dataEntry(102, 1)],
    commitSeq: 102,
  });
  const ready = takeReady(node);
  t.deepEqual(ready.committed, { fromSeq: 101, toSeq: 102 }, 'never the seqs it no longer holds');
});
