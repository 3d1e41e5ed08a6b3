import test from 'ava';
import { encodeMembership } from '../../src/core/membership.js';
import {
  type Entry,
  EntryKind,
  makeConfigEntry,
  makeEpochStartEntry,
} from '../../src/core/types.js';
import {
  decodeClientRequest,
  decodeClientResponse,
  encodeClientRequest,
  encodeClientResponse,
  packPublishResults,
  publishResultsOf,
} from '../../src/wire/client-codec.js';
import { FrameError } from '../../src/wire/frame-error.js';
import {
  decodePackedEntries,
  decodePackedPublishItems,
  encodePackedEntries,
  encodePackedPublishItems,
  itemRun,
} from '../../src/wire/packed-entries.js';
import { entriesOfItems, packEntries } from '../../src/wire/packed-source.js';
import { decodePeerMessage, encodePeerMessage } from '../../src/wire/peer-codec.js';
import { ordo } from '../../src/wire/schema.js';
import { plainEntries } from '../helpers/plain-entries.js';

function data(
  seq: number,
  producerSeq: number,
  topic: string,
  text: string,
  extra?: Partial<Entry>,
): Entry {
  return {
    seq,
    epoch: 2,
    kind: EntryKind.data,
    producerId: 'p1',
    producerSeq,
    topic,
    payload: new TextEncoder().encode(text),
    timestampMs: 1000,
    owner: '',
    ...extra,
  };
}

function refusal(bytes: Uint8Array, firstSeq: number, lastSeq?: number): FrameError {
  const error = (() => {
    try {
      decodePackedEntries(bytes, lastSeq === undefined ? { firstSeq } : { firstSeq, lastSeq }, 'f');
    } catch (e) {
      return e;
    }
    return null;
  })();
  if (!(error instanceof FrameError)) throw new Error('expected a FrameError');
  return error;
}

test('a batch that mixes topics, producers, an epoch start and a config entry round-trips field for field', (t) => {
  const entries: Entry[] = [
    makeEpochStartEntry(10, 2, 999),
    data(11, 5, 'a', 'one'),
    data(12, 6, 'a', 'two'),
    data(13, 7, 'b', 'three'),
    data(14, 8, 'a', ''),
    data(15, 1, 'a', 'other producer', { producerId: 'p2', owner: 'alice' }),
    data(16, 9, 'a', 'p1 again, later log time', { timestampMs: 1001 }),
    makeConfigEntry(
      17,
      2,
      1001,
      encodeMembership({ members: [{ id: 'n1', voter: true, address: 'tcp://127.0.0.1:1' }] }),
    ),
    data(18, 10, 'ünïcode', 'x'),
  ];
  const bytes = encodePackedEntries(entries);
  const back = decodePackedEntries(bytes, { firstSeq: 10 }, 'f');
  t.deepEqual(plainEntries(back), plainEntries(entries));
  // One run for the four p1 messages 11..14: the producer, epoch and log
  // time travel once, so the packed form is far smaller than per-entry fields.
  const perEntry = ordo.Append.encode({ entries: entries as ordo.Entry.$Properties[] }).finish();
  t.true(bytes.length < perEntry.length, `${bytes.length} packed vs ${perEntry.length} bytes`);
});

test('payloads come out as views into the frame, not copies', (t) => {
  const bytes = encodePackedEntries([data(1, 1, 't', 'hello'), data(2, 2, 't', 'world')]);
  const back = decodePackedEntries(bytes, { firstSeq: 1 }, 'f');
  t.is(back[0]!.payload.buffer, bytes.buffer);
  t.is(back[1]!.payload.buffer, bytes.buffer);
});

