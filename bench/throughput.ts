import { OLD_GENERATION_FLAG, YOUNG_GENERATION_FLAG } from '../src/cluster/local-cluster.js';
import { round } from '../src/runtime/latency-stats.js';
import { type BenchArgs, moderateRateOf } from './args.js';
import type { WorkerSet } from './children.js';
import {
  LoadRig,
  type PhaseSummary,
  PUBLISHER_YOUNG_GENERATION_FROM_START,
  rigOptions,
} from './load-rig.js';
import { loadAtStart, machine, revision } from './machine.js';
import { measureRawPair, type RawZmqResult } from './raw-zmq.js';
import { formatMs, formatNumber, formatTable, printJsonLine } from './report.js';

export interface ClusterRun {
  readonly fsync: string;
  /** False when the nodes did not honour the fsync policy (the disk log is not wired in yet). */
  readonly available: boolean;
  readonly unavailableReason: string | null;
  readonly saturated: PhaseSummary | null;
  readonly moderateRatePerSecond: number | null;
  readonly moderate: PhaseSummary | null;
  readonly nodeWarnings: number;
  readonly firstNodeWarnings: readonly string[];
}

/**
 * The saturated phase and then the moderate-rate phase against one fresh
 * cluster. For a disk policy it first checks that the nodes wrote anything
 * to their data folder: if they did not, the policy is not wired into the
 * node yet and any figure would really be the in-memory one.
 */
export async function runClusterPhases(
  workers: WorkerSet,
  args: BenchArgs,
  fsync: BenchArgs['fsync'],
  secure = false,
): Promise<ClusterRun> {
  const unavailable = (reason: string): ClusterRun => ({
    fsync,
    available: false,
    unavailableReason: reason,
    saturated: null,
    moderateRatePerSecond: null,
    moderate: null,
    nodeWarnings: 0,
    firstNodeWarnings: [],
  });
  let rig: LoadRig;
  try {
    rig = await LoadRig.start(workers, rigOptions(args, { fsync, secure }));
  } catch (error) {
    if (fsync === 'memory') throw error;
    return unavailable(
      `fsync=${fsync} not available yet: the cluster did not start (${(error as Error).message})`,
    );
  }
  try {
    if (fsync !== 'memory' && !(await rig.durableLogInUse())) {
      return unavailable(
        `fsync=${fsync} not available yet: the nodes kept their log in memory (src/node/storage-factory.ts does not give them the disk log store)`,
      );
    }
    const seconds = args.seconds ?? 10;
    log(
      `saturated phase: ${args.publishers} publishers, window ${args.windowMessages} each, ${publishCalls(args)}, ${args.warmupSeconds} s warm-up + ${seconds} s`,
    );
    const saturated = await rig.saturate(
      args.warmupSeconds * 1000,
      seconds * 1000,
      args.maxMessages,
    );
    const moderateRatePerSecond = moderateRateOf(args, saturated.ackedPerSecond);
    log(
      `moderate phase: ${moderateRatePerSecond} msgs/s for 1 s warm-up + ${args.moderateSeconds} s`,
    );
    const moderate = await rig.rate(moderateRatePerSecond, 1000, args.moderateSeconds * 1000);
    return {
      fsync,
      available: true,
      unavailableReason: null,
      saturated,
      moderateRatePerSecond,
      moderate,
      nodeWarnings: rig.nodeLog.count,
      firstNodeWarnings: rig.nodeLog.firstLines,
    };
  } finally {
    await rig.stop();
  }
}

export function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

interface RawPair {
  readonly single: RawZmqResult;
  readonly packed: RawZmqResult;
}

