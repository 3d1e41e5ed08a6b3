import test from 'ava';
import { type Entry, EntryKind, makeEpochStartEntry } from '../../src/core/types.js';
import { decodePackedEntries, encodePackedEntries } from '../../src/wire/packed-entries.js';
import { PackedSlice } from '../../src/wire/packed-slice.js';
import { Prng } from '../sim/prng.js';

const SEED = 41;

/** A log of `count` entries: runs of two producers, topics that change inside runs, an epoch start now and then. */
function makeLog(prng: Prng, count: number): Entry[] {
  const entries: Entry[] = [];
  const producerSeqs = [0, 0];
  let producer = 0;
  let topic = 't0';
  for (let seq = 1; seq <= count; seq++) {
    if (prng.next() < 0.03) {
      entries.push(makeEpochStartEntry(seq, 1 + Math.floor(seq / 50), 1000 + Math.floor(seq / 50)));
      continue;
    }
    if (prng.next() < 0.1) producer = 1 - producer;
    if (prng.next() < 0.2) topic = `t${Math.floor(prng.next() * 4)}`;
    entries.push({
      seq,
      epoch: 1 + Math.floor(seq / 50),
      kind: EntryKind.data,
      producerId: `producer-${producer}`,
      producerSeq: ++producerSeqs[producer]!,
      topic,
      payload: Uint8Array.from({ length: Math.floor(prng.next() * 20) }, () =>
        Math.floor(prng.next() * 256),
      ),
      // One log time per epoch, so that entries share runs (a run holds one log time).
      timestampMs: 1000 + Math.floor(seq / 50),
    });
  }
  return entries;
}

/** The log packed as a node keeps it: chunks of a few dozen entries. */
function chunks(prng: Prng, entries: readonly Entry[]): { firstSeq: number; bytes: Uint8Array }[] {
  const out: { firstSeq: number; bytes: Uint8Array }[] = [];
  let start = 0;
  while (start < entries.length) {
    const end = Math.min(entries.length, start + 1 + Math.floor(prng.next() * 40));
    out.push({
      firstSeq: entries[start]!.seq,
      bytes: encodePackedEntries(entries.slice(start, end)),
    });
    start = end;
  }
  return out;
}

test(`a slice cut from packed runs decodes to the entries a read and a filter would give, over seeded ranges and byte bounds (seed ${SEED})`, (t) => {
  const prng = new Prng(SEED);
  const log = makeLog(prng, 600);
  const packed = chunks(prng, log);
  let mismatches = 0;
  // Slices whose first entry repeats its run's topic: the case a cut run must spell out.
  let cutRunsRepeatingTopic = 0;
  for (let trial = 0; trial < 2000; trial++) {
    const fromSeq = 1 + Math.floor(prng.next() * log.length);
    const toSeq = Math.min(log.length, fromSeq + Math.floor(prng.next() * 120));
    const maxPayloadBytes = prng.next() < 0.5 ? 1 << 20 : Math.floor(prng.next() * 200);
    const includeControl = prng.next() < 0.5;
    const slice = new PackedSlice(fromSeq, toSeq, maxPayloadBytes, includeControl);
    let index = packed.findLastIndex((c) => c.firstSeq <= fromSeq);
    while (!slice.done && index < packed.length) {
      const chunk = packed[index++]!;
      slice.add(chunk.bytes, chunk.firstSeq);
    }
    // What a read of the log and the subscriber's filter would deliver.
    const expected: Entry[] = [];
    let payloadBytes = 0;
    let lastSeq = fromSeq - 1;
    for (const entry of log.slice(fromSeq - 1, toSeq)) {
      if (entry.kind !== EntryKind.data && !includeControl) {
        lastSeq = entry.seq;
        continue;
      }
      if (expected.length > 0 && payloadBytes + entry.payload.length > maxPayloadBytes) break;
      payloadBytes += entry.payload.length;
      expected.push(entry);
      lastSeq = entry.seq;
    }
    const before = log[fromSeq - 2];
    const first = log[fromSeq - 1]!;
    if (
      before !== undefined &&
      before.kind === EntryKind.data &&
      first.kind === EntryKind.data &&
      before.producerId === first.producerId &&
      before.epoch === first.epoch &&
      before.topic === first.topic
    )
      cutRunsRepeatingTopic++;
    const bytes = slice.finish();
    const got =
      bytes.length === 0
        ? []
        : decodePackedEntries(bytes, { firstSeq: fromSeq, lastSeq: slice.lastSeq }, 'slice');
    if (
      slice.lastSeq !== lastSeq ||
      slice.entryCount !== expected.length ||
      slice.takenPayloadBytes !== payloadBytes ||
      JSON.stringify(got) !== JSON.stringify(expected)
    )
      mismatches++;
  }
  t.is(mismatches, 0);
  t.true(
    cutRunsRepeatingTopic > 100,
    `${cutRunsRepeatingTopic} slices cut a run where its topic repeats`,
  );
});

test('a slice takes a run whole when it can, and spells out the topic of a run it cuts', (t) => {
  const entries: Entry[] = [1, 2, 3, 4].map((seq) => ({
    seq,
    epoch: 1,
    kind: EntryKind.data,
    producerId: 'p',
    producerSeq: 10 + seq,
    topic: 'orders',
    payload: Uint8Array.of(seq),
    timestampMs: 5,
  }));
  const bytes = encodePackedEntries(entries);
  const whole = new PackedSlice(1, 4, 1 << 20, false);
  whole.add(bytes, 1);
  t.deepEqual(Buffer.from(whole.finish()), Buffer.from(bytes), 'a whole run is copied as it is');
  const cut = new PackedSlice(3, 4, 1 << 20, false);
  cut.add(bytes, 1);
  const back = decodePackedEntries(cut.finish(), { firstSeq: 3, lastSeq: 4 }, 'cut');
  t.deepEqual(
    back.map((e) => [e.seq, e.producerSeq, e.topic, e.payload[0]]),
    [
      [3, 13, 'orders', 3],
      [4, 14, 'orders', 4],
    ],
  );
});
