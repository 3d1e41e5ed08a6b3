import test from 'ava';
import { ProducerTable } from '../../src/core/producer-table.js';
import { seededRandom } from './fixtures.js';

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

/**
 * The table's history as plain (producerSeq, seq) pairs, one per message, as
 * the rules say: the last `maxHistory` pairs, the newest dropped pair, and
 * truncation that stays exact or forgets. The table keeps runs of pairs; it
 * must answer exactly as this does.
 */
class PairHistoryModel {
  readonly producers = new Map<
    string,
    { last: number; pairs: [number, number][]; evicted: [number, number] | null }
  >();

  constructor(private readonly maxHistory: number) {}

  record(producerId: string, producerSeq: number, seq: number): void {
    let state = this.producers.get(producerId);
    if (state === undefined || producerSeq <= state.last) {
      state = { last: producerSeq - 1, pairs: [], evicted: null };
      this.producers.set(producerId, state);
    }
    state.last = producerSeq;
    state.pairs.push([producerSeq, seq]);
    if (state.pairs.length > this.maxHistory) state.evicted = state.pairs.shift()!;
  }

  truncateAfter(seq: number): void {
    for (const [producerId, state] of [...this.producers]) {
      const kept = state.pairs.filter(([, s]) => s <= seq).length;
      if (kept === state.pairs.length) continue;
      if (kept > 0) state.last = state.pairs[kept - 1]![0];
      else if (state.evicted !== null && state.evicted[1] <= seq) state.last = state.evicted[0];
      else {
        this.producers.delete(producerId);
        continue;
      }
      state.pairs.length = kept;
    }
  }
}

test('the history kept as runs answers as one pair per message would, over random batches, truncations and restores', (t) => {
  const seed = 20_261_130;
  t.log(`seed ${seed}`);
  const random = seededRandom(seed);
  const maxHistory = 24;
  const ids = ['p', 'q', 'r'];
  let table = new ProducerTable(100, maxHistory);
  const model = new PairHistoryModel(maxHistory);
  const nextProducerSeq = new Map(ids.map((id) => [id, 1]));
  let lastSeq = 0;
  let mismatches = 0;
  const compare = (step: number): void => {
    const saved = table.snapshot(Number.MAX_SAFE_INTEGER);
    const expected = ids
      .filter((id) => model.producers.has(id))
      .map((id) => {
        const state = model.producers.get(id)!;
        return {
          producerId: id,
          lastProducerSeq: state.last,
          producerSeqs: state.pairs.map(([p]) => p),
          seqs: state.pairs.map(([, s]) => s),
          evictedProducerSeq: state.evicted?.[0] ?? null,
          evictedSeq: state.evicted?.[1] ?? null,
        };
      });
    const actual = [...saved]
      .sort((a, b) => a.producerId.localeCompare(b.producerId))
      .map(({ owner: _owner, ...rest }) => rest);
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      if (mismatches++ === 0)
        t.log(`step ${step}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`);
    }
    for (const id of ids) {
      const state = model.producers.get(id);
      if (state === undefined) continue;
      for (let p = Math.max(1, state.last - maxHistory - 3); p <= state.last + 1; p++) {
        const pair = state.pairs.find(([q]) => q === p);
        const verdict = table.check(id, p);
        const want =
          p === state.last + 1
            ? { kind: 'new' }
            : { kind: 'duplicate', seq: pair === undefined ? null : pair[1] };
        if (JSON.stringify(verdict) !== JSON.stringify(want)) {
          if (mismatches++ === 0)
            t.log(`step ${step}: check(${id}, ${p}) gave ${JSON.stringify(verdict)}`);
        }
      }
    }
  };
  for (let step = 0; step < 4000; step++) {
    const roll = random();
    if (roll < 0.08 && lastSeq > 0) {
      // A truncation of the log's suffix; producers continue after what they still hold.
      const at = lastSeq - Math.floor(random() * Math.min(lastSeq, 40));
      table.truncateAfter(at);
      model.truncateAfter(at);
      lastSeq = at;
      for (const id of ids) nextProducerSeq.set(id, (model.producers.get(id)?.last ?? 0) + 1);
    } else if (roll < 0.082) {
      // A restore from a snapshot, as a restart from a dedup checkpoint does.
      const restored = new ProducerTable(100, maxHistory);
      restored.restore(table.snapshot(maxHistory));
      table = restored;
    } else {
      // A batch of one producer: consecutive producerSeqs at consecutive
      // seqs, recorded message by message or as one run (sometimes longer
      // than the whole history).
      const id = ids[Math.floor(random() * ids.length)]!;
      const count = 1 + Math.floor(random() * (random() < 0.1 ? 60 : 12));
      const firstProducerSeq = nextProducerSeq.get(id)!;
      const asRun = random() < 0.5;
      if (asRun) table.record(id, firstProducerSeq, lastSeq + 1, '', count);
      for (let k = 0; k < count; k++) {
        const producerSeq = firstProducerSeq + k;
        lastSeq++;
        if (!asRun) table.record(id, producerSeq, lastSeq);
        model.record(id, producerSeq, lastSeq);
        nextProducerSeq.set(id, producerSeq + 1);
      }
    }
    compare(step);
  }
  t.is(mismatches, 0);
});
