import { LIMITS } from '../limits.js';
import type { Logger } from '../runtime/logger.js';
import type { SnapshotStorage, StoredChunk, UploadState } from '../storage/snapshot-storage.js';
import type { ordo } from '../wire/schema.js';

interface ReplicaRecord {
  report: ordo.ReplicaReport;
  receivedMs: number;
  /** digestSeq → digest, oldest first. */
  digests: Map<number, string>;
  divergedAtSeq: number;
}

/**
 * What replicas told this node: how far each applied the stream and the
 * digest of its state at agreed seqs. Two replicas of one plugin whose
 * digests differ at the same seq have diverged (a non-deterministic plugin),
 * and that is reported loudly, naming the first such seq. The node also
 * stores snapshots on its disk, uploaded chunk by chunk, for replicas that
 * join after the log prefix they need is gone, and gives the retention rule
 * that keeps that prefix until a snapshot covering it is stored.
 */
export class ReplicaRegistry {
  private readonly replicas = new Map<string, ReplicaRecord>();
  private readonly notedPlugins = new Set<string>();

  /** Where snapshots are stored; null for a node without a data folder (nothing is stored). */
  constructor(private readonly snapshots: SnapshotStorage | null = null) {}

  report(report: ordo.ReplicaReport, nowMs: number, logger: Logger): void {
    let record = this.replicas.get(report.replicaId);
    if (record === undefined) {
      if (this.replicas.size >= LIMITS.maxReplicaReports) {
        const oldest = [...this.replicas.entries()].sort(
          (a, b) => a[1].receivedMs - b[1].receivedMs,
        )[0]!;
        this.replicas.delete(oldest[0]);
      }
      record = { report, receivedMs: nowMs, digests: new Map(), divergedAtSeq: 0 };
      this.replicas.set(report.replicaId, record);
    }
    record.report = report;
    record.receivedMs = nowMs;
    if (report.plugin !== '' && this.snapshots !== null && !this.notedPlugins.has(report.plugin)) {
      // From the first report on, retention keeps what a late joiner of this plugin needs.
      this.notedPlugins.add(report.plugin);
      this.snapshots.notePlugin(report.plugin).then(
        (noted) => {
          if (!noted)
            logger.warn(
              `plugin '${report.plugin}': snapshots of ${LIMITS.maxSnapshotPlugins} plugins are kept already; its late joiners cannot start from this node`,
            );
        },
        (error: Error) => {
          this.notedPlugins.delete(report.plugin);
          logger.warn(
            `could not create the snapshot folder of '${report.plugin}': ${error.message}`,
          );
        },
      );
    }
    if (report.digest === '' || report.digestSeq === 0) return;
    // Periodic reports repeat the latest digest: compare (and log) each digest once.
    if (record.digests.get(report.digestSeq) === report.digest) return;
    record.digests.set(report.digestSeq, report.digest);
    if (record.digests.size > LIMITS.maxDigestsPerReplica) {
      record.digests.delete(record.digests.keys().next().value as number);
    }
    for (const [otherId, other] of this.replicas) {
      if (otherId === report.replicaId || other.report.plugin !== report.plugin) continue;
      const theirs = other.digests.get(report.digestSeq);
      if (theirs === undefined || theirs === report.digest) continue;
      for (const r of [record, other]) {
        if (r.divergedAtSeq === 0 || report.digestSeq < r.divergedAtSeq)
          r.divergedAtSeq = report.digestSeq;
      }
      logger.error(
        `replicas ${report.replicaId} and ${otherId} of plugin '${report.plugin}' DIVERGED at seq ${report.digestSeq}: digest ${report.digest} vs ${theirs}`,
      );
    }
  }

  status(nowMs: number): ordo.ReplicaStatus.$Properties[] {
    return [...this.replicas.values()].map((r) => ({
      replicaId: r.report.replicaId,
      plugin: r.report.plugin,
      appliedSeq: r.report.appliedSeq,
      digestSeq: r.report.digestSeq,
      digest: r.report.digest,
      diverged: r.divergedAtSeq > 0,
      divergedAtSeq: r.divergedAtSeq,
      reportedMsAgo: nowMs - r.receivedMs,
    }));
  }

  /**
   * Takes one chunk of a snapshot a replica uploads. A diverged replica's
   * state must not seed late joiners: its uploads are refused.
   */
  async putSnapshotChunk(chunk: ordo.SnapshotChunkPut, nowMs: number): Promise<UploadState> {
    const refused = (why: string): UploadState => ({
      nextIndex: 0,
      complete: false,
      refused: why,
      problem: '',
    });
    if (this.snapshots === null)
      return refused('this node has no data folder to store snapshots in');
    if ((this.replicas.get(chunk.replicaId)?.divergedAtSeq ?? 0) > 0)
      return refused(`replica ${chunk.replicaId} diverged: its snapshots are not stored`);
    return this.snapshots.putChunk(
      {
        plugin: chunk.plugin,
        replicaId: chunk.replicaId,
        seq: chunk.seq,
        digest: chunk.digest,
        totalBytes: chunk.totalBytes,
        chunkBytes: chunk.chunkBytes,
        index: chunk.index,
        data: chunk.data,
        sha256: chunk.sha256,
        probe: chunk.probe,
      },
      nowMs,
    );
  }

  /** One chunk of a stored snapshot (or its description), or found false. */
  async getSnapshotChunk(request: ordo.SnapshotChunkGet): Promise<StoredChunk> {
    if (this.snapshots === null) return { found: false, plugin: request.plugin };
    return this.snapshots.getChunk(request.plugin, request.seq, request.index, request.describe);
  }

  /**
   * The retention rule: the highest seq the log may be cut up to so that a
   * late joiner of every plugin this node knows finds either a stored
   * snapshot or the log from seq 1 on. Infinity when no plugin is known (or
   * the node stores no snapshots).
   */
  retentionFloorSeq(): number {
    return this.snapshots?.retentionFloorSeq() ?? Number.POSITIVE_INFINITY;
  }

  /** Deletes expired partial uploads. */
  expireUploads(nowMs: number): void {
    this.snapshots?.expireUploads(nowMs);
  }
}
