/**
 * CPU time per entry of what a follower does with an append, in one
 * process, without sockets: decode the frame (payloads left in it), step
 * the core, take its Ready, write the entries to the memory log, count the
 * data entries as the metrics do, and advance. Appends of 2048 entries of
 * 100 payload bytes, from two producers in runs of 256, as a saturated
 * sequencer sends them. Not a test: it prints one line. In the cluster
 * benches a follower's time also goes to its sockets, its timers and the
 * other processes sharing the cores; this isolates the part the code
 * decides, so that two builds can be compared on it (run it in each
 * checkout, alternating).
 *
 *   npm run build && node dist/bench/follower-path.js [seconds]
 */
import { makeCoreConfig } from '../src/core/config.js';
import { ProtocolNode } from '../src/core/protocol-node.js';
import { EMPTY_RECOVERED_STATE, type Entry, EntryKind } from '../src/core/types.js';
import { MemoryLogStore } from '../src/storage/memory-log-store.js';
import { forgetPackedSourcesThrough } from '../src/wire/packed-source.js';
import { decodePeerMessage, encodePeerMessage } from '../src/wire/peer-codec.js';

const ENTRIES_PER_APPEND = 2048;
const RUN_ENTRIES = 256;
const PAYLOAD_BYTES = 100;
/** Appends encoded up front; the measurement stops when they are used up. */
const APPENDS = 1500;
const WARM_UP_APPENDS = 200;
const CLUSTER_ID = 'bench';
const seconds = Number(process.argv[2] ?? 2);

const payload = new Uint8Array(PAYLOAD_BYTES).fill(3);
const nextProducerSeq = new Map([
  ['producer-p', 1],
  ['producer-q', 1],
]);

function appendFrame(prevSeq: number): Uint8Array {
  const entries: Entry[] = [];
  for (let i = 0; i < ENTRIES_PER_APPEND; i++) {
    const producerId = Math.floor(i / RUN_ENTRIES) % 2 === 0 ? 'producer-p' : 'producer-q';
    const producerSeq = nextProducerSeq.get(producerId)!;
    nextProducerSeq.set(producerId, producerSeq + 1);
    entries.push({
      seq: prevSeq + 1 + i,
      epoch: 1,
      kind: EntryKind.data,
      producerId,
      producerSeq,
      topic: 'bench/topic',
      payload,
      // A sequencer gives each publisher's batch one log time.
      timestampMs: 1_764_478_000_000 + Math.floor(i / RUN_ENTRIES),
    });
  }
  return encodePeerMessage(CLUSTER_ID, {
    type: 'append',
    from: 'leader',
    epoch: 1,
    prevSeq,
    prevEpoch: prevSeq === 0 ? 0 : 1,
    entries,
    commitSeq: Math.max(0, prevSeq - ENTRIES_PER_APPEND),
  });
}

async function main(): Promise<void> {
  const node = new ProtocolNode(
    makeCoreConfig('follower', ['leader', 'follower', 'other'], () => 0.5, {
      maxUncommittedEntries: Number.MAX_SAFE_INTEGER,
    }),
    EMPTY_RECOVERED_STATE,
  );
  const store = new MemoryLogStore(Number.MAX_SAFE_INTEGER);
  const frames = Array.from({ length: APPENDS }, (_, k) => appendFrame(k * ENTRIES_PER_APPEND));
  let next = 0;
  let dataEntries = 0;
  const receive = async (): Promise<void> => {
    const message = decodePeerMessage(frames[next++]!, CLUSTER_ID);
    if (message.type !== 'append') throw new Error(`decoded a ${message.type}, not an append`);
    node.step(message);
    const ready = node.ready();
    for (const entry of ready.entries) if (entry.kind === EntryKind.data) dataEntries++;
    if (ready.entries.length > 0) {
      await store.write(ready.truncateAfter, ready.entries);
      forgetPackedSourcesThrough(ready.entries.at(-1)!.seq);
    }
    node.advance(ready);
  };
  for (let k = 0; k < WARM_UP_APPENDS; k++) await receive();
  const firstMeasured = next;
  const dataBefore = dataEntries;
  const cpuBefore = process.cpuUsage();
  const startedMs = performance.now();
  while (performance.now() - startedMs < seconds * 1000 && next < frames.length) await receive();
  const cpu = process.cpuUsage(cpuBefore);
  const entries = (next - firstMeasured) * ENTRIES_PER_APPEND;
  if (dataEntries - dataBefore !== entries)
    throw new Error(`the follower took ${dataEntries - dataBefore} of ${entries} entries`);
  const nsPerEntry = ((cpu.user + cpu.system) * 1000) / entries;
  console.log(
    `follower path: ${nsPerEntry.toFixed(1)} ns of CPU per entry over ${entries.toLocaleString('en-US')} entries (${process.version})`,
  );
}

await main();
