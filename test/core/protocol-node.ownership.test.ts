import test from 'ava';
import type { Entry } from '../../src/core/types.js';
import {
  dataEntry,
  epochStartEntry,
  newNode,
  proposal,
  recoveredFrom,
  takeReady,
  winElection,
} from './fixtures.js';

const MEMBERS = ['a', 'b', 'c'];

function owned(entry: Entry, owner: string): Entry {
  return { ...entry, owner };
}

test('the sequencer writes the publishing identity into each entry and refuses another identity under that producer id', (t) => {
  const node = newNode('a', MEMBERS);
  winElection(node, ['b', 'c']);
  takeReady(node);
  const [appended] = node.propose([{ ...proposal('p', 1), owner: 'alice' }], 0);
  t.is(appended!.kind, 'appended');
  const written = takeReady(node).entries.find((e) => e.producerId === 'p')!;
  t.is(written.owner, 'alice');
  t.deepEqual(node.propose([{ ...proposal('p', 2), owner: 'bob' }], 0), [
    { kind: 'forbidden', owner: 'alice' },
  ]);
  // A retry of alice's first message by bob is refused too, not answered as a duplicate.
  t.deepEqual(node.propose([{ ...proposal('p', 1), owner: 'bob' }], 0), [
    { kind: 'forbidden', owner: 'alice' },
  ]);
  t.is(node.propose([{ ...proposal('p', 2), owner: 'alice' }], 0)[0]!.kind, 'appended');
  // Without identities (an insecure cluster) nothing is refused.
  t.is(node.propose([proposal('p', 3)], 0)[0]!.kind, 'appended');
});

test('a node rebuilds producer-id owners from its recovered log, and refuses once it is sequencer', (t) => {
  const log = [
    epochStartEntry(1, 1),
    owned(dataEntry(2, 1, 'p', 1), 'alice'),
    owned(dataEntry(3, 1, 'q', 1), 'bob'),
    // Written before owners were recorded: no owner.
    dataEntry(4, 1, 'r', 1),
  ];
  const node = newNode('b', MEMBERS, {}, recoveredFrom(log, { epoch: 1, commitSeq: 4 }));
  t.is(node.producerOwner('p'), 'alice');
  t.is(node.producerOwner('q'), 'bob');
  t.is(node.producerOwner('r'), '');
  winElection(node, ['a', 'c']);
  takeReady(node);
  t.deepEqual(node.propose([{ ...proposal('p', 2), owner: 'bob' }], 0), [
    { kind: 'forbidden', owner: 'alice' },
  ]);
  t.is(node.propose([{ ...proposal('r', 2), owner: 'bob' }], 0)[0]!.kind, 'appended');
  t.is(node.producerOwner('r'), 'bob', 'an unowned producer id goes to the first identity');
});

test('a follower learns owners from the entries it appends, and a dedup checkpoint carries them', (t) => {
  const follower = newNode('b', MEMBERS);
  follower.step({
    type: 'append',
    epoch: 1,
    from: 'a',
    prevSeq: 0,
    prevEpoch: 0,
    entries: [epochStartEntry(1, 1), owned(dataEntry(2, 1, 'p', 1), 'alice')],
    commitSeq: 2,
  });
  takeReady(follower);
  t.is(follower.producerOwner('p'), 'alice');
  const checkpoint = follower.dedupCheckpoint(16);
  t.is(checkpoint.producers.find((p) => p.producerId === 'p')?.owner, 'alice');

  // Restarted from the checkpoint, with the entries it covers gone from the log.
  const restarted = newNode(
    'b',
    MEMBERS,
    {},
    {
      ...recoveredFrom([], { epoch: 1, commitSeq: 2 }),
      firstSeq: 3,
      lastSeq: 2,
      epochBeforeFirst: 1,
      dedupCheckpoint: checkpoint,
    },
  );
  t.is(restarted.producerOwner('p'), 'alice');
});
