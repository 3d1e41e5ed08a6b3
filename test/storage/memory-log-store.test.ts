import test from 'ava';
import { type Entry, EntryKind } from '../../src/core/types.js';
import { LogRangeError } from '../../src/storage/log-store.js';
import { MemoryLogStore } from '../../src/storage/memory-log-store.js';
import { Prng } from '../sim/prng.js';

function entry(seq: number): Entry {
  return {
    seq,
    epoch: 1,
    kind: EntryKind.data,
    producerId: 'p',
    producerSeq: seq,
    topic: 't',
    payload: new Uint8Array([seq & 0xff]),
    timestampMs: seq,
  };
}

const range = (from: number, to: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i));

test('retention drops committed entries beyond the bound, over many rounds, and reads and truncation stay exact', async (t) => {
  const store = new MemoryLogStore(10);
  let last = 0;
  for (let round = 0; round < 50; round++) {
    await store.write(null, range(last + 1, last + 7));
    last += 7;
    // Only committed entries may go: commit lags the log by 3.
    await store.applyRetention(last - 3);
    t.is(store.lastSeq(), last);
    t.is(store.firstSeq(), Math.max(1, last - 9));
  }
  const first = store.firstSeq();
  await t.throwsAsync(store.read(first - 1, last, 1 << 20), { instanceOf: LogRangeError });
  t.deepEqual(
    (await store.read(first, last, 1 << 20)).map((e) => e.seq),
    range(first, last).map((e) => e.seq),
  );
  t.deepEqual(
    (await store.read(first, last, 3)).map((e) => e.seq),
    [first, first + 1, first + 2],
    'a read stops at its byte bound',
  );
  // Truncation after a retained prefix, then a new tail.
  await store.write(last - 4, range(last - 3, last - 2));
  t.is(store.lastSeq(), last - 2);
  t.deepEqual(
    (await store.read(last - 5, last, 1 << 20)).map((e) => e.seq),
    [last - 5, last - 4, last - 3, last - 2],
  );
  // Retention never drops an uncommitted entry, whatever the bound.
  await store.write(null, range(last - 1, last + 30));
  await store.applyRetention(first);
  t.is(store.firstSeq(), first + 1);
  await store.reset(500);
  t.is(store.firstSeq(), 500);
  t.is(store.lastSeq(), 499);
  await store.write(null, [entry(500)]);
  t.deepEqual(
    (await store.read(500, 500, 10)).map((e) => e.seq),
    [500],
  );
});

const MODEL_SEED = 23;

test(`the memory log answers as a plain array of entries would, over seeded writes, truncations, retention and reads (seed ${MODEL_SEED})`, async (t) => {
  const prng = new Prng(MODEL_SEED);
  const random = () => prng.next();
  for (const maxEntries of [0, 5, 300]) {
    const store = new MemoryLogStore(maxEntries);
    // The model: the seqs held, first to last.
    let first = 1;
    let last = 0;
    let commit = 0;
    let mismatches = 0;
    for (let step = 0; step < 3000; step++) {
      const roll = random();
      if (roll < 0.45) {
        const count = 1 + Math.floor(random() * 40);
        await store.write(null, range(last + 1, last + count));
        last += count;
      } else if (roll < 0.55 && last > commit) {
        // Only uncommitted entries are ever truncated.
        const after = commit + Math.floor(random() * (last - commit));
        const count = Math.floor(random() * 5);
        await store.write(after, range(after + 1, after + count));
        last = after + count;
      } else if (roll < 0.75) {
        commit = Math.min(last, commit + Math.floor(random() * 60));
        const dropped = Math.max(0, Math.min(last - first + 1 - maxEntries, commit - first + 1));
        first += dropped;
        if ((await store.applyRetention(commit)) !== first) mismatches++;
      } else if (last >= first) {
        const from = first + Math.floor(random() * (last - first + 1));
        const to = from + Math.floor(random() * 80);
        const read = (await store.read(from, to, 1 << 20)).map((e) => e.seq);
        const expected = range(from, Math.min(to, last)).map((e) => e.seq);
        if (read.join() !== expected.join()) mismatches++;
      }
      if (store.firstSeq() !== first || store.lastSeq() !== last) mismatches++;
    }
    t.is(mismatches, 0, `maxEntries ${maxEntries}`);
  }
});
