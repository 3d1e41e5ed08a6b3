import { parseArgs } from 'node:util';
import { PlantedDefect } from '../../src/core/index.js';
import { replayCommand, runSeed } from './run-seed.js';
import { defaultWorkerCount, runSeedsInParallel, type SeedSummary } from './seed-pool.js';
import { addStats, emptyStats, type SimStats } from './sim-stats.js';

const USAGE = `usage: node dist/test/sim/cli.js [--seeds N] [--start S] [--seed S] [--ticks T] [--verbose]
  --seeds N    run N seeds (default 100), starting at --start (default 1)
  --seed S     run the one seed S (replays a failure exactly)
  --ticks T    override the fault-phase length, in ticks
  --defect D   plant a deliberate bug (${Object.values(PlantedDefect).join(', ')})
  --workers W  run seeds on W worker threads (default: one per core)
  --witness    make every seed a cluster of 2 data nodes and a witness
  --verbose    print the plan and every event of each seed (runs in this thread)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      start: { type: 'string' },
      seed: { type: 'string' },
      ticks: { type: 'string' },
      defect: { type: 'string' },
      workers: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      witness: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seeds: number[] = [];
  if (values.seed !== undefined) seeds.push(parseCount(values.seed, '--seed'));
  else {
    const start = values.start === undefined ? 1 : parseCount(values.start, '--start');
    const count = values.seeds === undefined ? 100 : parseCount(values.seeds, '--seeds');
    for (let i = 0; i < count; i++) seeds.push(start + i);
  }
  const faultTicks = values.ticks === undefined ? undefined : parseCount(values.ticks, '--ticks');
  const verbose = values.verbose === true;
  const defects = Object.values(PlantedDefect) as string[];
  if (values.defect !== undefined && !defects.includes(values.defect)) {
    console.error(`--defect must be one of ${defects.join(', ')}, got ${values.defect}\n${USAGE}`);
    return 2;
  }
  const plantedDefects = new Set(
    values.defect === undefined ? [] : [values.defect as PlantedDefect],
  );

  const overrides = {
    plantedDefects,
    ...(faultTicks === undefined ? {} : { faultTicks }),
    ...(values.witness === true ? { witness: true } : {}),
  };
  const workers =
    values.workers === undefined ? defaultWorkerCount() : parseCount(values.workers, '--workers');

  const totals = emptyStats();
  const failures: SeedSummary[] = [];
  const drainTicks: number[] = [];
  // The seed whose drain came closest to its liveness bound: how much room the tail has.
  let tightest: TightestDrain | null = null;
  const record = (result: SeedSummary): void => {
    addStats(totals, result.stats);
    if (result.drainTicks !== null) drainTicks.push(result.drainTicks);
    if (result.drainTicks !== null && result.drainBoundTicks !== null) {
      const share = result.drainTicks / result.drainBoundTicks;
      if (tightest === null || share > tightest.ticks / tightest.boundTicks)
        tightest = {
          seed: result.seed,
          ticks: result.drainTicks,
          boundTicks: result.drainBoundTicks,
        };
    }
    if (result.violations.length > 0) {
      failures.push(result);
      printFailure(result);
    }
  };
  const startedMs = performance.now();
  if (verbose || seeds.length === 1 || workers <= 1) {
    for (const seed of seeds) {
      const log = verbose ? (line: string) => console.log(`  ${line}`) : undefined;
      if (verbose) console.log(`seed ${seed}`);
      const result = await runSeed(seed, { log, ...overrides });
      if (verbose) console.log(`  plan ${JSON.stringify(result.plan, planReplacer)}`);
      record({ ...result, nodeCount: result.plan.nodeCount });
    }
  } else {
    await runSeedsInParallel(seeds, overrides, workers, record);
  }
  const elapsedMs = performance.now() - startedMs;
  printSummary(seeds.length, failures, elapsedMs, totals, drainTicks, tightest);
  return failures.length === 0 ? 0 : 1;
}

/** Prints sets (the planted defects) as arrays. */
function planReplacer(_key: string, value: unknown): unknown {
  return value instanceof Set ? [...value] : value;
}

function printFailure(result: SeedSummary): void {
  console.log(`FAIL seed ${result.seed}`);
  for (const v of result.violations) console.log(`  ${v.property}: ${v.message}`);
  const witness = process.argv.includes('--witness') ? ' --witness' : '';
  console.log(`  replay: ${replayCommand(result.seed)}${witness} --verbose`);
}

/** The seed whose drain took the largest share of its liveness bound. */
interface TightestDrain {
  readonly seed: number;
  readonly ticks: number;
  readonly boundTicks: number;
}

function printSummary(
  seedCount: number,
  failures: readonly SeedSummary[],
  elapsedMs: number,
  totals: SimStats,
  drainTicks: number[],
  tightest: TightestDrain | null,
): void {
  const seconds = elapsedMs / 1000;
  drainTicks.sort((a, b) => a - b);
  const percentile = (p: number): number =>
    drainTicks[Math.min(drainTicks.length - 1, Math.floor(p * drainTicks.length))] ?? 0;
  console.log(
    `\n${seedCount} seeds, ${failures.length} failed, ${seconds.toFixed(1)} s (${(seedCount / seconds).toFixed(1)} seeds/s)`,
  );
  if (failures.length > 0) console.log(`failing seeds: ${failures.map((f) => f.seed).join(' ')}`);
  console.log(
    `drain after heal: median ${percentile(0.5)} ticks, p99 ${percentile(0.99)}, max ${drainTicks[drainTicks.length - 1] ?? 0}`,
  );
  if (tightest !== null) {
    const { seed, ticks, boundTicks } = tightest;
    console.log(
      `closest to its liveness bound: seed ${seed}, drained in ${ticks} of ${boundTicks} ticks (${Math.round((100 * ticks) / boundTicks)}%)`,
    );
  }
  console.log('exercised:');
  const rows = Object.entries(totals).map(
    ([key, value]) =>
      `  ${key.padEnd(22)} ${typeof value === 'number' ? value : JSON.stringify(value)}`,
  );
  console.log(rows.join('\n'));
}

function parseCount(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`${flag} needs a non-negative integer, got ${text}\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

process.exitCode = await main();
