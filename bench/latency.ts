import { LatencyHistogram, type LatencySummary, summarize } from '../src/runtime/latency-stats.js';
import { type BenchArgs, moderateRateOf } from './args.js';
import type { WorkerSet } from './children.js';
import type { SerialCommand, SerialResult } from './load-protocol.js';
import { LoadRig, type PhaseSummary, rigOptions } from './load-rig.js';
import { idleWakeupCpuUs, machine, revision } from './machine.js';
import { measureRawChain, measureRawRoundTrip } from './raw-zmq.js';
import { formatMs, formatNumber, formatTable, printJsonLine } from './report.js';
import { header, log } from './throughput.js';

/** The log durability variants measured, one fresh cluster each. */
const variants = ['memory', 'always'] as const;

const targets = {
  loneP50Ms: 0.2,
  loneP99Ms: 0.6,
  /** p50 of a lone publish at most this many times the raw DEALER/ROUTER round trip. */
  loneP50OverRaw: 3,
  loadedP99Ms: { memory: 2, always: 3 },
};

interface VariantRun {
  readonly fsync: (typeof variants)[number];
  /** One publish in flight, each awaited. */
  readonly lone: LatencySummary;
  /** The warm-up publishes before those, on the freshly started cluster. */
  readonly warmup: LatencySummary;
  readonly loneFailed: number;
  readonly loneFirstError: string | null;
  /** The short saturated phase that finds the peak. */
  readonly peak: PhaseSummary;
  readonly loadedRatePerSecond: number;
  /** Open loop at a fraction of the peak. */
  readonly loaded: PhaseSummary;
  readonly nodeWarnings: number;
}

/**
 * `npm run bench -- latency`: the latency of a lone message. For each of the
 * memory log and fsync=always, a fresh cluster; one publisher process
 * publishes `--warmup-requests` messages and then `--requests` more one at a
 * time (each awaited before the next: one publish in flight), each set
 * reported on its own, then a short saturated phase finds the peak
 * and an open-loop phase at `--moderate-fraction` of it (10% by default)
 * gives the tail under light load. The raw zeromq.js DEALER/ROUTER round
 * trip is measured before and after the clusters, in the same run, as the
 * floor a lone publish is compared against.
 */
