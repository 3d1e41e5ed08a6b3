import { AdminClient } from '../clients/admin.js';
import { loadCredentials } from '../src/runtime/curve-keys.js';
import { sleep } from './children.js';

/** What the benchmarks read from one node's status. */
export interface NodeView {
  readonly id: string;
  readonly role: string;
  readonly epoch: number;
  readonly leaderId: string;
  readonly commitSeq: number;
  readonly electionsStarted: number;
  /** Hash of the stored log; only durable log stores provide one, so empty means an in-memory log. */
  readonly logChainHash: string;
}

/** Every node's view at one moment; unreachable nodes are missing. */
export interface ClusterView {
  readonly nodes: readonly NodeView[];
  readonly unreachable: number;
}

const pollIntervalMs = 50;

export async function viewCluster(admin: AdminClient): Promise<ClusterView> {
  const all = await admin.statusAll();
  const nodes: NodeView[] = [];
  for (const broker of all) {
    const s = broker.status;
    if (s === null) continue;
    nodes.push({
      id: s.id,
      role: s.role,
      epoch: Number(s.epoch),
      leaderId: s.leaderId,
      commitSeq: Number(s.commitSeq),
      electionsStarted: Number(s.electionsStarted),
      logChainHash: s.logChainHash ?? '',
    });
  }
  return { nodes, unreachable: all.length - nodes.length };
}

/** The node that leads the highest epoch, or null. */
export function leaderOf(view: ClusterView): NodeView | null {
  const leaders = view.nodes.filter((n) => n.role === 'leader').sort((a, b) => b.epoch - a.epoch);
  return leaders[0] ?? null;
}

export function maxEpoch(view: ClusterView): number {
  return Math.max(0, ...view.nodes.map((n) => n.epoch));
}

/**
 * Healthy means: every node answers, exactly one leads, all agree on who
 * and in which epoch, and every node has committed at least what the
 * leader had committed at the previous poll (so a restarted node has caught
 * up even while publishing goes on).
 */
export async function waitHealthy(
  admin: AdminClient,
  nodeCount: number,
  timeoutMs: number,
): Promise<ClusterView> {
  const deadlineMs = Date.now() + timeoutMs;
  let previousLeaderCommit = Number.POSITIVE_INFINITY;
  let last: ClusterView | null = null;
  while (Date.now() < deadlineMs) {
    const view = await viewCluster(admin);
    last = view;
    const leader = leaderOf(view);
    if (leader !== null && view.nodes.length === nodeCount) {
      const leaders = view.nodes.filter((n) => n.role === 'leader');
      const agreed = view.nodes.every((n) => n.leaderId === leader.id && n.epoch === leader.epoch);
      const caughtUp = view.nodes.every((n) => n.commitSeq >= previousLeaderCommit);
      if (leaders.length === 1 && agreed && caughtUp) return view;
      previousLeaderCommit = leader.commitSeq;
    }
    await sleep(pollIntervalMs);
  }
  throw new Error(`cluster not healthy within ${timeoutMs} ms; last view: ${JSON.stringify(last)}`);
}

/**
 * Elections between two views: the growth of every node's counter of
 * campaigns, where a node that restarted in between counts from zero.
 */
export function electionsBetween(
  before: ClusterView,
  after: ClusterView,
  restarted: readonly string[] = [],
): number {
  let elections = 0;
  for (const node of after.nodes) {
    const earlier = before.nodes.find((n) => n.id === node.id);
    const base =
      restarted.includes(node.id) || earlier === undefined ? 0 : earlier.electionsStarted;
    elections += Math.max(0, node.electionsStarted - base);
  }
  return elections;
}

export function adminFor(endpoints: readonly string[], credentialsPath?: string): AdminClient {
  return new AdminClient(
    endpoints,
    1000,
    credentialsPath === undefined ? {} : { credentials: loadCredentials(credentialsPath) },
  );
}