test('seqs must run on from the expected one: a contiguous range, or inside a filtered range', (t) => {
  const bytes = encodePackedEntries([data(5, 1, 't', 'a'), data(6, 2, 't', 'b')]);
  t.regex(refusal(bytes, 4).message, /seq 5, expected 4/);
  t.regex(refusal(bytes, 6).message, /seq 5, expected 6/);
  // A filtered delivery skips seqs but stays inside its range.
  const filtered = encodePackedEntries([data(5, 1, 't', 'a'), data(9, 5, 't', 'b')]);
  t.is(decodePackedEntries(filtered, { firstSeq: 3, lastSeq: 9 }, 'f').length, 2);
  t.regex(refusal(filtered, 3, 8).message, /go past seq 8/);
  t.regex(refusal(filtered, 6, 9).message, /expected at least 6/);
});

test('cut, foreign or invalid bytes are refused as malformed, never thrown as anything else', (t) => {
  const bytes = encodePackedEntries([data(1, 1, 'topic', 'payload'), data(2, 2, 'topic', 'more')]);
  for (let cut = 1; cut < bytes.length; cut++) {
    const error = (() => {
      try {
        decodePackedEntries(bytes.subarray(0, cut), { firstSeq: 1 }, 'f');
        return null;
      } catch (e) {
        return e;
      }
    })();
    // A cut exactly after the first entry is a valid, shorter run only if
    // the count says so: it does not, so every cut is refused.
    t.true(error instanceof FrameError, `cut at ${cut}`);
  }
  const wrongVersion = Uint8Array.from(bytes);
  wrongVersion[0] = 9;
  t.regex(refusal(wrongVersion, 1).message, /unknown packed entries version 9/);
  const badUtf8 = Uint8Array.from(encodePackedEntries([data(1, 1, 'ab', 'x')]));
  const at = Buffer.from(badUtf8).indexOf('ab');
  badUtf8[at] = 0xff;
  t.regex(refusal(badUtf8, 1).message, /topic is not valid UTF-8/);
  const emptyTopic = encodePackedEntries([data(1, 1, '', 'x')]);
  t.regex(refusal(emptyTopic, 1).message, /topic must not be empty/);
  const noProducer = encodePackedEntries([data(1, 1, 't', 'x', { producerId: '' })]);
  t.regex(refusal(noProducer, 1).message, /producerId must not be empty/);
  const badKind = Uint8Array.from(encodePackedEntries([data(1, 1, 't', 'x')]));
  badKind[3] = 7; // version, seq, count, then the kind
  t.regex(refusal(badKind, 1).message, /kind 7 is not an entry kind/);
});

test('an append and a filtered delivery carry their entries packed, and both decode to the same entries', (t) => {
  const entries = [data(3, 1, 'a', 'x'), data(4, 2, 'b', 'y'), data(5, 3, 'a', 'z')];
  const frame = encodePeerMessage('c', {
    type: 'append',
    epoch: 2,
    from: 'n1',
    prevSeq: 2,
    prevEpoch: 2,
    entries,
    commitSeq: 1,
  });
  const envelope = ordo.PeerEnvelope.decode(frame);
  t.is((envelope.append?.entries ?? []).length, 0);
  t.true((envelope.append?.packedEntries ?? new Uint8Array(0)).length > 0);
  const decoded = decodePeerMessage(frame, 'c');
  t.deepEqual(
    plainEntries(decoded.type === 'append' ? decoded.entries : []),
    plainEntries(entries),
  );

  // Topic filter 'a' over the batch: seqs 3 and 5 of the range [3, 5].
  const matching = entries.filter((e) => e.topic === 'a');
  const response = ordo.ClientResponse.encode({
    requestId: 0,
    delivery: {
      subscriptionId: 1,
      fromSeq: 3,
      toSeq: 5,
      packedEntries: encodePackedEntries(matching),
      commitSeq: 5,
    },
  }).finish();
  const delivery = decodeClientResponse(response).delivery!;
  t.deepEqual(plainEntries(delivery.entries as unknown as Entry[]), plainEntries(matching));
});