function meanReceived(
  before: RawPair | null,
  after: RawPair | null,
  pick: (p: RawPair) => RawZmqResult,
): number {
  const values = [before, after]
    .filter((p): p is RawPair => p !== null)
    .map((p) => pick(p).receivedPerSecond);
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** `npm run bench` / `npm run bench -- throughput`: raw ceiling, cluster phases, raw ceiling again. */
export async function throughputBench(workers: WorkerSet, args: BenchArgs): Promise<void> {
  const rawMeasureMs = args.rawSeconds * 1000;
  let rawBefore: RawPair | null = null;
  let rawAfter: RawPair | null = null;
  if (args.raw) {
    log('raw zeromq.js PUB/SUB, before the cluster runs');
    rawBefore = await measureRawPair(workers, args.payloadBytes, args.packedMessages, rawMeasureMs);
  }
  log(`starting a ${args.nodes}-node cluster, fsync=${args.fsync}`);
  const run = await runClusterPhases(workers, args, args.fsync);
  if (args.raw) {
    log('raw zeromq.js PUB/SUB, after the cluster stopped');
    rawAfter = await measureRawPair(workers, args.payloadBytes, args.packedMessages, rawMeasureMs);
  }
  const rawSingle = meanReceived(rawBefore, rawAfter, (p) => p.single);
  const rawPacked = meanReceived(rawBefore, rawAfter, (p) => p.packed);
  const committed = run.saturated?.ackedPerSecond ?? Number.NaN;
  const result = {
    bench: 'throughput',
    date: new Date().toISOString(),
    machine: machine(),
    revision: revision(),
    loadAverageAtStart: loadAtStart,
    clusterTiming: args.clusterTiming,
    nodes: args.nodes,
    publishers: args.publishers,
    windowMessages: args.windowMessages,
    payloadBytes: args.payloadBytes,
    ackMode: 'quorum',
    ...run,
    raw: {
      before: rawBefore,
      after: rawAfter,
      singleMeanPerSecond: round(rawSingle, 0),
      packedMeanPerSecond: round(rawPacked, 0),
    },
    committedToRawSingle: round(committed / rawSingle, 4),
    committedToRawPacked: round(committed / rawPacked, 4),
  };
  console.log(`\n${header(args)}\n`);
  if (rawBefore !== null && rawAfter !== null) {
    console.log(rawTable(args.packedMessages, rawBefore, rawAfter));
    console.log('');
  }
  const phases = [
    [`saturated, fsync=${args.fsync}`, run.saturated],
    [`moderate ${rateLabel(run)}`, run.moderate],
  ] as const;
  console.log(phaseTable(phases));
  console.log(cpuLines(phases));
  console.log('');
  console.log(
    formatTable(
      ['summary', 'value'],
      [
        ['committed msgs/s (quorum ack)', formatNumber(committed)],
        ['raw zeromq.js, 1 msg/frame, msgs/s', formatNumber(rawSingle)],
        ['committed / raw (1 msg/frame)', formatRatio(result.committedToRawSingle)],
        [`raw zeromq.js, ${args.packedMessages} msgs/frame, msgs/s`, formatNumber(rawPacked)],
        [
          `committed / raw (${args.packedMessages} msgs/frame)`,
          formatRatio(result.committedToRawPacked),
        ],
        ['publish->commit p50 / p99 / p99.9, saturated', latencyTriple(run.saturated)],
        ['publish->commit p50 / p99 / p99.9, moderate', latencyTriple(run.moderate)],
        ['peak RSS per node (VmHWM) after the saturated window', rssLine(run.saturated)],
      ],
    ),
  );
  console.log(notes([run]));
  if (args.json) printJsonLine(result);
}

export function header(args: BenchArgs): string {
  const m = machine();
  return [
    `Ordo benchmark, ${new Date().toISOString()}, code ${revision()}`,
    `machine: ${m.cpus} x ${m.cpuModel}, Node ${m.node}, ${m.platform}; load average at start ${loadAtStart.toFixed(2)}`,
    `cluster: ${args.nodes} nodes on this machine; ${args.publishers} publisher processes, window ${args.windowMessages} msgs each, ${publishCalls(args)}; ${args.payloadBytes}-byte messages; quorum acks`,
    `cluster timing: ${Object.keys(args.clusterTiming).length === 0 ? 'defaults' : JSON.stringify(args.clusterTiming)}`,
    `processes: nodes and publishers run with ${YOUNG_GENERATION_FLAG}, nodes also with ${OLD_GENERATION_FLAG}, publishers with ${PUBLISHER_YOUNG_GENERATION_FROM_START} (docs/operations.md, "Memory")`,
  ].join('\n');
}

function rawTable(packed: number, before: RawPair, after: RawPair): string {
  const row = (label: string, pick: (p: RawPair) => RawZmqResult) => [
    label,
    pick(before).receivedPerSecond,
    pick(after).receivedPerSecond,
    pick(before).sentPerSecond,
    pick(after).sentPerSecond,
  ];
  return formatTable(
    [
      'raw zeromq.js PUB/SUB, 2 processes',
      'received/s before',
      'received/s after',
      'sent/s before',
      'sent/s after',
    ],
    [row('1 msg per frame', (p) => p.single), row(`${packed} msgs per frame`, (p) => p.packed)],
  );
}

export function phaseTable(rows: readonly (readonly [string, PhaseSummary | null])[]): string {
  return formatTable(
    [
      'phase',
      'acked msgs/s',
      'commits/s',
      'p50',
      'p99',
      'p99.9',
      'max',
      'max ack gap',
      'published',
      'failed',
      'unfinished',
    ],
    rows.map(([label, s]) =>
      s === null
        ? [label, 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']
        : [
            label,
            s.ackedPerSecond,
            s.clusterCommitsPerSecond,
            formatMs(s.latency.p50Ms),
            formatMs(s.latency.p99Ms),
            formatMs(s.latency.p999Ms),
            formatMs(s.latency.maxMs),
            formatMs(s.maxAckGapMs),
            s.published,
            s.failed,
            s.unfinished,
          ],
    ),
  );
}

/** One line per phase: how the cores were shared during its window. */
export function cpuLines(rows: readonly (readonly [string, PhaseSummary | null])[]): string {
  const cores = machine().cpus;
  return rows
    .filter((row): row is readonly [string, PhaseSummary] => row[1] !== null)
    .map(([label, s]) => {
      const entries = Object.entries(s.cpuPercent);
      const total = entries.reduce((sum, [, percent]) => sum + percent, 0);
      const parts = entries.map(([name, percent]) => `${name} ${percent}%`).join(', ');
      const rss = Object.entries(s.peakRssMiB ?? {})
        .map(([name, mib]) => `${name} ${mib} MiB`)
        .join(', ');
      return `CPU in window, ${label} (% of one core; ${cores} cores = ${cores * 100}%): ${parts}; total ${total}%${rss === '' ? '' : `\npeak RSS per node since its start (VmHWM), at the end of ${label}: ${rss}`}`;
    })
    .join('\n');
}

function rateLabel(run: ClusterRun): string {
  return run.moderateRatePerSecond === null
    ? ''
    : `(${formatNumber(run.moderateRatePerSecond)} msgs/s)`;
}

function rssLine(s: PhaseSummary | null): string {
  const entries = Object.entries(s?.peakRssMiB ?? {});
  return entries.length === 0 ? 'n/a' : entries.map(([id, mib]) => `${id} ${mib} MiB`).join(', ');
}

export function latencyTriple(s: PhaseSummary | null): string {
  if (s === null) return 'n/a';
  return `${formatMs(s.latency.p50Ms)} / ${formatMs(s.latency.p99Ms)} / ${formatMs(s.latency.p999Ms)}`;
}

function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${formatNumber(ratio * 100, 1)}%` : 'n/a';
}

export function notes(runs: readonly ClusterRun[]): string {
  const lines = [
    '',
    'notes:',
    '- acked msgs/s: quorum acks the publishers received inside the measured window; commits/s: the',
    "  sequencer's commitSeq growth over the same window (a cross-check).",
    '- saturated latency is publish() call to ack with every window full, so it includes the time a',
    '  message waits in the client behind the window (about window x publishers / throughput);',
    '  the moderate phase (a fixed rate well below the maximum) shows the unloaded latency.',
  ];
  for (const run of runs) {
    if (!run.available) lines.push(`- ${run.unavailableReason}`);
    const firstError = run.saturated?.firstError ?? run.moderate?.firstError ?? null;
    if (firstError !== null) lines.push(`- fsync=${run.fsync}: first publish error: ${firstError}`);
    if (run.nodeWarnings > 0) {
      lines.push(
        `- fsync=${run.fsync}: the nodes logged ${run.nodeWarnings} warnings/errors, first: ${run.firstNodeWarnings.join(' | ')}`,
      );
    }
  }
  return lines.join('\n');
}

/** How the saturating publishers call the client library. */
function publishCalls(args: BenchArgs): string {
  return args.publishManyMessages === 1
    ? 'publish() per message'
    : `publishMany() of ${args.publishManyMessages} messages`;
}
