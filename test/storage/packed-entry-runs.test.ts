import test from 'ava';
import { type Entry, EntryKind, makeEpochStartEntry } from '../../src/core/types.js';
import { LIMITS } from '../../src/limits.js';
import { EntryCache } from '../../src/storage/entry-cache.js';
import { PackedEntryRuns } from '../../src/storage/packed-entry-runs.js';
import { packedSourceAt } from '../../src/wire/packed-source.js';
import { decodePeerMessage, encodePeerMessage } from '../../src/wire/peer-codec.js';
import { plainEntries } from '../helpers/plain-entries.js';
import { Prng } from '../sim/prng.js';

/** Entry `seq` as every test here writes it: its fields follow from its seq, so a wrong one shows. */
function entry(seq: number): Entry {
  // Producers, and log times, change every 40 seqs and topics every 5, so
  // that packed runs hold many entries and change topic inside.
  const stretch = Math.floor(seq / 40);
  if (seq % 97 === 0) return makeEpochStartEntry(seq, 2, 1_000 + stretch);
  return {
    seq,
    epoch: 2,
    kind: EntryKind.data,
    producerId: `p${stretch % 3}`,
    producerSeq: seq,
    topic: `t${Math.floor(seq / 5) % 4}`,
    payload: Uint8Array.from({ length: seq % 7 }, (_, i) => (seq + i) & 0xff),
    timestampMs: 1_000 + stretch,
  };
}

const range = (from: number, to: number): Entry[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => entry(from + i));

function readAll(runs: PackedEntryRuns, from: number, to: number): Entry[] {
  const out: Entry[] = [];
  runs.read(from, to, (e) => {
    out.push(e);
    return true;
  });
  return out;
}

test('a write longer than one run is split into runs, and reads across and inside them give every field back', (t) => {
  const perRun = LIMITS.memoryRunEntries;
  const runs = new PackedEntryRuns(1);
  const last = 2 * perRun + 300;
  runs.append(range(1, last));
  t.is(runs.size, last);
  t.deepEqual(readAll(runs, 1, last), range(1, last));
  t.deepEqual(readAll(runs, perRun - 2, perRun + 3), range(perRun - 2, perRun + 3));
  t.deepEqual(readAll(runs, perRun + 10, perRun + 10), [entry(perRun + 10)]);
  // A read stops where its consumer stops taking.
  const taken: number[] = [];
  runs.read(5, last, (e) => {
    taken.push(e.seq);
    return taken.length < 3;
  });
  t.deepEqual(taken, [5, 6, 7]);
  t.throws(() => runs.append([entry(last + 2)]), { message: /append of seq/ });
});

const MODEL_SEED = 31;

test(`packed runs hold what a plain array would, over seeded appends, truncations, drops and reads (seed ${MODEL_SEED})`, (t) => {
  const prng = new Prng(MODEL_SEED);
  const runs = new PackedEntryRuns(1);
  let first = 1;
  let last = 0;
  let mismatches = 0;
  for (let step = 0; step < 1500; step++) {
    const roll = prng.next();
    if (roll < 0.4) {
      // Mostly short writes, sometimes one longer than a run.
      const count =
        prng.next() < 0.1
          ? 1 + Math.floor(prng.next() * 3 * LIMITS.memoryRunEntries)
          : 1 + Math.floor(prng.next() * 60);
      runs.append(range(last + 1, last + count));
      last += count;
    } else if (roll < 0.5) {
      // A cut anywhere, even below the start (the range then restarts after it).
      const after = first - 2 + Math.floor(prng.next() * (last - first + 3));
      runs.truncateAfter(after);
      if (after < first) first = after + 1;
      last = Math.min(last, after);
    } else if (roll < 0.62) {
      const before = first + Math.floor(prng.next() * (last - first + 3));
      runs.dropBefore(before);
      if (before > last) last = before - 1;
      first = Math.max(first, before);
    } else if (roll < 0.67) {
      if (last >= first) {
        runs.dropOldestRun();
        // Whole runs go: the new start is a run boundary, at most one run on.
        if (runs.firstSeq <= first || runs.firstSeq - first > LIMITS.memoryRunEntries) mismatches++;
        first = runs.firstSeq;
      }
    } else if (last >= first) {
      const from = first + Math.floor(prng.next() * (last - first + 1));
      const to = from + Math.floor(prng.next() * 2 * LIMITS.memoryRunEntries);
      const read = readAll(runs, from, to);
      const expected = range(from, Math.min(to, last));
      if (JSON.stringify(read) !== JSON.stringify(expected)) mismatches++;
    }
    if (runs.firstSeq !== first || runs.lastSeq !== last || runs.size !== last - first + 1)
      mismatches++;
    if ((runs.size === 0) !== (runs.sizeBytes === 0)) mismatches++;
  }
  t.is(mismatches, 0);
  t.deepEqual(readAll(runs, first, last), range(first, last));
});