test('a publish frame written by hand is, byte for byte, what protobufjs encodes for the same request', (t) => {
  const items = (n: number, from: number) =>
    Array.from({ length: n }, (_, i) => ({
      producerSeq: from + i + (i > n / 2 ? 3 : 0),
      topic: i % 3 === 0 ? 'orders/ünïcode' : 'prices',
      payload: Buffer.alloc(i * 37, i),
    }));
  const cases = [
    { requestId: 1, producerId: 'p', ackMode: 0, items: items(1, 1) },
    { requestId: 0, producerId: 'p-0123456789', ackMode: 1, items: items(5, 1) },
    { requestId: 2 ** 40 + 3, producerId: 'prodüçer', ackMode: 2, items: items(300, 2 ** 35) },
    { requestId: 127, producerId: 'x'.repeat(200), ackMode: 1, items: items(40, 128) },
  ];
  for (const c of cases) {
    const frame = encodeClientRequest({
      requestId: c.requestId,
      publish: { producerId: c.producerId, ackMode: c.ackMode, items: c.items },
    });
    const reference = ordo.ClientRequest.encode({
      requestId: c.requestId,
      publish: {
        producerId: c.producerId,
        ackMode: c.ackMode,
        packedItems: encodePackedPublishItems(c.items),
      },
    }).finish();
    t.deepEqual(
      ordo.ClientRequest.toObject(ordo.ClientRequest.decode(frame), { longs: Number }),
      ordo.ClientRequest.toObject(ordo.ClientRequest.decode(reference), { longs: Number }),
      `request ${c.requestId}`,
    );
    // The same fields in the same order; protobufjs also writes a zero it was given, the frame leaves it out.
    if (c.requestId !== 0 && c.ackMode !== 0)
      t.true(Buffer.from(frame).equals(Buffer.from(reference)), `bytes of request ${c.requestId}`);
    // A producer id of 200 bytes (a two-byte length) is beyond what a node accepts.
    if (Buffer.byteLength(c.producerId) <= 64)
      t.is(decodeClientRequest(frame).requestId, c.requestId);
  }
});

test('a publish travels packed and is read back item for item; its OK results come back packed, the others as they are', (t) => {
  const items = [
    { producerSeq: 7, topic: 'a', payload: Buffer.from('one') },
    { producerSeq: 8, topic: 'a', payload: Buffer.from('two') },
    { producerSeq: 9, topic: 'b', payload: Buffer.from('') },
    { producerSeq: 12, topic: 'b', payload: Buffer.from('after a skip') },
  ];
  const frame = encodeClientRequest({ requestId: 3, publish: { producerId: 'p', items } });
  const raw = ordo.ClientRequest.decode(frame).publish!;
  t.is((raw.items ?? []).length, 0);
  const request = decodeClientRequest(frame);
  t.is(request.body, 'publish');
  const publish = request.body === 'publish' ? request.publish : null;
  t.deepEqual(
    (publish?.items ?? []).map((i) => [
      i.producerSeq,
      i.topic,
      Buffer.from(i.payload ?? []).toString(),
    ]),
    items.map((i) => [i.producerSeq, i.topic, i.payload.toString()]),
  );
  t.true((publish?.packedItems ?? new Uint8Array(0)).length > 0, 'the node sees it came packed');

  const { OK, BUSY } = {
    OK: ordo.PublishStatus.PUBLISH_STATUS_OK,
    BUSY: ordo.PublishStatus.PUBLISH_STATUS_BUSY,
  };
  const results = [
    { producerSeq: 7, status: OK, seq: 40 },
    { producerSeq: 8, status: OK, seq: 41 },
    { producerSeq: 9, status: BUSY, detail: 'window full' },
    { producerSeq: 12, status: OK, seq: 43 },
  ];
  const packed = packPublishResults(
    results.map((r) => r.producerSeq),
    results.map((r) => (r.status === OK ? r.seq! : 0)),
    results.map((r) => (r.status === OK ? undefined : r)),
  );
  t.is(packed.results?.length, 1);
  const response = decodeClientResponse(
    encodeClientResponse({ requestId: 3, publish: { ...packed } }),
  );
  const byProducerSeq = new Map(
    publishResultsOf(response.publish!).map((r) => [r.producerSeq, [r.status, r.seq, r.detail]]),
  );
  t.deepEqual(byProducerSeq.get(7), [OK, 40, '']);
  t.deepEqual(byProducerSeq.get(8), [OK, 41, '']);
  t.deepEqual(byProducerSeq.get(9), [BUSY, 0, 'window full']);
  t.deepEqual(byProducerSeq.get(12), [OK, 43, '']);
});

