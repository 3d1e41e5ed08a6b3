import type { BenchArgs } from './args.js';
import type { WorkerSet } from './children.js';
import { machine, revision } from './machine.js';
import { formatMs, formatTable, printJsonLine } from './report.js';
import { type ClusterRun, cpuLines, header, log, notes, runClusterPhases } from './throughput.js';

const policies = ['always', 'never'] as const;

/**
 * `npm run bench -- fsync`: the cluster phases of the throughput benchmark
 * with fsync=always and then fsync=never, one fresh cluster each, side by
 * side. A policy the nodes do not honour yet is reported as not available.
 */
export async function fsyncBench(workers: WorkerSet, args: BenchArgs): Promise<void> {
  const runs: ClusterRun[] = [];
  for (const fsync of policies) {
    log(`fsync=${fsync}: starting a ${args.nodes}-node cluster`);
    const run = await runClusterPhases(workers, args, fsync);
    if (!run.available) log(run.unavailableReason ?? `fsync=${fsync} not available`);
    runs.push(run);
  }
  console.log(`\n${header(args)}\n`);
  console.log(
    formatTable(
      [
        'fsync',
        'committed msgs/s',
        'p50 saturated',
        'p99 saturated',
        'p50 moderate',
        'p99 moderate',
        'moderate rate',
      ],
      runs.map((run) =>
        run.available && run.saturated !== null && run.moderate !== null
          ? [
              run.fsync,
              run.saturated.ackedPerSecond,
              formatMs(run.saturated.latency.p50Ms),
              formatMs(run.saturated.latency.p99Ms),
              formatMs(run.moderate.latency.p50Ms),
              formatMs(run.moderate.latency.p99Ms),
              run.moderateRatePerSecond,
            ]
          : [run.fsync, 'not available yet', '', '', '', '', ''],
      ),
    ),
  );
  console.log(
    cpuLines(runs.map((run) => [`saturated, fsync=${run.fsync}`, run.saturated] as const)),
  );
  console.log(notes(runs));
  if (args.json)
    printJsonLine({
      bench: 'fsync',
      date: new Date().toISOString(),
      machine: machine(),
      revision: revision(),
      runs,
    });
}
