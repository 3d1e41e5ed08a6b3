import { checkHistory, type Violation } from './checkers.js';
import { FaultInjector } from './fault-injector.js';
import type { CoreFailure, History, LivenessRecord } from './history.js';
import { Prng } from './prng.js';
import {
  drawSeedPlan,
  livenessBoundTicks,
  type PlanOverrides,
  type SeedPlan,
} from './seed-plan.js';
import { SimCluster } from './sim-cluster.js';
import { NodeFailure } from './sim-node.js';
import type { SimStats } from './sim-stats.js';

export interface RunOptions extends PlanOverrides {
  /** Receives a line for each notable event (crashes, partitions, role changes, …). */
  readonly log?: (line: string) => void;
}

export interface SeedResult {
  readonly seed: number;
  readonly plan: SeedPlan;
  readonly violations: readonly Violation[];
  readonly stats: SimStats;
  readonly history: History;
  /** Ticks from the heal until everything drained (null when it never did). */
  readonly drainTicks: number | null;
}

/** The command that replays one seed exactly. */
export function replayCommand(seed: number): string {
  return `npm run sim -- --seed ${seed}`;
}

/**
 * Runs one seed: a fault phase, then heal and drain, then every checker.
 * Everything is drawn from the seed, so the same seed always gives the same
 * run and the same verdict.
 */
export function runSeed(seed: number, options: RunOptions = {}): SeedResult {
  const root = new Prng(seed);
  const plan = drawSeedPlan(seed, root.fork(), options);
  const log = options.log ?? (() => {});
  const clusterPrng = root.fork();
  const injectorPrng = root.fork();
  // Forked last, so that every other stream of a seed is as before checkpoints were modelled.
  const checkpointPrng = root.fork();
  const cluster = new SimCluster(plan, clusterPrng, log, checkpointPrng);
  const injector = new FaultInjector(plan, injectorPrng, cluster, log);
  const coreFailures: CoreFailure[] = [];
  let liveness: LivenessRecord | null = null;
  try {
    for (let i = 0; i < plan.faultTicks; i++) {
      injector.beforeTick();
      cluster.runTick();
    }
    cluster.heal();
    const healedAtTick = cluster.tick;
    const boundTicks = livenessBoundTicks(plan, cluster.repairLagEntries());
    let completedAtTick: number | null = null;
    while (cluster.tick - healedAtTick <= boundTicks) {
      if (cluster.isDrained()) {
        completedAtTick = cluster.tick;
        break;
      }
      cluster.runTick();
    }
    liveness = {
      healedAtTick,
      completedAtTick,
      boundTicks,
      outstanding: completedAtTick === null ? cluster.outstanding() : [],
    };
  } catch (error) {
    if (!(error instanceof NodeFailure)) throw error;
    const cause = error.cause;
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    coreFailures.push({ nodeId: error.nodeId, tick: cluster.tick, message: detail });
    log(`t${cluster.tick} ${error.nodeId} threw ${detail}`);
    if (cause instanceof Error && cause.stack !== undefined) log(cause.stack);
  }
  cluster.snapshotNetworkStats();
  const history = cluster.history(liveness, coreFailures);
  return {
    seed,
    plan,
    violations: checkHistory(history),
    stats: cluster.stats,
    history,
    drainTicks:
      liveness === null || liveness.completedAtTick === null
        ? null
        : liveness.completedAtTick - liveness.healedAtTick,
  };
}
