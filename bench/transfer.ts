/**
 * `npm run bench -- transfer [--trials 20] [--rate 1000]`: planned
 * leadership transfers under a steady publish load. For each transfer it
 * measures how long until the target leads, and the publish pause it caused:
 * the longest gap between two consecutive acks around the transfer. Every
 * publish must succeed; the pause should be far below an election timeout.
 */
import { Publisher } from '../clients/index.js';
import { LocalCluster } from '../src/cluster/local-cluster.js';
import { DEFAULT_CLUSTER_TIMING } from '../src/node/cluster-config.js';
import { percentileOf } from '../src/runtime/latency-stats.js';
import { type BenchArgs, steadyRateOf } from './args.js';
import type { WorkerSet } from './children.js';
import { adminFor, waitHealthy } from './cluster-health.js';
import { formatMs, formatTable, printJsonLine } from './report.js';

/** How long the load runs undisturbed before each transfer, and after it for the measurement. */
const settleMs = 500;
const observeMs = 1000;
/** Most acks remembered (bounds memory over a long run). */
const maxAckTimes = 2_000_000;

export async function transferBench(_workers: WorkerSet, args: BenchArgs): Promise<void> {
  const cluster = await LocalCluster.start({ nodes: 3, fsync: args.fsync });
  const admin = adminFor(cluster.clientEndpoints);
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  const ackTimesMs: number[] = [];
  let failed = 0;
  let published = 0;
  const perTick = Math.max(1, Math.round(steadyRateOf(args) / 100));
  const load = setInterval(() => {
    for (let i = 0; i < perTick; i++) {
      published++;
      publisher.publish('transfer', 'x'.repeat(100)).then(
        () => {
          if (ackTimesMs.length < maxAckTimes) ackTimesMs.push(performance.now());
        },
        () => failed++,
      );
    }
  }, 10);
  const transferMs: number[] = [];
  const pauseMs: number[] = [];
  try {
    await waitHealthy(admin, 3, 10_000);
    for (let trial = 0; trial < args.trials; trial++) {
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const leader = await admin.findLeader();
      if (leader === null) throw new Error('no sequencer before a transfer');
      const target = cluster.nodes.find((n) => n.id !== leader.id)!.id;
      const startedMs = performance.now();
      await admin.transferLeader(target, 5000);
      transferMs.push(performance.now() - startedMs);
      await new Promise((resolve) => setTimeout(resolve, observeMs));
      pauseMs.push(longestGapMs(ackTimesMs, startedMs - 100, startedMs + observeMs));
    }
  } finally {
    clearInterval(load);
    await publisher.flush().catch(() => {});
    publisher.close();
    admin.close();
    await cluster.stop();
  }
  const electionTimeoutMs = DEFAULT_CLUSTER_TIMING.electionTimeoutMs;
  console.log(
    `\ntransfer: ${args.trials} planned transfers, ${steadyRateOf(args)} msgs/s steady\n`,
  );
  console.log(
    formatTable(
      ['transfer', 'value'],
      [
        [
          'request -> target leads, p50 / p99',
          `${formatMs(percentileOf(transferMs, 0.5))} / ${formatMs(percentileOf(transferMs, 0.99))}`,
        ],
        [
          'publish pause (longest ack gap), p50 / p99',
          `${formatMs(percentileOf(pauseMs, 0.5))} / ${formatMs(percentileOf(pauseMs, 0.99))}`,
        ],
        ['election timeout (for comparison)', `${electionTimeoutMs}-${2 * electionTimeoutMs} ms`],
        ['publishes: sent / failed', `${published} / ${failed}`],
      ],
    ),
  );
  if (args.json) {
    printJsonLine({
      bench: 'transfer',
      trials: args.trials,
      transferMs,
      pauseMs,
      published,
      failed,
    });
  }
  if (failed > 0) process.exitCode = 1;
}

/** The longest time between two consecutive acks inside [fromMs, toMs]. */
function longestGapMs(ackTimesMs: readonly number[], fromMs: number, toMs: number): number {
  let longest = 0;
  let previous: number | null = null;
  for (const time of ackTimesMs) {
    if (time < fromMs || time > toMs) continue;
    if (previous !== null) longest = Math.max(longest, time - previous);
    previous = time;
  }
  return longest;
}
