import type { DedupCheckpoint, Entry, HardState } from '../../src/core/index.js';
import type { DedupCheckpointStorage } from '../../src/node/broker-node.js';
import {
  LogRangeError,
  type LogStore,
  type MetaStore,
  type RecoveredLog,
} from '../../src/storage/log-store.js';
import type { SimDisk } from './sim-disk.js';

/** Waits for a simulated disk operation to complete; never settles once its process crashed. */
export type DiskLatency = () => Promise<void>;

/** The stores of one node process over its simulated disk. */
export interface SimNodeStorage {
  readonly store: LogStore;
  readonly meta: MetaStore;
  readonly dedup: DedupCheckpointStorage;
}

/**
 * The log, hard state and dedup checkpoint of one node process, kept on a
 * simulated disk whose unsynced writes a crash loses. Every operation takes
 * simulated time, so a crash can strike between a write and its sync.
 * `maxRetainedEntries` plays the store's size limit for retention.
 */
export function simNodeStorage(
  disk: SimDisk,
  latency: DiskLatency,
  maxRetainedEntries: number | null,
): SimNodeStorage {
  const store: LogStore = {
    async open(): Promise<RecoveredLog> {
      await latency();
      const { hardState: _ignored, ...recovered } = disk.recover();
      return recovered;
    },
    async write(truncateAfter: number | null, entries: readonly Entry[]): Promise<void> {
      await latency();
      disk.write(truncateAfter, entries);
      await latency();
      disk.sync();
    },
    async read(fromSeq: number, toSeq: number, maxBytes: number): Promise<Entry[]> {
      await latency();
      if (fromSeq < disk.firstSeq) throw new LogRangeError(fromSeq, disk.firstSeq);
      const entries = disk.read(fromSeq, toSeq);
      let bytes = 0;
      for (let i = 0; i < entries.length; i++) {
        bytes += entries[i]!.payload.length;
        if (bytes > maxBytes && i > 0) return entries.slice(0, i);
      }
      return entries;
    },
    async reset(firstSeq: number, epochBeforeFirst: number): Promise<void> {
      await latency();
      disk.resetAfter(firstSeq - 1, epochBeforeFirst);
    },
    firstSeq: () => disk.firstSeq,
    lastSeq: () => disk.lastSeq,
    async applyRetention(commitSeq: number): Promise<number> {
      await latency();
      if (maxRetainedEntries === null || disk.unsyncedWriteCount > 0) return disk.firstSeq;
      const excess = disk.heldEntries - maxRetainedEntries;
      const droppable = Math.min(excess, commitSeq - disk.firstSeq + 1);
      if (droppable > 0) disk.compactBefore(disk.firstSeq + droppable);
      return disk.firstSeq;
    },
    async close(): Promise<void> {},
  };
  const meta: MetaStore = {
    async load(): Promise<HardState> {
      await latency();
      return disk.recover().hardState;
    },
    async save(state: HardState): Promise<void> {
      await latency();
      disk.saveHardState(state);
    },
    async close(): Promise<void> {},
  };
  const dedup: DedupCheckpointStorage = {
    async load(): Promise<{ checkpoint: DedupCheckpoint | null; problem: string | null }> {
      await latency();
      return { checkpoint: disk.dedupCheckpoint, problem: null };
    },
    async save(checkpoint: DedupCheckpoint): Promise<void> {
      await latency();
      disk.saveDedupCheckpoint(checkpoint);
    },
    async close(): Promise<void> {},
  };
  return { store, meta, dedup };
}
