import { join } from 'node:path';
import { LIMITS } from '../limits.js';
import { DedupCheckpointStore } from '../storage/dedup-checkpoint-store.js';
import { FileMetaStore } from '../storage/file-meta-store.js';
import { FileIncarnationStore, type IncarnationStorage } from '../storage/incarnation-store.js';
import type { LogStore, MetaStore } from '../storage/log-store.js';
import {
  FileMembershipStore,
  type MembershipStorage,
  MemoryMembershipStore,
} from '../storage/membership-store.js';
import { MemoryLogStore, MemoryMetaStore } from '../storage/memory-log-store.js';
import { SegmentedLogStore } from '../storage/segmented-log-store.js';
import type { ClusterConfig } from './cluster-config.js';

export interface NodeStorage {
  readonly store: LogStore;
  readonly meta: MetaStore;
  readonly membership: MembershipStorage;
  /** The folder's incarnation; absent without a data folder. */
  readonly incarnation?: IncarnationStorage;
  readonly dataFolder?: string;
  readonly chainHash?: () => string;
  readonly dedup?: DedupCheckpointStore;
}

/**
 * Picks a node's log and metadata stores from the cluster's fsync policy.
 * Each node keeps its files in `dataDir/<node id>/`. With `memory` the log
 * is in memory only, but the epoch and vote still go to a file when a
 * dataDir is given, so a restarted node never votes twice in one epoch.
 */
export async function createNodeStorage(
  config: ClusterConfig,
  nodeId: string,
  onSyncMs?: (ms: number) => void,
): Promise<NodeStorage> {
  const nodeDir = config.dataDir === null ? null : join(config.dataDir, nodeId);
  // A witness keeps only its tail: every closed segment that every data
  // voter holds goes (the node asks for it, see BrokerNode.applyRetention).
  const witness = config.nodes.some((n) => n.id === nodeId && n.witness === true);
  const meta: MetaStore =
    nodeDir === null ? new MemoryMetaStore() : new FileMetaStore({ dir: nodeDir });
  const membership: MembershipStorage =
    nodeDir === null ? new MemoryMembershipStore() : new FileMembershipStore(nodeDir);
  const folder =
    nodeDir === null ? {} : { incarnation: new FileIncarnationStore(nodeDir), dataFolder: nodeDir };
  if (config.fsync === 'memory') {
    return {
      store: new MemoryLogStore(
        witness ? 0 : (config.memoryLogEntries ?? LIMITS.memoryLogCacheEntries),
      ),
      meta,
      membership,
      ...folder,
    };
  }
  const store = new SegmentedLogStore({
    dir: join(nodeDir!, 'log'),
    fsync: config.fsync,
    fsyncIntervalMs: config.fsyncIntervalMs,
    segmentBytes: witness
      ? Math.min(config.segmentBytes, LIMITS.witnessSegmentBytes)
      : config.segmentBytes,
    ...(onSyncMs === undefined ? {} : { onSyncMs }),
    // For a witness, any size is too big: every segment below the limit goes.
    retentionBytes: witness ? 1 : config.retentionBytes > 0 ? config.retentionBytes : null,
    retentionAgeMs: witness ? null : config.retentionMs > 0 ? config.retentionMs : null,
    // Damaged records are reported, and the node repairs them from its peers
    // before it starts. Every segment is checked at open, so damage in an
    // old segment is found then too (a full read of the log at start).
    damagedRecords: 'report',
    verifyClosedSegments: true,
  });
  return {
    store,
    meta,
    membership,
    ...folder,
    dedup: new DedupCheckpointStore(nodeDir!),
    chainHash: () => store.chainHash(),
  };
}