test('a packed publish that is cut, oversized or mixed with items is refused as a bad frame', (t) => {
  const items = [{ producerSeq: 1, topic: 't', payload: Buffer.alloc(10) }];
  const frame = encodeClientRequest({ requestId: 1, publish: { producerId: 'p', items } });
  const packedItems = ordo.ClientRequest.decode(frame).publish!.packedItems!;
  const refuse = (publish: ordo.PublishRequest.$Properties): string => {
    const bytes = ordo.ClientRequest.encode({ requestId: 1, publish }).finish();
    const error = t.throws(() => decodeClientRequest(bytes));
    t.true(error instanceof FrameError);
    return error!.message;
  };
  t.regex(
    refuse({ producerId: 'p', packedItems: packedItems.subarray(0, packedItems.length - 1) }),
    /cut short/,
  );
  t.regex(refuse({ producerId: 'p', packedItems, items }), /both items and packed items/);
  const tooMany = encodeClientRequest({
    requestId: 1,
    publish: {
      producerId: 'p',
      items: Array.from({ length: 2049 }, (_, i) => ({
        producerSeq: i + 1,
        topic: 't',
        payload: Buffer.alloc(0),
      })),
    },
  });
  const error = t.throws(() => decodeClientRequest(tooMany));
  t.regex(error!.message, /more than \d+ items/);
});

test('packed publish items are refused for what unpacked items are: a producerSeq of 0, an empty topic, no items at all', (t) => {
  const frameWith = (packedItems: Uint8Array) =>
    ordo.ClientRequest.encode({ requestId: 1, publish: { producerId: 'p', packedItems } }).finish();
  const refusal = (packedItems: Uint8Array): string => {
    const error = t.throws(() => decodeClientRequest(frameWith(packedItems)));
    t.true(error instanceof FrameError);
    return error!.message;
  };
  const payload = Buffer.from('x');
  t.regex(
    refusal(encodePackedPublishItems([{ producerSeq: 0, topic: 't', payload }])),
    /producerSeq must start at 1/,
  );
  t.regex(
    refusal(encodePackedPublishItems([{ producerSeq: 1, topic: '', payload }])),
    /topic must not be empty/,
  );
  t.regex(refusal(new Uint8Array([1])), /holds nothing after its version/);
  const accepted = decodeClientRequest(
    frameWith(encodePackedPublishItems([{ producerSeq: 1, topic: 't', payload }])),
  );
  t.deepEqual(
    accepted.body === 'publish' ? accepted.publish.items.map((i) => [i.producerSeq, i.topic]) : [],
    [[1, 't']],
  );
});

