import type { BrokerStatusJson, NodeStatusJson, ReplicaJson } from './status-json.js';

export const ClusterHealth = {
  healthy: 'healthy',
  degraded: 'degraded',
  unreachable: 'unreachable',
} as const;
export type ClusterHealth = (typeof ClusterHealth)[keyof typeof ClusterHealth];

export interface ClusterReport {
  health: ClusterHealth;
  /** One sentence per problem; empty when healthy. */
  problems: string[];
  /** What the operator should know though nothing is wrong now (a cluster that cannot fail over). */
  warnings: string[];
  /** The sequencer most reachable nodes follow (highest epoch), or null. */
  sequencer: { id: string; epoch: number } | null;
  /** Replicas, each once with its most advanced report (a diverged report wins). */
  replicas: ReplicaJson[];
  nodes: BrokerStatusJson[];
}

export interface HealthThresholds {
  /** A follower further behind than this many entries makes the cluster degraded. */
  readonly maxLagEntries: number;
}

export const DEFAULT_MAX_LAG_ENTRIES = 10_000;

/**
 * Judges a cluster from its nodes' status: unreachable when no node answers;
 * degraded when a node is down, there is no sequencer, a replica diverged,
 * a follower lags past the threshold or a node cannot write (out of disk
 * space or file descriptors); healthy otherwise.
 */
export function assessCluster(
  nodes: readonly BrokerStatusJson[],
  thresholds: HealthThresholds = { maxLagEntries: DEFAULT_MAX_LAG_ENTRIES },
): ClusterReport {
  const up = nodes.map((n) => n.status).filter((s): s is NodeStatusJson => s !== null);
  const replicas = mergeReplicas(up);
  const leaders = up.filter((s) => s.role === 'leader').sort((a, b) => b.epoch - a.epoch);
  const leader = leaders[0];
  const sequencer = leader === undefined ? null : { id: leader.id, epoch: leader.epoch };
  if (up.length === 0) {
    return {
      health: ClusterHealth.unreachable,
      problems: ['no node is reachable'],
      warnings: [],
      sequencer,
      replicas,
      nodes: [...nodes],
    };
  }
  const problems: string[] = [];
  for (const n of nodes) {
    if (n.status === null) problems.push(`node at ${n.endpoint} is unreachable (${n.error})`);
  }
  if (leader === undefined) problems.push('no node is the sequencer');
  for (const p of leader?.peers ?? []) {
    if (p.lagEntries > thresholds.maxLagEntries)
      problems.push(
        `follower ${p.id} lags ${p.lagEntries} entries (threshold ${thresholds.maxLagEntries})`,
      );
  }
  for (const s of up) {
    if (s.role !== 'leader' && s.catchUpRemaining > thresholds.maxLagEntries)
      problems.push(
        `node ${s.id} is ${s.catchUpRemaining} entries behind the sequencer (threshold ${thresholds.maxLagEntries})`,
      );
  }
  for (const s of up) {
    // Out of disk space or file descriptors: the node waits and tries again.
    if (s.degraded !== '') problems.push(`node ${s.id} refuses publishes: it ${s.degraded}`);
  }
  for (const r of replicas) {
    if (r.diverged)
      problems.push(`replica ${r.replicaId} (${r.plugin}) diverged at seq ${r.divergedAtSeq}`);
  }
  const warnings: string[] = [];
  const membership = (leader ?? up[0])!.members;
  const voters = membership.filter((m) => m.voter).length;
  if (voters === 2)
    warnings.push(
      'this cluster has 2 voters: losing either one stops commits, and it cannot fail over on its own (add a third member)',
    );
  else if (voters === 1 && nodes.length > 1)
    warnings.push('this cluster has 1 voter: it cannot fail over');
  const dataVoters = membership.filter((m) => m.voter && !m.witness).length;
  if (dataVoters === 1 && voters > 1)
    warnings.push(
      'this cluster has 1 data voter besides its witnesses: the log has one full copy, and losing that node stops commits',
    );
  return {
    health: problems.length === 0 ? ClusterHealth.healthy : ClusterHealth.degraded,
    problems,
    warnings,
    sequencer,
    replicas,
    nodes: [...nodes],
  };
}

/** Replicas report to every node: keep each once, its latest report, a diverged one first. */
function mergeReplicas(up: readonly NodeStatusJson[]): ReplicaJson[] {
  const replicas = new Map<string, ReplicaJson>();
  for (const s of up) {
    for (const r of s.replicas) {
      const known = replicas.get(r.replicaId);
      if (
        known === undefined ||
        (r.diverged && !known.diverged) ||
        (r.diverged === known.diverged && r.appliedSeq > known.appliedSeq)
      )
        replicas.set(r.replicaId, r);
    }
  }
  return [...replicas.values()].sort((a, b) => a.replicaId.localeCompare(b.replicaId));
}

/** The exit code `ordo status` ends with: 0 healthy, 1 nothing reachable, 2 degraded. */
export function healthExitCode(health: ClusterHealth): number {
  if (health === ClusterHealth.healthy) return 0;
  if (health === ClusterHealth.unreachable) return 1;
  return 2;
}
