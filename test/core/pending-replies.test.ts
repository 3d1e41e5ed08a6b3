import test from 'ava';
import { InvariantViolation } from '../../src/core/assert.js';
import { PendingReplies, type SettledReply } from '../../src/core/pending-replies.js';
import { seededRandom } from './fixtures.js';

/** The epoch of each seq in a log where seqs 1..5 are epoch 1 and 6.. are epoch 2. */
const epochAt = (seq: number) => (seq <= 5 ? 1 : 2);

/** Settled parts as [token, firstSeq, count, offset, committed]. */
function parts(settled: readonly SettledReply<string>[]) {
  return settled.map((s) => [s.token, s.firstSeq, s.count, s.offset, s.committed]);
}

test('settleCommitted answers every reply at or below the commit point, in seq order, and keeps the rest', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(4, 1, 1, 'd');
  replies.add(2, 1, 1, 'b');
  replies.add(7, 1, 2, 'g');
  replies.add(2, 1, 1, 'b2');
  t.deepEqual(parts(replies.settleCommitted(4, epochAt)), [
    ['b', 2, 1, 0, true],
    ['b2', 2, 1, 0, true],
    ['d', 4, 1, 0, true],
  ]);
  t.is(replies.size, 1);
  t.deepEqual(parts(replies.settleCommitted(7, epochAt)), [['g', 7, 1, 0, true]]);
  t.is(replies.size, 0);
});

test('a run of replies settles as one part, and in parts when the commit point falls inside it', (t) => {
  const replies = new PendingReplies<string>(100);
  replies.add(6, 20, 2, 'batch');
  t.is(replies.size, 20);
  t.deepEqual(parts(replies.settleCommitted(12, epochAt)), [['batch', 6, 7, 0, true]]);
  t.is(replies.size, 13);
  t.deepEqual(parts(replies.settleCommitted(30, epochAt)), [['batch', 13, 13, 7, true]]);
  t.is(replies.size, 0);
});

test('a run whose tail committed with entries of another epoch is answered in a committed part and a replaced part', (t) => {
  const replies = new PendingReplies<string>(100);
  // Given seqs 3..8 in epoch 1 by a sequencer that was deposed; epoch 2 wrote other entries from seq 6.
  replies.add(3, 6, 1, 'mixed');
  t.deepEqual(parts(replies.settleCommitted(8, epochAt)), [
    ['mixed', 3, 3, 0, true],
    ['mixed', 6, 3, 3, false],
  ]);
});

test('a reply whose entry was compacted before it settled is not claimed as committed', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(3, 1, 1, 'old');
  t.deepEqual(parts(replies.settleCommitted(3, () => undefined)), [['old', 3, 1, 0, false]]);
});

test('settleTruncated fails every reply above the truncation point, cutting a run in two, and keeps the others', (t) => {
  const replies = new PendingReplies<string>(100);
  replies.add(3, 1, 1, 'c');
  replies.add(5, 1, 1, 'e');
  replies.add(4, 1, 1, 'd');
  replies.add(2, 6, 1, 'run');
  t.deepEqual(parts(replies.settleTruncated(3)), [
    ['run', 4, 4, 2, false],
    ['d', 4, 1, 0, false],
    ['e', 5, 1, 0, false],
  ]);
  t.is(replies.size, 3);
  t.deepEqual(parts(replies.settleCommitted(3, epochAt)), [
    ['run', 2, 2, 0, true],
    ['c', 3, 1, 0, true],
  ]);
});

test('add refuses once maxPending replies wait, and accepts again after some settle', (t) => {
  const replies = new PendingReplies<string>(4);
  t.true(replies.add(1, 2, 1, 'a'));
  t.true(replies.add(1, 1, 1, 'a2'));
  t.false(replies.add(3, 2, 1, 'b'));
  t.true(replies.add(3, 1, 1, 'c'));
  t.is(replies.size, 4);
  replies.settleCommitted(1, epochAt);
  t.is(replies.size, 2);
  t.true(replies.add(4, 2, 1, 'b'));
});

test('the same seq cannot wait in two epochs', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(6, 3, 1, 'x');
  t.throws(() => replies.add(8, 1, 2, 'y'), { instanceOf: InvariantViolation });
  t.throws(() => replies.add(4, 3, 2, 'z'), { instanceOf: InvariantViolation });
});

test('drain removes and returns every waiting token', (t) => {
  const replies = new PendingReplies<string>(10);
  replies.add(1, 1, 1, 'a');
  replies.add(2, 3, 1, 'b');
  replies.add(2, 1, 1, 'c');
  t.deepEqual(replies.drain().sort(), ['a', 'b', 'c']);
  t.is(replies.size, 0);
  t.deepEqual(replies.settleCommitted(10, epochAt), []);
});

test('seeded: runs settle exactly as replies kept one per seq would, through commits and truncations (seeds 1..200)', (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const random = seededRandom(seed);
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    const replies = new PendingReplies<number>(1_000_000);
    /** The model: one [token, seq, epoch] per waiting reply. */
    let model: [number, number, number][] = [];
    /** Which epoch wrote each seq of the log; a truncation rewrites the tail in a later epoch. */
    const logEpochs: number[] = [0];
    let epoch = 1;
    let commit = 0;
    const epochAtSeq = (seq: number) => logEpochs[seq];
    let token = 0;
    for (let step = 0; step < 60; step++) {
      const action = random();
      if (action < 0.55) {
        const count = int(1, 8);
        const first = logEpochs.length;
        for (let k = 0; k < count; k++) logEpochs.push(epoch);
        replies.add(first, count, epoch, ++token);
        for (let k = 0; k < count; k++) model.push([token, first + k, epoch]);
      } else if (action < 0.8 && commit < logEpochs.length - 1) {
        commit = int(commit + 1, logEpochs.length - 1);
        const got = replies.settleCommitted(commit, epochAtSeq);
        const expected = model.filter(([, seq]) => seq <= commit);
        model = model.filter(([, seq]) => seq > commit);
        const flat = got.flatMap((s) =>
          Array.from(
            { length: s.count },
            (_, k) => [s.token, s.firstSeq + k, s.committed] as const,
          ),
        );
        t.deepEqual(
          [...flat].sort((a, b) => a[1] - b[1] || a[0] - b[0]),
          expected
            .map(([tk, seq, e]) => [tk, seq, epochAtSeq(seq) === e] as const)
            .sort((a, b) => a[1] - b[1] || a[0] - b[0]),
          `seed ${seed} step ${step}: commit ${commit}`,
        );
      } else if (logEpochs.length - 1 > commit) {
        // A new sequencer truncates the uncommitted tail and writes its own entries there.
        const cut = int(commit, logEpochs.length - 2);
        const got = replies.settleTruncated(cut);
        const expected = model.filter(([, seq]) => seq > cut).length;
        model = model.filter(([, seq]) => seq <= cut);
        t.is(
          got.reduce((n, s) => n + s.count, 0),
          expected,
          `seed ${seed} step ${step}: cut ${cut}`,
        );
        t.true(got.every((s) => !s.committed && s.firstSeq > cut));
        logEpochs.length = cut + 1;
        epoch++;
      }
      t.is(replies.size, model.length, `seed ${seed} step ${step}: size`);
    }
  }
});
