import test from 'ava';
import { ProducerTable } from '../../src/core/producer-table.js';

test('a producer the table does not know must start at producerSeq 1', (t) => {
  const table = new ProducerTable(10, 10);
  t.deepEqual(table.check('p', 1), { kind: 'new' });
  t.deepEqual(table.check('p', 42), { kind: 'outOfOrder', expectedProducerSeq: 1 });
});

test('the next producerSeq is new, a skipped one is refused with the expected one', (t) => {
  const table = new ProducerTable(10, 10);
  table.record('p', 5, 100);
  t.deepEqual(table.check('p', 6), { kind: 'new' });
  t.deepEqual(table.check('p', 8), { kind: 'outOfOrder', expectedProducerSeq: 6 });
});

test('a retry is a duplicate that names the seq it was given', (t) => {
  const table = new ProducerTable(10, 10);
  table.record('p', 1, 10);
  table.record('q', 1, 11);
  table.record('p', 2, 12);
  t.deepEqual(table.check('p', 1), { kind: 'duplicate', seq: 10 });
  t.deepEqual(table.check('p', 2), { kind: 'duplicate', seq: 12 });
  t.deepEqual(table.check('q', 1), { kind: 'duplicate', seq: 11 });
});

test('a retry older than the remembered history is a duplicate without a seq', (t) => {
  const table = new ProducerTable(10, 2);
  for (let n = 1; n <= 4; n++) table.record('p', n, 100 + n);
  t.deepEqual(table.check('p', 1), { kind: 'duplicate', seq: null });
  t.deepEqual(table.check('p', 2), { kind: 'duplicate', seq: null });
  t.deepEqual(table.check('p', 3), { kind: 'duplicate', seq: 103 });
});

test('the log is the authority: a producer recorded again from a lower producerSeq starts afresh there', (t) => {
  // A sequencer whose bounded table had forgotten p told it to start again at 1,
  // while this table still remembered p up to 3.
  const table = new ProducerTable(10, 10);
  for (let n = 1; n <= 3; n++) table.record('p', n, n);
  t.notThrows(() => table.record('p', 1, 10));
  t.deepEqual(table.check('p', 1), { kind: 'duplicate', seq: 10 });
  t.deepEqual(table.check('p', 2), { kind: 'new' });
  t.is(table.size, 1);
});

test('past maxProducers the producer recorded least recently is forgotten', (t) => {
  const table = new ProducerTable(2, 10);
  table.record('p', 1, 1);
  table.record('q', 1, 2);
  table.record('p', 2, 3); // p is now the most recently used.
  table.record('r', 1, 4);
  t.is(table.size, 2);
  t.deepEqual(table.check('q', 1), { kind: 'new' }, 'q was forgotten');
  t.deepEqual(table.check('p', 2), { kind: 'duplicate', seq: 3 });
  t.deepEqual(table.check('r', 1), { kind: 'duplicate', seq: 4 });
});

test('truncateAfter forgets the messages recorded above the point and expects them again', (t) => {
  const table = new ProducerTable(10, 10);
  table.record('p', 1, 1);
  table.record('p', 2, 2);
  table.record('q', 1, 3);
  table.record('p', 3, 4);
  table.truncateAfter(2);
  t.deepEqual(table.check('p', 2), { kind: 'duplicate', seq: 2 });
  t.deepEqual(table.check('p', 3), { kind: 'new' });
  t.deepEqual(table.check('p', 4), { kind: 'outOfOrder', expectedProducerSeq: 3 });
  t.deepEqual(table.check('q', 1), { kind: 'new' }, 'q:1 is gone from the log');
  t.is(table.size, 1);
});

test('a producer whose every message from its first one was truncated is forgotten', (t) => {
  const table = new ProducerTable(10, 10);
  table.record('p', 1, 5);
  table.record('p', 2, 6);
  table.truncateAfter(4);
  t.is(table.size, 0);
  t.deepEqual(table.check('p', 1), { kind: 'new' });
});

