import test from 'ava';
import { InvariantViolation } from '../../src/core/assert.js';
import { PendingReplies } from '../../src/core/pending-replies.js';

/** The epoch of each seq in a log where seqs 1..5 are epoch 1 and 6.. are epoch 2. */
const epochAt = (seq: number) => (seq <= 5 ? 1 : 2);

test('settleCommitted answers every reply at or below the commit point, in seq order, and keeps the rest', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(4, 1, 'd');
  replies.add(2, 1, 'b');
  replies.add(7, 2, 'g');
  replies.add(2, 1, 'b2');
  const settled = replies.settleCommitted(4, epochAt);
  t.deepEqual(settled, [
    { token: 'b', seq: 2, committed: true },
    { token: 'b2', seq: 2, committed: true },
    { token: 'd', seq: 4, committed: true },
  ]);
  t.is(replies.size, 1);
  t.deepEqual(replies.settleCommitted(7, epochAt), [{ token: 'g', seq: 7, committed: true }]);
  t.is(replies.size, 0);
});

test('a reply whose seq committed with an entry of another epoch is answered as not committed', (t) => {
  const replies = new PendingReplies<string>(10);
  // Given seq 6 in epoch 1 by a sequencer that was deposed; epoch 2 wrote another entry there.
  replies.add(6, 1, 'lost');
  t.deepEqual(replies.settleCommitted(6, epochAt), [{ token: 'lost', seq: 6, committed: false }]);
});

test('a reply whose entry was compacted before it settled is not claimed as committed', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(3, 1, 'old');
  t.deepEqual(
    replies.settleCommitted(3, () => undefined),
    [{ token: 'old', seq: 3, committed: false }],
  );
});

test('settleTruncated fails every reply above the truncation point and keeps the others', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(3, 1, 'c');
  replies.add(5, 1, 'e');
  replies.add(4, 1, 'd');
  const failed = replies.settleTruncated(3);
  t.deepEqual(failed.map((s) => [s.token, s.seq, s.committed]).sort(), [
    ['d', 4, false],
    ['e', 5, false],
  ]);
  t.is(replies.size, 1);
  t.deepEqual(replies.settleCommitted(3, epochAt), [{ token: 'c', seq: 3, committed: true }]);
});

test('add refuses once maxPending replies wait, and accepts again after some settle', (t) => {
  const replies = new PendingReplies<string>(2);
  t.true(replies.add(1, 1, 'a'));
  t.true(replies.add(1, 1, 'a2'));
  t.false(replies.add(2, 1, 'b'));
  t.is(replies.size, 2);
  replies.settleCommitted(1, epochAt);
  t.true(replies.add(2, 1, 'b'));
});

test('the same seq cannot wait in two epochs', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(6, 1, 'x');
  t.throws(() => replies.add(6, 2, 'y'), { instanceOf: InvariantViolation });
});

test('drain removes and returns every waiting token', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(1, 1, 'a');
  replies.add(2, 1, 'b');
  replies.add(2, 1, 'c');
  t.deepEqual(replies.drain().sort(), ['a', 'b', 'c']);
  t.is(replies.size, 0);
  t.deepEqual(replies.settleCommitted(10, epochAt), []);
});