export async function latencyBench(workers: WorkerSet, args: BenchArgs): Promise<void> {
  log('CPU of a wakeup after 1 ms and after 10 ms idle');
  const wakeupUs = await idleWakeupCpuUs();
  const slowWakeupUs = await idleWakeupCpuUs(10);
  log(`raw zeromq.js DEALER/ROUTER round trip, ${args.requests} requests, before the clusters`);
  const rawBefore = await measureRawRoundTrip(workers, args.payloadBytes, args.requests);
  log(`raw zeromq.js chain of ${args.nodes} node processes, before the clusters`);
  const chainBefore = await measureRawChain(workers, args.nodes, args.payloadBytes, args.requests);
  const runs: VariantRun[] = [];
  for (const fsync of variants) {
    log(`fsync=${fsync}: starting a ${args.nodes}-node cluster`);
    runs.push(await runVariant(workers, args, fsync));
  }
  log('raw zeromq.js DEALER/ROUTER round trip, after the clusters');
  const rawAfter = await measureRawRoundTrip(workers, args.payloadBytes, args.requests);
  log(`raw zeromq.js chain of ${args.nodes} node processes, after the clusters`);
  const chainAfter = await measureRawChain(workers, args.nodes, args.payloadBytes, args.requests);
  log(`raw zeromq.js chain of ${args.nodes} node processes, 1 ms between requests`);
  const chainSpread = await measureRawChain(
    workers,
    args.nodes,
    args.payloadBytes,
    Math.min(args.requests, 2000),
    1,
  );
  const rawP50Ms = (rawBefore.p50Ms + rawAfter.p50Ms) / 2;
  const chainP50Ms = (chainBefore.p50Ms + chainAfter.p50Ms) / 2;

  console.log(`\n${header(args)}\n`);
  const triple = (s: LatencySummary) => [formatMs(s.p50Ms), formatMs(s.p99Ms), formatMs(s.p999Ms)];
  console.log(
    formatTable(
      [
        'one publish in flight',
        'p50',
        'p99',
        'p99.9',
        'max',
        'p50 / raw p50',
        'p50 / chain p50',
        'failed',
      ],
      [
        ['raw DEALER/ROUTER, before', ...triple(rawBefore), formatMs(rawBefore.maxMs), '', '', 0],
        ['raw DEALER/ROUTER, after', ...triple(rawAfter), formatMs(rawAfter.maxMs), '', '', 0],
        ['raw chain, before', ...triple(chainBefore), formatMs(chainBefore.maxMs), '', '', 0],
        ['raw chain, after', ...triple(chainAfter), formatMs(chainAfter.maxMs), '', '', 0],
        ['raw chain, 1 ms apart', ...triple(chainSpread), formatMs(chainSpread.maxMs), '', '', 0],
        ...runs.flatMap((run) => [
          [
            `ordo, fsync=${run.fsync}, warm-up`,
            ...triple(run.warmup),
            formatMs(run.warmup.maxMs),
            '',
            '',
            '',
          ],
          [
            `ordo, fsync=${run.fsync}`,
            ...triple(run.lone),
            formatMs(run.lone.maxMs),
            `${formatNumber(run.lone.p50Ms / rawP50Ms, 2)}x`,
            `${formatNumber(run.lone.p50Ms / chainP50Ms, 2)}x`,
            run.loneFailed,
          ],
        ]),
      ],
    ),
  );
  console.log('');
  console.log(
    formatTable(
      [
        'light load',
        'peak msgs/s',
        'rate msgs/s',
        'p50',
        'p99',
        'p99.9',
        'max',
        'failed',
        'CPU, light',
        'CPU, peak',
      ],
      runs.map((run) => [
        `ordo, fsync=${run.fsync}`,
        run.peak.ackedPerSecond,
        run.loadedRatePerSecond,
        ...triple(run.loaded.latency),
        formatMs(run.loaded.latency.maxMs),
        run.loaded.failed,
        `${Math.round(totalCpu(run.loaded))}%`,
        `${Math.round(totalCpu(run.peak))}%`,
      ]),
    ),
  );
  const lines = [
    '',
    'notes:',
    `- one publish in flight: ${args.requests} publishes by one publisher process, each awaited before the next`,
    '  (publish() call to quorum ack); the raw round trip is the same count of 100-byte requests echoed',
    '  by a ROUTER, one at a time, between two fresh processes. p50 / raw p50 uses the mean of both raw runs.',
    `  Before them, ${args.warmupRequests} publishes the same way on the fresh cluster ("warm-up", reported`,
    "  apart): until a process's code is compiled its tail is several times longer.",
    `- raw chain: the same requests along a lone publish's path through ${args.nodes} node processes (client to`,
    '  sequencer, multicast, a majority of acks, the answer, the commit point multicast)',
    '  with zeromq.js alone: no',
    '  protocol, encoding or storage. p50 / chain p50 uses the mean of both chain runs. "1 ms apart": a',
    '  pause after each answer, as spread-out traffic has; the processes fall idle between requests, and',
    '  waking them costs more on this machine (the floor under the light-load tail).',
    `- light load: ${args.publishers} publisher processes together at ${args.moderateRate === null ? `${args.moderateFraction * 100}% of the peak of a` : `${args.moderateRate} msgs/s (--moderate-rate), after a`}`,
    '  short saturated phase, open loop (a fixed rate, whatever the acks do). CPU: every process of the',
    '  cluster and the publishers together, in % of one core, in the light-load and the saturated window.',
    `- a process that falls idle and wakes again spends ${formatNumber(wakeupUs, 1)} µs of CPU each time on this machine`,
    `  after 1 ms idle, ${formatNumber(slowWakeupUs, 1)} µs after 10 ms (timers, measured first). A message between processes wakes the sender's ZeroMQ I/O`,
    "  thread and the receiver's I/O thread and main thread: under light load nothing batches, and the",
    '  wakeups can cost more CPU than a saturated stream does.',
    `- targets: lone p50 <= ${formatMs(targets.loneP50Ms)}, p99 <= ${formatMs(targets.loneP99Ms)}, p50 <= ${targets.loneP50OverRaw}x raw;`,
    `  light load p99 <= ${formatMs(targets.loadedP99Ms.memory)} (memory), <= ${formatMs(targets.loadedP99Ms.always)} (fsync=always).`,
  ];
  for (const run of runs) {
    const firstError = run.loneFirstError ?? run.peak.firstError ?? run.loaded.firstError;
    if (firstError !== null) lines.push(`- fsync=${run.fsync}: first publish error: ${firstError}`);
    if (run.nodeWarnings > 0)
      lines.push(`- fsync=${run.fsync}: the nodes logged ${run.nodeWarnings} warnings/errors`);
  }
  console.log(lines.join('\n'));
  if (args.json)
    printJsonLine({
      bench: 'latency',
      date: new Date().toISOString(),
      machine: machine(),
      revision: revision(),
      idleWakeupCpuUs: wakeupUs,
      idle10msWakeupCpuUs: slowWakeupUs,
      rawBefore,
      rawAfter,
      chainBefore,
      chainAfter,
      chainSpread,
      runs,
    });
}

async function runVariant(
  workers: WorkerSet,
  args: BenchArgs,
  fsync: (typeof variants)[number],
): Promise<VariantRun> {
  const rig = await LoadRig.start(workers, rigOptions(args, { fsync }));
  try {
    log(
      `fsync=${fsync}: ${args.warmupRequests} warm-up publishes, then ${args.requests}, one in flight`,
    );
    const command: SerialCommand = {
      type: 'serial',
      warmupMessages: args.warmupRequests,
      messages: args.requests,
    };
    const loader = rig.loaders[0]!;
    loader.send(command);
    const done = (await loader.next(
      'serialDone',
      30_000 + (args.warmupRequests + args.requests) * 50,
    )) as unknown as SerialResult;
    const seconds = args.seconds ?? 5;
    log(`fsync=${fsync}: saturated phase, ${args.warmupSeconds} s warm-up + ${seconds} s`);
    const peak = await rig.saturate(args.warmupSeconds * 1000, seconds * 1000, args.maxMessages);
    const loadedRatePerSecond = moderateRateOf(args, peak.ackedPerSecond);
    log(
      `fsync=${fsync}: ${loadedRatePerSecond} msgs/s for 1 s warm-up + ${args.moderateSeconds} s`,
    );
    const loaded = await rig.rate(loadedRatePerSecond, 1000, args.moderateSeconds * 1000);
    return {
      fsync,
      lone: summarize(LatencyHistogram.from(done.latency)),
      warmup: summarize(LatencyHistogram.from(done.warmupLatency)),
      loneFailed: done.failed,
      loneFirstError: done.firstError,
      peak,
      loadedRatePerSecond,
      loaded,
      nodeWarnings: rig.nodeLog.count,
    };
  } finally {
    await rig.stop();
  }
}

/** CPU of every measured process in a window, in % of one core. */
function totalCpu(phase: PhaseSummary): number {
  return Object.values(phase.cpuPercent).reduce((sum, p) => sum + p, 0);
}
