/**
 * `npm run chaos -- [run] --nodes 3|5 --duration S --schedule NAME|all --seed N`
 * runs fault-injection schedules against a real cluster and checks the
 * history; `npm run chaos -- check HISTORY.json [--report OUT.json]` checks a
 * history recorded elsewhere. Exits 1 on any violation, 2 on bad usage.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { availabilityOf } from './availability.js';
import { checkHistory } from './checker.js';
import { type ChaosResult, killAllRunsNow, runChaos } from './harness.js';
import type { History } from './history.js';
import { formatResult } from './report.js';
import { SCHEDULES, scheduleNamed } from './schedules.js';

const usage = `usage:
  npm run chaos -- [run] [--nodes 3] [--duration 60] [--schedule NAME[,NAME..]|all] [--seed 1] [--out DIR]
                         [--rate 150] [--publishers 3] [--replicas 2]
  npm run chaos -- check HISTORY.json [--report OUT.json]

schedules:
${SCHEDULES.map((s) => `  ${s.name.padEnd(20)} ${s.description}`).join('\n')}

Needs root (network namespaces, iptables); installs iproute2 and iptables when missing.`;

function fail(message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    fail(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        nodes: { type: 'string' },
        duration: { type: 'string' },
        schedule: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        rate: { type: 'string' },
        publishers: { type: 'string' },
        replicas: { type: 'string' },
        report: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values['help'] === true) {
    console.log(usage);
    return;
  }
  const command = positionals[0] ?? 'run';
  if (command === 'check') {
    const file = positionals[1] ?? fail('check needs the path of a history JSON file');
    let history: History;
    try {
      history = JSON.parse(readFileSync(file, 'utf8')) as History;
    } catch (error) {
      fail(`cannot read history ${file}: ${(error as Error).message}`);
    }
    if (
      history.version !== 1 ||
      !Array.isArray(history.publishes) ||
      !Array.isArray(history.deliverers)
    ) {
      fail(`${file} is not a chaos history (version 1 with publishes and deliverers)`);
    }
    // A user's history may leave out what it did not record.
    const complete: History = {
      ...history,
      nodes: history.nodes ?? [],
      replicas: history.replicas ?? [],
      faults: history.faults ?? [],
    };
    const check = checkHistory(complete);
    const availability = availabilityOf(complete);
    console.log(
      JSON.stringify({ ok: check.ok, counts: check.counts, publishes: check.publishes }, null, 2),
    );
    for (const v of check.violations)
      console.log(`! ${v.kind} at ${v.where || 'cluster'}: ${v.detail}`);
    if (typeof values['report'] === 'string') {
      writeFileSync(values['report'], `${JSON.stringify({ check, availability }, null, 2)}\n`);
    }
    process.exitCode = check.ok ? 0 : 1;
    return;
  }
  if (command !== 'run') fail(`unknown command '${command}'`);
  const nodes = positiveInt(values['nodes'] as string | undefined, 'nodes', 3);
  if (nodes !== 3 && nodes !== 5) fail('--nodes must be 3 or 5');
  const durationS = positiveInt(values['duration'] as string | undefined, 'duration', 60);
  const seed = positiveInt(values['seed'] as string | undefined, 'seed', 1);
  const scheduleName = (values['schedule'] as string | undefined) ?? 'mixed';
  let schedules: typeof SCHEDULES;
  try {
    schedules = scheduleName === 'all' ? SCHEDULES : scheduleName.split(',').map(scheduleNamed);
  } catch (error) {
    fail((error as Error).message);
  }
  const outRoot = (values['out'] as string | undefined) ?? 'chaos-out';
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping every node and removing the chaos network`);
      killAllRunsNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  const results: ChaosResult[] = [];
  for (const schedule of schedules) {
    console.log(`== chaos: ${schedule.name} on ${nodes} nodes for ${durationS} s, seed ${seed}`);
    const result = await runChaos({
      nodes,
      durationMs: durationS * 1000,
      schedule,
      seed,
      outDir: join(outRoot, `${schedule.name}-n${nodes}-seed${seed}`),
      ratePerSecond: positiveInt(values['rate'] as string | undefined, 'rate', 150),
      publishers: positiveInt(values['publishers'] as string | undefined, 'publishers', 3),
      replicas: positiveInt(values['replicas'] as string | undefined, 'replicas', 2),
      log: (line) => console.log(`  ${line}`),
    });
    console.log(formatResult(result));
    results.push(result);
  }
  if (results.length > 1) {
    console.log('\n== summary');
    for (const r of results) {
      console.log(
        `  ${r.schedule.padEnd(20)} ${r.check.ok ? 'PASS' : 'FAIL'}  acked ${r.check.publishes.acknowledged}/${r.check.publishes.attempted}  longest no-commit ${(r.availability.longestNoCommitMs / 1000).toFixed(1)} s`,
      );
    }
  }
  writeFileSync(join(outRoot, 'summary.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.exitCode = results.every((r) => r.check.ok) ? 0 : 1;
}

main().catch((error: Error) => {
  console.error(`chaos run failed: ${error.stack ?? error.message}`);
  killAllRunsNow();
  process.exit(1);
});
