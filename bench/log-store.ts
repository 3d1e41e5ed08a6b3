/**
 * Throughput of SegmentedLogStore.write for batches of 1, 64 and 1024
 * entries of 100 payload bytes, under fsync 'always' and 'never', with
 * records of one entry each (`recordEntries: 1`) and with records of many
 * (the default), measured side by side in one run on the same disk, the two
 * record layouts alternating cell by cell. Not a test: it prints a table.
 * With `follower`, the entries are what a follower writes: decoded from a
 * packed append with lazy payloads, their bytes remembered (as the peer
 * codec does), and forgotten once written.
 *
 *   npm run build && node dist/bench/log-store.js [seconds per cell] [follower]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Entry, EntryKind } from '../src/core/types.js';
import { LIMITS } from '../src/limits.js';
import type { FsyncPolicy } from '../src/storage/fsync-policy.js';
import { SegmentedLogStore } from '../src/storage/segmented-log-store.js';
import { decodePackedEntries, encodePackedEntries } from '../src/wire/packed-entries.js';
import { forgetPackedSourcesThrough, rememberPackedSource } from '../src/wire/packed-source.js';

const PAYLOAD_BYTES = 100;
const BATCH_SIZES = [1, 64, 1024];
const POLICIES: FsyncPolicy[] = ['always', 'never'];
const secondsPerCell = Number(process.argv[2] ?? 2);
const asFollower = process.argv[3] === 'follower';

function batch(fromSeq: number, count: number, payload: Uint8Array): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const seq = fromSeq + i;
    out.push({
      seq,
      epoch: 1,
      kind: EntryKind.data,
      producerId: 'bench-producer',
      producerSeq: seq,
      topic: 'bench/topic',
      payload,
      // A sequencer gives a batch one log time.
      timestampMs: 1_700_000_000_000 + Math.floor(seq / 256),
    });
  }
  if (!asFollower) return out;
  const bytes = encodePackedEntries(out);
  const entries = decodePackedEntries(bytes, { firstSeq: fromSeq }, 'bench', {
    lazyPayloads: true,
  });
  rememberPackedSource(entries, bytes);
  return entries;
}

/** Entries per second written by one writer awaiting each write, as the host does once per Ready. */
async function measure(
  policy: FsyncPolicy,
  batchEntries: number,
  recordEntries: number,
): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'ordo-bench-'));
  const store = new SegmentedLogStore({ dir, fsync: policy, recordEntries });
  try {
    await store.open();
    const payload = new Uint8Array(PAYLOAD_BYTES).fill(7);
    let next = 1;
    // Warm up: file creation, JIT.
    for (let i = 0; i < 20; i++) {
      await store.write(null, batch(next, batchEntries, payload));
      next += batchEntries;
      forgetPackedSourcesThrough(next - 1);
    }
    const started = performance.now();
    const first = next;
    const deadlineMs = started + secondsPerCell * 1000;
    while (performance.now() < deadlineMs) {
      await store.write(null, batch(next, batchEntries, payload));
      next += batchEntries;
      forgetPackedSourcesThrough(next - 1);
    }
    const elapsedMs = performance.now() - started;
    return ((next - first) * 1000) / elapsedMs;
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(
    `SegmentedLogStore.write, ${PAYLOAD_BYTES}-byte payloads, ${secondsPerCell} s per cell, dir ${tmpdir()}${asFollower ? ', entries as a follower decodes them' : ''}`,
  );
  console.log(`node ${process.version}, ${process.platform} ${process.arch}`);
  const header = ['batch'];
  for (const p of POLICIES) {
    header.push(`fsync=${p}, 1/record`, `fsync=${p}, many/record`, 'ratio');
  }
  const rows: string[][] = [];
  const format = (n: number) => Math.round(n).toLocaleString('en-US');
  for (const batchEntries of BATCH_SIZES) {
    const row = [String(batchEntries)];
    for (const policy of POLICIES) {
      const single = await measure(policy, batchEntries, 1);
      const many = await measure(policy, batchEntries, LIMITS.maxLogRecordEntries);
      row.push(format(single), format(many), `${(many / single).toFixed(2)}x`);
    }
    rows.push(row);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

await main();
