import test from 'ava';
import type { Membership } from '../../src/core/membership.js';
import { retransmitAppend } from '../../src/core/retransmit.js';
import { dataEntry } from './fixtures.js';

const membership: Membership = {
  members: [
    { id: 'a', voter: true, address: '' },
    { id: 'b', voter: true, address: '' },
    { id: 'd', voter: false, address: '' },
  ],
};

/** A retransmission of seqs 41.. after seq 40 of epoch 2, sent in epoch 3. */
const base = { to: 'b', epoch: 3, prevSeq: 40, prevEpoch: 2, fromSeq: 41 };

test('a retransmission from the log start carries the committed membership', (t) => {
  const action = { ...base, toSeq: 42, commitSeq: 42, logStart: true, membership };
  const append = retransmitAppend('a', action, [dataEntry(41, 3), dataEntry(42, 3)]);
  t.true(append.logStart);
  t.deepEqual(append.membership, membership, 'a follower whose log restarts there learns it');
  t.deepEqual(
    append.entries.map((e) => e.seq),
    [41, 42],
  );
});

test('a retransmission inside the log carries no membership', (t) => {
  const action = { ...base, toSeq: 41, commitSeq: 41 };
  const append = retransmitAppend('a', action, [dataEntry(41, 3)]);
  t.is(append.logStart, undefined);
  t.is(append.membership, undefined);
});