test('a run made of publish items as they arrived holds, as its bytes and as its entries, what the sequencer made of them, also from an item that repeats the topic before it', (t) => {
  const items = [
    { producerSeq: 7, topic: 'orders', payload: Uint8Array.of(1, 2) },
    { producerSeq: 8, topic: 'orders', payload: Uint8Array.of(3) },
    { producerSeq: 9, topic: 'prices', payload: new Uint8Array(0) },
    { producerSeq: 10, topic: 'prices', payload: Uint8Array.of(4, 5, 6) },
    // A second run of the publish (producerSeqs jump): its bytes lie apart.
    { producerSeq: 20, topic: 'orders', payload: Uint8Array.of(7) },
  ];
  const packed = encodePackedPublishItems(items);
  const decoded = decodePackedPublishItems(packed, 100, 'items');
  t.deepEqual(
    decoded.map((item) => [item.producerSeq, item.topic, [...item.payload]]),
    items.map((item) => [item.producerSeq, item.topic, [...item.payload]]),
    'decoded items read back their payloads',
  );
  t.is(decoded[1]!.start, decoded[0]!.end, 'items of one run lie next to each other');
  t.not(decoded[4]!.start, decoded[3]!.end, 'a new run starts with its own header');
  // Items 1..3 (the first repeats 'orders') as seqs 41..43 of epoch 5.
  for (const [from, to] of [
    [0, 3],
    [1, 3],
    [3, 3],
  ] as const) {
    const header = {
      firstSeq: 41,
      count: to - from + 1,
      epoch: 5,
      timestampMs: 1_800_000_000_000,
      firstProducerSeq: items[from]!.producerSeq,
      producerId: 'producer-ü',
      owner: from === 1 ? 'alice' : '',
    };
    const run = itemRun(decoded.slice(from, to + 1), header);
    const expected: Entry[] = items.slice(from, to + 1).map((item, k) => ({
      seq: 41 + k,
      epoch: 5,
      kind: EntryKind.data,
      producerId: 'producer-ü',
      producerSeq: item.producerSeq,
      topic: item.topic,
      payload: item.payload,
      timestampMs: 1_800_000_000_000,
      ...(header.owner === '' ? {} : { owner: header.owner }),
    }));
    t.deepEqual(
      plainEntries(decodePackedEntries(run.bytes, { firstSeq: 41 }, 'run')),
      plainEntries(expected),
      `items ${from}..${to}, the bytes`,
    );
    t.deepEqual(
      plainEntries(run.entries),
      plainEntries(expected),
      `items ${from}..${to}, the entries`,
    );
    t.deepEqual(
      run.entries.map((e) => e.payloadBytes),
      expected.map((e) => e.payload.length),
      'each entry says its payload length without a view',
    );
  }
});

test('a batch whose consecutive producerSeqs arrive in two runs of the request becomes two runs of entries, and the multicast takes their bytes as made', (t) => {
  const first = [
    { producerSeq: 3, topic: 'a', payload: Uint8Array.of(1) },
    { producerSeq: 4, topic: 'a', payload: Uint8Array.of(2, 2) },
  ];
  const second = [{ producerSeq: 5, topic: 'b', payload: Uint8Array.of(3, 3, 3) }];
  // A client may split one run of producerSeqs in two: the second's bytes lie apart.
  const a = encodePackedPublishItems(first);
  const b = encodePackedPublishItems(second);
  const packed = Buffer.concat([a, b.subarray(1)]);
  const decoded = decodePackedPublishItems(packed, 100, 'items');
  t.not(decoded[2]!.start, decoded[1]!.end);
  const header = {
    firstSeq: 100,
    count: 3,
    epoch: 2,
    timestampMs: 1_800_000_000_000,
    firstProducerSeq: 3,
    producerId: 'p',
    owner: '',
  };
  const entries = entriesOfItems(decoded, header);
  const expected: Entry[] = [...first, ...second].map((item, k) => ({
    seq: 100 + k,
    epoch: 2,
    kind: EntryKind.data,
    producerId: 'p',
    producerSeq: item.producerSeq,
    topic: item.topic,
    payload: item.payload,
    timestampMs: 1_800_000_000_000,
  }));
  t.deepEqual(plainEntries(entries), plainEntries(expected));
  const multicast = packEntries(entries);
  t.deepEqual(
    plainEntries(decodePackedEntries(multicast, { firstSeq: 100 }, 'multicast')),
    plainEntries(expected),
  );
});
