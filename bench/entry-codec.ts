/**
 * CPU time per message to encode and to decode (with every check) an
 * append of 1024 data entries of 100 payload bytes from one producer: the
 * packed form the nodes send (`packed_entries`) beside the one protobuf
 * `Entry` per message form they still read, in one process, side by side.
 * Not a test: it prints a table.
 *
 *   npm run build && node dist/bench/entry-codec.js [rounds]
 */
import { type Entry, EntryKind } from '../src/core/types.js';
import { decodeClientRequest, encodeClientRequest } from '../src/wire/client-codec.js';
import { validateEntries } from '../src/wire/entry-codec.js';
import { forgetPackedSourcesThrough } from '../src/wire/packed-source.js';
import { decodePeerMessage, encodePeerMessage } from '../src/wire/peer-codec.js';
import { ordo } from '../src/wire/schema.js';
import { formatNumber, formatTable } from './report.js';

const ENTRIES = 1024;
const PAYLOAD_BYTES = 100;
const rounds = Number(process.argv[2] ?? 400);

const entries: Entry[] = Array.from({ length: ENTRIES }, (_, i) => ({
  seq: 1000 + i,
  epoch: 3,
  kind: EntryKind.data,
  producerId: 'bench-producer-0123',
  producerSeq: 50 + i,
  topic: 'bench/topic',
  payload: new Uint8Array(PAYLOAD_BYTES).fill(i & 0xff),
  timestampMs: 1_764_478_000_000,
  owner: '',
}));
const append = {
  type: 'append',
  epoch: 3,
  from: 'n1',
  prevSeq: 999,
  prevEpoch: 3,
  entries,
  commitSeq: 900,
} as const;

function perEntryEncode(): Uint8Array {
  return ordo.PeerEnvelope.encode({
    clusterId: 'c',
    from: 'n1',
    epoch: 3,
    append: {
      prevSeq: 999,
      prevEpoch: 3,
      entries: entries as ordo.Entry.$Properties[],
      commitSeq: 900,
    },
  }).finish();
}

function perEntryDecode(bytes: Uint8Array): Entry[] {
  const envelope = ordo.PeerEnvelope.decode(bytes);
  return validateEntries((envelope.append?.entries ?? []) as ordo.Entry[], 1000, 'append.entries');
}

/** CPU nanoseconds per message of `run` (user + system), after a warm-up. */
function cpuNsPerMessage(run: () => unknown): number {
  for (let i = 0; i < Math.max(20, rounds / 10); i++) run();
  const start = process.cpuUsage();
  for (let i = 0; i < rounds; i++) run();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / (rounds * ENTRIES);
}

const perEntryBytes = perEntryEncode();
const packedBytes = encodePeerMessage('c', append);
const rows: string[][] = [];
for (const [name, encode, decode, size] of [
  [
    'append, one protobuf Entry per message',
    perEntryEncode,
    () => perEntryDecode(perEntryBytes),
    perEntryBytes.length,
  ],
  [
    'append, packed entries',
    () => encodePeerMessage('c', append),
    () => {
      const message = decodePeerMessage(packedBytes, 'c');
      // As a node does once the Ready holding them is carried out.
      forgetPackedSourcesThrough(Number.MAX_SAFE_INTEGER);
      return message;
    },
    packedBytes.length,
  ],
] as const) {
  rows.push([
    name,
    formatNumber(cpuNsPerMessage(encode)),
    formatNumber(cpuNsPerMessage(decode)),
    formatNumber(size / ENTRIES, 1),
  ]);
}
const items = entries.map((e) => ({
  producerSeq: e.producerSeq,
  topic: e.topic,
  payload: e.payload,
}));
const publish = { requestId: 1, publish: { producerId: 'bench-producer-0123', items } };
const perItemRequest = ordo.ClientRequest.encode(publish).finish();
const packedRequest = encodeClientRequest(publish);
for (const [name, encode, decode, size] of [
  [
    'publish, one PublishItem per message',
    () => ordo.ClientRequest.encode(publish).finish(),
    () => decodeClientRequest(perItemRequest),
    perItemRequest.length,
  ],
  [
    'publish, packed items',
    () => encodeClientRequest(publish),
    () => decodeClientRequest(packedRequest),
    packedRequest.length,
  ],
] as const) {
  rows.push([
    name,
    formatNumber(cpuNsPerMessage(encode)),
    formatNumber(cpuNsPerMessage(decode)),
    formatNumber(size / ENTRIES, 1),
  ]);
}
console.log(
  `append / publish of ${ENTRIES} entries x ${PAYLOAD_BYTES} payload bytes, ${rounds} rounds each, CPU time per message\n`,
);
console.log(formatTable(['form', 'encode ns/msg', 'decode + check ns/msg', 'bytes/msg'], rows));
