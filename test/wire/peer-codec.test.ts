import test from 'ava';
import { CORE_LIMITS } from '../../src/core/core-limits.js';
import { seedMembership } from '../../src/core/membership.js';
import {
  type AppendMessage,
  type Entry,
  EntryKind,
  type NodeMessage,
} from '../../src/core/types.js';
import { FrameError } from '../../src/wire/frame-error.js';
import { encodePackedEntries } from '../../src/wire/packed-entries.js';
import { packEntries, rememberPackedSource } from '../../src/wire/packed-source.js';
import { appendFields, decodePeerMessage, encodePeerMessage } from '../../src/wire/peer-codec.js';
import { ordo } from '../../src/wire/schema.js';
import { plainEntries } from '../helpers/plain-entries.js';

const CLUSTER = 'c1';

function roundTrip(message: NodeMessage): NodeMessage {
  return decodePeerMessage(encodePeerMessage(CLUSTER, message), CLUSTER);
}

function refused(message: NodeMessage): FrameError {
  const error = (() => {
    try {
      roundTrip(message);
    } catch (e) {
      return e;
    }
    return null;
  })();
  if (!(error instanceof FrameError)) throw new Error('expected a FrameError');
  return error;
}

test('epochs and seqs up to the bounds decode; one past them is refused as malformed', (t) => {
  const ack = (epoch: number, matchSeq: number): NodeMessage => ({
    type: 'ack',
    epoch,
    from: 'a',
    matchSeq,
    reject: false,
    hintSeq: 0,
    hintEpoch: 0,
  });
  t.like(roundTrip(ack(CORE_LIMITS.maxEpoch, CORE_LIMITS.maxSeq)), {
    epoch: CORE_LIMITS.maxEpoch,
    matchSeq: CORE_LIMITS.maxSeq,
  });
  t.regex(refused(ack(CORE_LIMITS.maxEpoch + 1, 0)).message, /epoch \d+ is beyond the highest/);
  t.regex(refused(ack(2 ** 53 - 1, 0)).message, /epoch/);
  t.regex(refused(ack(1, CORE_LIMITS.maxSeq + 1)).message, /ack.matchSeq \d+ is beyond/);
  t.is(refused(ack(1, CORE_LIMITS.maxSeq + 1)).code, 'malformed');
  t.true(CORE_LIMITS.maxSeq * 8 <= 2 ** 53 && CORE_LIMITS.maxEpoch * 8 <= 2 ** 53);
});

test('an entry beyond the seq bound is refused inside an append', (t) => {
  const seq = CORE_LIMITS.maxSeq + 1;
  const error = refused({
    type: 'append',
    epoch: 1,
    from: 'a',
    prevSeq: seq - 1,
    prevEpoch: 1,
    entries: [
      {
        seq,
        epoch: 1,
        kind: EntryKind.data,
        producerId: 'p',
        producerSeq: 1,
        topic: 't',
        payload: new Uint8Array(0),
        timestampMs: 0,
      },
    ],
    commitSeq: 0,
  });
  t.regex(error.message, /seq/);
});

test('an append carries the announced transfer target, and none when there is none', (t) => {
  const base = {
    type: 'append' as const,
    epoch: 3,
    from: 'a',
    prevSeq: 0,
    prevEpoch: 0,
    entries: [],
    commitSeq: 0,
  };
  t.like(roundTrip({ ...base, transferTo: 'b' }), { transferTo: 'b' });
  t.false('transferTo' in roundTrip(base));
});

test("an append carries the data voters' seq and the witness's catch-up mark, and neither when unset", (t) => {
  const append = (extra: object): NodeMessage => ({
    type: 'append',
    epoch: 3,
    from: 'a',
    prevSeq: 7,
    prevEpoch: 2,
    entries: [],
    commitSeq: 7,
    ...extra,
  });
  t.like(roundTrip(append({ dataSeq: 6 })), { dataSeq: 6 });
  t.like(roundTrip(append({ catchUp: true })), { catchUp: true });
  const plain = roundTrip(append({}));
  t.false('dataSeq' in plain);
  t.false('catchUp' in plain);
  t.regex(
    refused(append({ dataSeq: CORE_LIMITS.maxSeq + 1 })).message,
    /append.dataSeq \d+ is beyond/,
  );
});

test('an append with entries is spliced from its packed pieces into the same bytes protobufjs writes, whatever mix of remembered runs and plain entries it holds', (t) => {
  const entry = (seq: number, producerSeq: number, topic: string): Entry => ({
    seq,
    epoch: 4,
    kind: EntryKind.data,
    producerId: 'p',
    producerSeq,
    topic,
    payload: Uint8Array.of(seq % 256, 7),
    timestampMs: 1_800_000_000_000,
  });
  // Two runs as a sequencer remembers them (the bytes its batches were made
  // into), then entries no remembered bytes hold.
  const firstRun = [entry(11, 1, 'a'), entry(12, 2, 'a')];
  const secondRun = [entry(13, 3, 'b')];
  rememberPackedSource(firstRun, encodePackedEntries(firstRun));
  rememberPackedSource(secondRun, encodePackedEntries(secondRun));
  const plain = [entry(14, 4, 'b'), entry(15, 5, 'c')];
  const cases: Entry[][] = [
    firstRun,
    [...firstRun, ...secondRun],
    [...firstRun, ...secondRun, ...plain],
    plain,
    [entry(10, 9, 'z'), ...firstRun],
  ];
  for (const entries of cases) {
    for (const extra of [
      {},
      {
        transferTo: 'b',
        membership: seedMembership(['a', 'b', 'c']),
        readRound: 3,
        dataSeq: 9,
        catchUp: true,
        logStart: true,
        prevTimestampMs: 5,
      },
    ]) {
      const message: AppendMessage = {
        type: 'append',
        epoch: 4,
        from: 'a',
        prevSeq: entries[0]!.seq - 1,
        prevEpoch: 4,
        entries,
        commitSeq: 10,
        ...extra,
      };
      const spliced = encodePeerMessage(CLUSTER, message);
      const byProtobufjs = ordo.PeerEnvelope.encode({
        clusterId: CLUSTER,
        from: 'a',
        epoch: 4,
        append: { ...appendFields(message), packedEntries: packEntries(entries) },
      }).finish();
      const label = `${entries.map((e) => e.seq).join(',')} ${Object.keys(extra).length > 0 ? 'with' : 'without'} the optional fields`;
      t.is(Buffer.compare(Buffer.from(spliced), Buffer.from(byProtobufjs)), 0, label);
      const decoded = decodePeerMessage(spliced, CLUSTER);
      t.deepEqual(
        decoded.type === 'append' ? plainEntries(decoded.entries) : [],
        plainEntries(entries),
        label,
      );
    }
  }
});