test('truncation below what a full history remembers still expects the first removed producerSeq', (t) => {
  const table = new ProducerTable(10, 2);
  for (let n = 1; n <= 4; n++) table.record('p', n, n);
  // History holds p:3 and p:4 only; both are removed, p:1 and p:2 are still in the log.
  table.truncateAfter(2);
  t.deepEqual(table.check('p', 3), { kind: 'new' });
  t.deepEqual(table.check('p', 2), { kind: 'duplicate', seq: null });
  t.deepEqual(table.check('p', 5), { kind: 'outOfOrder', expectedProducerSeq: 3 });
});

test('a truncation above every recorded seq changes nothing', (t) => {
  const table = new ProducerTable(10, 10);
  table.record('p', 1, 1);
  table.truncateAfter(1);
  t.deepEqual(table.check('p', 1), { kind: 'duplicate', seq: 1 });
  t.deepEqual(table.check('p', 2), { kind: 'new' });
});

test('truncation that removes a full history whose evicted part may also be gone forgets the producer rather than guess its last producerSeq', (t) => {
  const table = new ProducerTable(10, 2);
  // p:1..p:4 at seqs 11..14; the history holds p:3 and p:4, p:2 (seq 12) was evicted last.
  for (let n = 1; n <= 4; n++) table.record('p', n, 10 + n);
  // Truncating after seq 11 removes p:2 too, which the history no longer shows.
  table.truncateAfter(11);
  t.deepEqual(
    table.check('p', 2),
    { kind: 'outOfOrder', expectedProducerSeq: 1 },
    'p must not be taken to be at p:2 (a retry of p:2 would be acked without a log entry)',
  );
  t.is(table.size, 0);
});

test('a snapshot restored into a new table answers like the original, and a truncation after restore stays exact or forgets', (t) => {
  const table = new ProducerTable(10, 100);
  for (let n = 1; n <= 5; n++) table.record('p', n, 10 + n);
  table.record('q', 1, 20);
  const restored = new ProducerTable(10, 100);
  restored.restore(table.snapshot(2));
  t.deepEqual(restored.check('p', 5), { kind: 'duplicate', seq: 15 });
  t.deepEqual(restored.check('p', 6), { kind: 'new' });
  t.deepEqual(
    restored.check('p', 2),
    { kind: 'duplicate', seq: null },
    'older pairs were not saved',
  );
  t.deepEqual(restored.check('q', 1), { kind: 'duplicate', seq: 20 });
  // The snapshot kept p:4 and p:5 and remembers p:3 (seq 13) as the newest dropped pair.
  restored.truncateAfter(13);
  t.deepEqual(restored.check('p', 4), { kind: 'new' });
  const again = new ProducerTable(10, 100);
  again.restore(table.snapshot(2));
  again.truncateAfter(12);
  t.deepEqual(
    again.check('p', 3),
    { kind: 'outOfOrder', expectedProducerSeq: 1 },
    'unknown: forgotten, not guessed',
  );
});

test('a producer id belongs to the first identity that recorded under it; a snapshot carries the owner', (t) => {
  const table = new ProducerTable(10, 10);
  table.record('p', 1, 1, 'alice');
  table.record('p', 2, 2, 'bob');
  table.record('q', 1, 3);
  table.record('q', 2, 4, 'carol');
  t.is(table.ownerOf('p'), 'alice', 'the first owner stays');
  t.is(
    table.ownerOf('q'),
    'carol',
    'a producer id first used without an identity takes the first one',
  );
  t.is(table.ownerOf('unknown'), '');
  // A new session of the producer (its seq starting again) keeps the owner.
  table.record('p', 1, 5, 'alice');
  t.is(table.ownerOf('p'), 'alice');

  const restored = new ProducerTable(10, 10);
  restored.restore(table.snapshot(4));
  t.is(restored.ownerOf('p'), 'alice');
  t.is(restored.ownerOf('q'), 'carol');
  t.deepEqual(
    table.snapshot(4).map((p) => [p.producerId, p.owner]),
    [
      ['q', 'carol'],
      ['p', 'alice'],
    ],
  );
});
