import type { BenchArgs } from './args.js';
import type { WorkerSet } from './children.js';
import { electionsBetween, maxEpoch, viewCluster } from './cluster-health.js';
import { LoadRig, rigOptions } from './load-rig.js';
import { machine, revision } from './machine.js';
import { formatTable, printJsonLine } from './report.js';
import { cpuLines, header, log, phaseTable } from './throughput.js';

/**
 * `npm run bench -- stability [--seconds 60]`: full publish load and no
 * faults. Any election in that time is a false failure detection (a node
 * too busy to send or read heartbeats in time), so the target is zero.
 */
export async function stabilityBench(workers: WorkerSet, args: BenchArgs): Promise<void> {
  const seconds = args.seconds ?? 60;
  log(`starting a ${args.nodes}-node cluster, fsync=${args.fsync}`);
  const rig = await LoadRig.start(workers, rigOptions(args));
  try {
    const before = await viewCluster(rig.admin);
    log(`full load for ${seconds} s`);
    const load = await rig.saturate(0, seconds * 1000, args.maxMessages);
    const after = await viewCluster(rig.admin);
    const elections = electionsBetween(before, after);
    const epochsBefore = maxEpoch(before);
    const epochsAfter = maxEpoch(after);
    const result = {
      bench: 'stability',
      date: new Date().toISOString(),
      machine: machine(),
      revision: revision(),
      clusterTiming: args.clusterTiming,
      seconds,
      fsync: args.fsync,
      elections,
      epochBefore: epochsBefore,
      epochAfter: epochsAfter,
      leaderBefore: before.nodes.find((n) => n.role === 'leader')?.id ?? null,
      leaderAfter: after.nodes.find((n) => n.role === 'leader')?.id ?? null,
      load,
      nodeWarnings: rig.nodeLog.count,
      firstNodeWarnings: rig.nodeLog.firstLines,
    };
    console.log(`\n${header(args)}\n`);
    const phases = [[`full load ${seconds} s, fsync=${args.fsync}`, load]] as const;
    console.log(phaseTable(phases));
    console.log(cpuLines(phases));
    console.log('');
    console.log(
      formatTable(
        ['stability', 'value'],
        [
          ['elections started (all nodes, target 0)', String(elections)],
          ['epoch before -> after', `${epochsBefore} -> ${epochsAfter}`],
          ['sequencer before -> after', `${result.leaderBefore} -> ${result.leaderAfter}`],
          ['node warnings/errors logged', String(rig.nodeLog.count)],
        ],
      ),
    );
    if (rig.nodeLog.count > 0)
      console.log(`first node warnings: ${rig.nodeLog.firstLines.join(' | ')}`);
    if (args.json) printJsonLine(result);
  } finally {
    await rig.stop();
  }
}
