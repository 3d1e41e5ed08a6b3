import type { Logger } from '../../src/runtime/logger.js';
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
import type { SimStats } from './sim-stats.js';
import { NodeFailure, SimWorld } from './sim-world.js';

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
  /** The liveness bound the drain was held to (null when the seed stopped before the heal). */
  readonly drainBoundTicks: number | null;
}

/** The command that replays one seed exactly. */
export function replayCommand(seed: number): string {
  return `npm run sim -- --seed ${seed}`;
}

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/**
 * The nodes' logger in the simulator: silent unless ORDO_SIM_LOG_LEVEL asks
 * for a level, and then written through the seed's own log, synchronously,
 * so that turning logs on does not change the run (a stream-based logger
 * would schedule work of its own between the simulator's turns).
 */
function simLogger(write: (line: string) => void): Logger {
  const wanted = process.env['ORDO_SIM_LOG_LEVEL'];
  const rank = LOG_LEVELS.indexOf((wanted ?? 'none') as (typeof LOG_LEVELS)[number]);
  const at =
    (level: (typeof LOG_LEVELS)[number]) =>
    (message: unknown): void => {
      if (rank >= 0 && LOG_LEVELS.indexOf(level) <= rank) write(`[${level}] ${String(message)}`);
    };
  const logger = {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    log: (level: string, message: unknown) =>
      at((LOG_LEVELS as readonly string[]).includes(level) ? (level as 'info') : 'info')(message),
  };
  return logger as unknown as Logger;
}

/**
 * Runs one seed: a fault phase, then heal and drain, then every checker.
 * Everything is drawn from the seed, so the same seed always gives the same
 * run and the same verdict.
 */
export async function runSeed(seed: number, options: RunOptions = {}): Promise<SeedResult> {
  const root = new Prng(seed);
  const plan = drawSeedPlan(seed, root.fork(), options);
  const log = options.log ?? (() => {});
  const world = new SimWorld(plan, root.fork(), log, simLogger(log));
  const injector = new FaultInjector(plan, root.fork(), world, log);
  world.useCopyPrng(root.fork());
  const coreFailures: CoreFailure[] = [];
  let liveness: LivenessRecord | null = null;
  // A promise the code under test left unhandled would end a real process:
  // it fails the seed (production code only; the simulator's own never do).
  const onUnhandled = (reason: unknown): void => {
    const detail = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    coreFailures.push({ nodeId: '?', tick: world.tick, message: `unhandled rejection: ${detail}` });
    log(`t${world.tick} unhandled rejection ${detail}`);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    for (let i = 0; i < plan.faultTicks; i++) {
      injector.beforeTick();
      await world.runTick();
    }
    world.heal();
    const healedAtTick = world.tick;
    const boundTicks = livenessBoundTicks(plan, world.repairLagEntries());
    let completedAtTick: number | null = null;
    while (world.tick - healedAtTick <= boundTicks) {
      if (world.isDrained()) {
        completedAtTick = world.tick;
        break;
      }
      await world.runTick();
    }
    liveness = {
      healedAtTick,
      completedAtTick,
      boundTicks,
      outstanding: completedAtTick === null ? world.outstanding() : [],
    };
  } catch (error) {
    if (!(error instanceof NodeFailure)) throw error;
    const cause = error.cause;
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    coreFailures.push({ nodeId: error.nodeId, tick: world.tick, message: detail });
    log(`t${world.tick} ${error.nodeId} threw ${detail}`);
    if (cause instanceof Error && cause.stack !== undefined) log(cause.stack);
  } finally {
    world.close();
    // Rejections of this seed surface after a turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onUnhandled);
  }
  world.snapshotNetworkStats();
  world.collectDiskStats();
  world.stats.events = world.scheduler.eventsRun;
  for (const d of world.deliverers) {
    world.stats.deliveredEntries += d.stream.entries.length;
    for (const skip of d.stream.skipped)
      world.stats.skippedEntries += skip.toSeq - skip.fromSeq + 1;
  }
  const history = world.history(liveness, coreFailures);
  return {
    seed,
    plan,
    violations: checkHistory(history),
    stats: world.stats,
    history,
    drainTicks:
      liveness === null || liveness.completedAtTick === null
        ? null
        : liveness.completedAtTick - liveness.healedAtTick,
    drainBoundTicks: liveness?.boundTicks ?? null,
  };
}
