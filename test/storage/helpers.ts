import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { type Entry, EntryKind } from '../../src/core/types.js';
import { recordOverheadBytes, sizeEntry } from '../../src/storage/record-codec.js';
import {
  SegmentedLogStore,
  type SegmentedLogStoreOptions,
} from '../../src/storage/segmented-log-store.js';

/** A fresh directory under the OS temp dir, removed when the test ends. */
export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ordo-storage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface EntryShape {
  readonly epoch?: number;
  readonly payloadBytes?: number;
  readonly timestampMs?: number;
  readonly kind?: EntryKind;
}

/** A data entry whose payload bytes depend on its seq, so a misplaced entry shows. */
export function makeEntry(seq: number, shape: EntryShape = {}): Entry {
  const payload = new Uint8Array(shape.payloadBytes ?? 100);
  for (let i = 0; i < payload.length; i++) payload[i] = (seq * 31 + i) & 0xff;
  const kind = shape.kind ?? EntryKind.data;
  return {
    seq,
    epoch: shape.epoch ?? 1,
    kind,
    producerId: kind === EntryKind.data ? `producer-${seq % 3}` : '',
    producerSeq: kind === EntryKind.data ? seq : 0,
    topic: kind === EntryKind.data ? `topic/${seq % 5}` : '',
    payload,
    timestampMs: shape.timestampMs ?? 1_700_000_000_000 + seq,
  };
}

export function makeEntries(fromSeq: number, toSeq: number, shape: EntryShape = {}): Entry[] {
  const out: Entry[] = [];
  for (let seq = fromSeq; seq <= toSeq; seq++) out.push(makeEntry(seq, shape));
  return out;
}

/** Bytes `entry` takes on disk in a record of its own (written alone). */
export function recordBytes(entry: Entry): number {
  return recordOverheadBytes(1) + sizeEntry(entry).bodyBytes;
}

/** Opens a store in `dir` with small segments and closes it when the test ends. */
export async function openStore(
  t: ExecutionContext,
  dir: string,
  options: Partial<SegmentedLogStoreOptions> = {},
): Promise<{
  store: SegmentedLogStore;
  recovered: Awaited<ReturnType<SegmentedLogStore['open']>>;
}> {
  const store = new SegmentedLogStore({ dir, fsync: 'never', recordEntries: 1, ...options });
  const recovered = await store.open();
  t.teardown(() => store.close());
  return { store, recovered };
}