test('the cache keeps the newest entries within its entry and byte bounds', (t) => {
  const cache = new EntryCache(100, 1 << 20, 1);
  // Appends of 7 entries each: the entry bound drops whole runs, never cuts one.
  for (let seq = 1; seq <= 250; seq += 7) cache.append(range(seq, Math.min(seq + 6, 250)));
  // Runs start at 1, 8, ..., 141, 148, 155: 148-250 is 103 entries, so 155-250 stays.
  t.is(cache.firstSeq, 155);
  t.is(cache.lastSeq, 250);
  t.is(cache.size, 96);
  // One append larger than the entry bound leaves as one run: the cache empties.
  const oneRun = new EntryCache(100, 1 << 20, 1);
  oneRun.append(range(1, 250));
  t.is(oneRun.size, 0);
  t.is(oneRun.firstSeq, 251);
  const seqs: number[] = [];
  t.is(
    cache.read(150, 160, (e) => seqs.push(e.seq) > 0),
    150,
    'a seq the cache lacks is read from nowhere',
  );
  t.is(
    cache.read(155, 160, (e) => seqs.push(e.seq) > 0),
    161,
  );
  t.deepEqual(
    seqs,
    range(155, 160).map((e) => e.seq),
  );
  // A byte bound below one run's size drops whole runs, oldest first, down to an empty cache.
  const small = new EntryCache(10_000, 1, 1);
  small.append(range(1, 50));
  t.is(small.size, 0);
  t.is(small.firstSeq, 51);
  small.append(range(51, 60));
  t.is(small.size, 0);
  const none = new EntryCache(0, 1 << 20, 1);
  none.append(range(1, 5));
  t.is(none.size, 0);
  t.is(none.firstSeq, 6);
});

/** An append of `entries` as a follower decodes it from the wire. */
function receivedAppend(entries: readonly Entry[]): readonly Entry[] {
  const wire = encodePeerMessage('c', {
    type: 'append',
    epoch: 2,
    from: 'n1',
    prevSeq: entries[0]!.seq - 1,
    prevEpoch: 2,
    entries,
    commitSeq: 0,
  });
  const message = decodePeerMessage(wire, 'c');
  if (message.type !== 'append') throw new Error('not an append');
  return message.entries;
}

test('a log keeps received appends as their bytes, packs what only partly matches one, and what it packs is what a multicast of the same entries sends', (t) => {
  const first = receivedAppend(range(1, 30));
  const second = receivedAppend(range(31, 60));
  const source = packedSourceAt([...first, ...second], 30);
  t.not(source, null);
  t.is(source?.count, 30);
  t.is(
    packedSourceAt([...first.slice(0, 29), ...second], 0),
    null,
    'a cut append is not its bytes',
  );
  const runs = new PackedEntryRuns(5);
  // Starts inside the first append (its head was already held), then the whole second one.
  runs.append([...first.slice(4), ...second]);
  t.deepEqual(
    plainEntries(first),
    plainEntries(range(1, 30)),
    'a decoded append holds its entries',
  );
  t.deepEqual(readAll(runs, 5, 60), range(5, 60));
  // A sequencer's entries, packed by its log, go out as the same bytes.
  const own = range(61, 90);
  runs.append(own);
  const wire = encodePeerMessage('c', {
    type: 'append',
    epoch: 2,
    from: 'n1',
    prevSeq: 60,
    prevEpoch: 2,
    entries: own,
    commitSeq: 0,
  });
  const packed = packedSourceAt(own, 0);
  t.is(packed?.count, own.length);
  const bytes = Buffer.from(packed!.bytes);
  t.true(Buffer.from(wire).includes(bytes), 'the multicast carries the bytes the log packed');
  t.deepEqual(plainEntries(receivedAppend(own)), plainEntries(own));
});
