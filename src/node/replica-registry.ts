import { LIMITS } from '../limits.js';
import type { Logger } from '../runtime/logger.js';
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
 * keeps the latest snapshot per plugin for replicas that join late.
 */
export class ReplicaRegistry {
  private readonly replicas = new Map<string, ReplicaRecord>();
  private readonly snapshots = new Map<string, ordo.Snapshot.$Properties>();

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

  putSnapshot(snapshot: ordo.PutSnapshot): void {
    // A diverged replica's state must not seed late joiners.
    if ((this.replicas.get(snapshot.replicaId)?.divergedAtSeq ?? 0) > 0) return;
    const current = this.snapshots.get(snapshot.plugin);
    if (current !== undefined && (current.seq ?? 0) >= snapshot.seq) return;
    if (current === undefined && this.snapshots.size >= LIMITS.maxSnapshotPlugins) return;
    this.snapshots.set(snapshot.plugin, {
      found: true,
      plugin: snapshot.plugin,
      seq: snapshot.seq,
      digest: snapshot.digest,
      data: snapshot.data,
    });
  }

  getSnapshot(plugin: string): ordo.Snapshot.$Properties {
    return this.snapshots.get(plugin) ?? { found: false, plugin };
  }
}
