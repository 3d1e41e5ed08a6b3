import test from 'ava';
import { InvariantViolation } from '../../src/core/assert.js';
import { EpochIndex } from '../../src/core/epoch-index.js';

const MAX_BOUNDARIES = 100;

/** Seqs 1..3 in epoch 1, 4..6 in epoch 2, 7..9 in epoch 4. */
function sampleIndex(): EpochIndex {
  const index = new EpochIndex(1, 0, 0, [], MAX_BOUNDARIES);
  for (const [seq, epoch] of [
    [1, 1],
    [2, 1],
    [3, 1],
    [4, 2],
    [5, 2],
    [6, 2],
    [7, 4],
    [8, 4],
    [9, 4],
  ]) {
    index.append(seq!, epoch!);
  }
  return index;
}

test('epochAt answers the epoch of every seq in the log, 0 for seq 0 and undefined outside the log', (t) => {
  const index = sampleIndex();
  t.deepEqual(
    [0, 1, 3, 4, 6, 7, 9].map((s) => index.epochAt(s)),
    [0, 1, 1, 2, 2, 4, 4],
  );
  t.is(index.epochAt(10), undefined);
  t.is(index.lastEpoch, 4);
  t.is(index.lastSeq, 9);
});

test('a boundary is recorded only when the epoch changes', (t) => {
  t.deepEqual(sampleIndex().boundaries, [
    { epoch: 1, startSeq: 1 },
    { epoch: 2, startSeq: 4 },
    { epoch: 4, startSeq: 7 },
  ]);
});

test('an append that leaves a gap or goes back in epoch is refused', (t) => {
  const index = sampleIndex();
  t.throws(() => index.append(11, 4), { instanceOf: InvariantViolation });
  t.throws(() => index.append(10, 3), { instanceOf: InvariantViolation });
  t.is(index.lastSeq, 9);
});

test('truncateAfter forgets the seqs and the boundaries above the point', (t) => {
  const index = sampleIndex();
  index.truncateAfter(5);
  t.is(index.lastSeq, 5);
  t.is(index.lastEpoch, 2);
  t.is(index.epochAt(6), undefined);
  t.deepEqual(
    index.boundaries.map((b) => b.epoch),
    [1, 2],
  );
  // The log can then continue in a newer epoch from the truncation point.
  index.append(6, 5);
  t.is(index.epochAt(6), 5);
  index.truncateAfter(3);
  t.is(index.lastEpoch, 1);
  t.deepEqual(
    index.boundaries.map((b) => b.epoch),
    [1],
  );
});

test('truncating to the log start empties it, keeping the epoch of the seq before it', (t) => {
  const index = sampleIndex();
  index.compactBefore(4);
  index.truncateAfter(3);
  t.is(index.lastSeq, 3);
  t.is(index.lastEpoch, 1);
  t.throws(() => index.truncateAfter(2), { instanceOf: InvariantViolation });
});

test('compactBefore forgets old seqs but keeps the epochs of the rest and of the seq just before', (t) => {
  const index = sampleIndex();
  index.compactBefore(5);
  t.is(index.firstSeq, 5);
  t.is(index.epochAt(4), 2, 'the seq before the first is still known, for consistency checks');
  t.is(index.epochAt(3), undefined);
  t.deepEqual(
    [5, 6, 7, 9].map((s) => index.epochAt(s)),
    [2, 2, 4, 4],
  );
  t.deepEqual(index.boundaries, [
    { epoch: 2, startSeq: 5 },
    { epoch: 4, startSeq: 7 },
  ]);
});

test('compacting the whole log leaves an empty log that continues after it', (t) => {
  const index = sampleIndex();
  index.compactBefore(100);
  t.is(index.firstSeq, 10);
  t.is(index.lastSeq, 9);
  t.is(index.lastEpoch, 4);
  t.is(index.epochAt(9), 4);
  index.append(10, 4);
  index.append(11, 6);
  t.deepEqual(
    [9, 10, 11].map((s) => index.epochAt(s)),
    [4, 4, 6],
  );
  t.is(index.lastEpoch, 6);
});

test('lastAtOrBefore finds the last seq at or before a point whose epoch is not newer than asked', (t) => {
  const index = sampleIndex();
  t.deepEqual(index.lastAtOrBefore(9, 4), { seq: 9, epoch: 4 });
  t.deepEqual(index.lastAtOrBefore(9, 3), { seq: 6, epoch: 2 });
  t.deepEqual(index.lastAtOrBefore(5, 2), { seq: 5, epoch: 2 });
  t.deepEqual(index.lastAtOrBefore(20, 2), { seq: 6, epoch: 2 });
  t.deepEqual(index.lastAtOrBefore(8, 1), { seq: 3, epoch: 1 });
  t.deepEqual(index.lastAtOrBefore(8, 0), { seq: 0, epoch: 0 });
});

test('lastAtOrBefore falls back to the seq before the log start after compaction', (t) => {
  const index = sampleIndex();
  index.compactBefore(5);
  t.deepEqual(index.lastAtOrBefore(9, 2), { seq: 6, epoch: 2 });
  t.deepEqual(index.lastAtOrBefore(9, 1), { seq: 0, epoch: 0 });
  t.deepEqual(index.lastAtOrBefore(6, 2), { seq: 6, epoch: 2 });
});

test('an index rebuilt from recovered boundaries answers as the one that wrote them', (t) => {
  const written = sampleIndex();
  const rebuilt = new EpochIndex(1, 9, 0, written.boundaries, MAX_BOUNDARIES);
  for (let seq = 0; seq <= 10; seq++)
    t.is(rebuilt.epochAt(seq), written.epochAt(seq), `seq ${seq}`);
  t.is(rebuilt.lastEpoch, 4);
});

test('recovered boundaries beyond the recovered log are ignored, and unordered ones refused', (t) => {
  const index = new EpochIndex(
    1,
    5,
    0,
    [
      { epoch: 1, startSeq: 1 },
      { epoch: 3, startSeq: 8 },
    ],
    MAX_BOUNDARIES,
  );
  t.is(index.lastEpoch, 1);
  t.throws(
    () =>
      new EpochIndex(
        1,
        9,
        0,
        [
          { epoch: 2, startSeq: 1 },
          { epoch: 1, startSeq: 4 },
        ],
        MAX_BOUNDARIES,
      ),
    { instanceOf: InvariantViolation },
  );
  t.throws(() => new EpochIndex(5, 2, 0, [], MAX_BOUNDARIES), { instanceOf: InvariantViolation });
});
