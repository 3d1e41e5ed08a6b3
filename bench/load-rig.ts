import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from '../clients/admin.js';
import { LocalCluster, YOUNG_GENERATION_FLAG } from '../src/cluster/local-cluster.js';
import { LIMITS } from '../src/limits.js';
import type { FsyncPolicy } from '../src/node/cluster-config.js';
import {
  LatencyHistogram,
  type LatencySummary,
  round,
  summarize,
} from '../src/runtime/latency-stats.js';
import type { BenchArgs } from './args.js';
import { sleep, type Worker, type WorkerSet, wallNowMs } from './children.js';
import { adminFor, leaderOf, viewCluster } from './cluster-health.js';
import type { ConnectCommand, PhaseResult, RateCommand, SaturateCommand } from './load-protocol.js';
import { CpuMeter, peakRssMiB } from './proc-cpu.js';
import { type Profiling, profilingEnv, profilingOf } from './profiling.js';

/**
 * The default bound of a saturating publisher, in messages per second of
 * its phase: far above what one reaches here (about 500,000 msgs/s), so
 * that time ends the phase, while the loop stays bounded in count. A fixed
 * 5,000,000 per phase cut the 12 s phases short above about 830,000
 * msgs/s, and 20,000,000 the 60 s stability phase at 666,000.
 */
const SATURATE_MAX_MESSAGES_PER_SECOND = 2_000_000;

/**
 * A saturating publisher's young generation at its full size from its first
 * collection. V8 grows it only when enough survives, and a publisher that
 * never grew it collected its window's objects in the old generation: in
 * side-by-side runs one publisher in two spent 37-46% of a core where the
 * other spent 26-29% for the same messages, and the run's throughput fell
 * by up to a third. With it every publisher ran at 28-29%.
 */
export const PUBLISHER_YOUNG_GENERATION_FROM_START = `--min-semi-space-size=${LIMITS.youngSemiSpaceMiB}`;

export interface RigOptions {
  readonly fsync: FsyncPolicy;
  readonly nodes: number;
  readonly publishers: number;
  readonly windowMessages: number;
  readonly payloadBytes: number;
  /** When set, every node and publisher process writes a V8 profile of this kind into this folder. */
  readonly profiling: Profiling | null;
  readonly configOverrides?: Record<string, unknown>;
  /** Publisher requestTimeoutMs; null keeps the Publisher's default. */
  readonly requestTimeoutMs?: number | null;
  /** Keys on every node and CurveZMQ on every socket, publishers included. */
  readonly secure?: boolean;
  /** Saturating publishers call `publishMany` with this many messages; 1: `publish` per message. */
  readonly publishManyMessages?: number;
}

/** The rig the command line asks for (cluster size, load, profiling, timing), with `overrides` on top. */
export function rigOptions(args: BenchArgs, overrides: Partial<RigOptions> = {}): RigOptions {
  return {
    fsync: args.fsync,
    nodes: args.nodes,
    publishers: args.publishers,
    windowMessages: args.windowMessages,
    payloadBytes: args.payloadBytes,
    profiling: args.profiling,
    configOverrides: args.clusterTiming,
    publishManyMessages: args.publishManyMessages,
    ...overrides,
  };
}

export interface PhaseSummary {
  /** Acks (quorum commits) per second that the publishers received inside the window. */
  readonly ackedPerSecond: number;
  /** The sequencer's commitSeq growth per second over the same window, as a cross-check. */
  readonly clusterCommitsPerSecond: number;
  readonly latency: LatencySummary;
  /** Longest time inside the window in which some publisher received no ack (a stall). */
  readonly maxAckGapMs: number;
  /** CPU each process used inside the window, in percent of one core (Linux only). */
  readonly cpuPercent: Record<string, number>;
  /** Peak resident set size of each node since it started (VmHWM, MiB), read at the window's end (Linux only). */
  readonly peakRssMiB: Record<string, number>;
  readonly published: number;
  readonly acked: number;
  readonly failed: number;
  readonly unfinished: number;
  readonly firstError: string | null;
}

interface WindowSample {
  readonly fromCommit: number;
  readonly toCommit: number;
  readonly cpuPercent: Record<string, number>;
  readonly peakRssMiB: Record<string, number>;
}

/** Beyond the time a phase is asked to run, how long the driver waits for its result. */
const phaseSlackMs = 60_000;
/** Delay before a phase starts, so that every worker receives the command first. */
const startDelayMs = 300;
const drainTimeoutMs = 15_000;

/**
 * Node logs are dropped, except that warnings and errors are counted and the
 * first few kept: a benchmark figure means little if the nodes were dropping
 * messages or failing while it was taken.
 */
export class NodeLogTally {
  /** The first few warnings and errors, other than the insecure start (below). */
  readonly firstLines: string[] = [];
  /** Warnings and errors, other than the insecure start. */
  count = 0;

  add(nodeId: string, line: string): void {
    if (!/\b(warn|error)\b/.test(line)) return;
    // Each node of a cluster without keys warns once at start that it runs
    // insecure: expected of the benches' clusters (all but `secure`), so it
    // is left out and does not hide the first warnings that say something.
    if (/runs INSECURE: no keys/.test(line)) return;
    this.count++;
    if (this.firstLines.length < 5) this.firstLines.push(`${nodeId}: ${line}`);
  }
}

/**
 * A local cluster plus the publisher processes that load it. Every process
 * is started by the rig and stopped by pid in `stop()`, also after a failure.
 */
export class LoadRig {
  private constructor(
    readonly cluster: LocalCluster,
    readonly nodeLog: NodeLogTally,
    readonly admin: AdminClient,
    readonly loaders: readonly Worker[],
    private readonly workers: WorkerSet,
    private readonly untrackNodes: () => void,
    private readonly options: RigOptions,
  ) {}

  static async start(workers: WorkerSet, options: RigOptions): Promise<LoadRig> {
    const nodeEnv: Record<string, string> = profilingEnv(options.profiling, 'nodes');
    const nodeLog = new NodeLogTally();
    const cluster = await LocalCluster.start({
      nodes: options.nodes,
      fsync: options.fsync,
      env: nodeEnv,
      ...(options.configOverrides === undefined
        ? {}
        : { configOverrides: options.configOverrides }),
      logs: (nodeId, line) => nodeLog.add(nodeId, line),
      ...(options.secure === true ? { secure: { clients: ['bench'] } } : {}),
    });
    const credentialsPath = cluster.credentialsPaths.get('bench');
    const untrack = workers.trackPids(() => cluster.nodes.map((n) => n.process?.pid));
    // Publisher processes get the young generation the nodes get (docs/operations.md),
    // at its full size from the start (PUBLISHER_YOUNG_GENERATION_FROM_START).
    const loaders = Array.from({ length: options.publishers }, (_, i) => {
      const name = `publisher-${i + 1}`;
      const profiling = profilingOf(options.profiling, 'publishers', name);
      return workers.fork(
        'load-worker',
        name,
        [YOUNG_GENERATION_FLAG, PUBLISHER_YOUNG_GENERATION_FROM_START, ...profiling.execArgv],
        profiling.env,
      );
    });
    const rig = new LoadRig(
      cluster,
      nodeLog,
      adminFor(cluster.clientEndpoints, credentialsPath),
      loaders,
      workers,
      untrack,
      options,
    );
    try {
      const connect: ConnectCommand = {
        type: 'connect',
        brokers: cluster.clientEndpoints,
        windowMessages: options.windowMessages,
        payloadBytes: options.payloadBytes,
        ...(options.requestTimeoutMs == null ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
        ...(credentialsPath === undefined ? {} : { credentialsPath }),
      };
      for (const loader of loaders) loader.send(connect);
      await Promise.all(loaders.map((l) => l.next('connected', 30_000)));
    } catch (error) {
      await rig.stop();
      throw error;
    }
    return rig;
  }

  /**
   * Whether the nodes really keep their log on disk: only a durable log store
   * reports a chain hash in its status, and only it writes segment files
   * (metadata files alone do not count, the in-memory log writes those too).
   */
  async durableLogInUse(): Promise<boolean> {
    const view = await viewCluster(this.admin);
    if (view.nodes.some((n) => n.logChainHash !== '')) return true;
    const entries = readdirSync(this.cluster.dataDir, { recursive: true, withFileTypes: true });
    return entries.some((e) => e.isFile() && /[\\/]log([\\/]|$)/.test(join(e.parentPath, e.name)));
  }

  /**
   * Every publisher publishes as fast as its window allows; the window opens
   * after `warmupMs`. Each publishes at most `maxMessagesPerPublisher`
   * (null: `SATURATE_MAX_MESSAGES_PER_SECOND` for every second of the phase).
   */
  async saturate(
    warmupMs: number,
    durationMs: number,
    maxMessagesPerPublisher: number | null,
  ): Promise<PhaseSummary> {
    const startAtMs = wallNowMs() + startDelayMs;
    const command: SaturateCommand = {
      type: 'saturate',
      startAtMs,
      warmupMs,
      durationMs,
      maxMessages:
        maxMessagesPerPublisher ??
        Math.ceil((SATURATE_MAX_MESSAGES_PER_SECOND * (warmupMs + durationMs)) / 1000),
      drainTimeoutMs,
      publishManyMessages: this.options.publishManyMessages ?? 1,
    };
    return this.runPhase(command, startAtMs + warmupMs, durationMs);
  }

  /** All publishers together publish `ratePerSecond`, evenly spread. */
  async rate(ratePerSecond: number, warmupMs: number, durationMs: number): Promise<PhaseSummary> {
    const startAtMs = wallNowMs() + startDelayMs;
    const perPublisher = ratePerSecond / this.loaders.length;
    const command: RateCommand = {
      type: 'rate',
      startAtMs,
      ratePerSecond: perPublisher,
      warmupMs,
      durationMs,
      maxMessages: Math.ceil((perPublisher * (warmupMs + durationMs)) / 1000) + 1,
      drainTimeoutMs,
    };
    return this.runPhase(command, startAtMs + warmupMs, durationMs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.loaders.map((l) => this.workers.stop(l)));
    this.admin.close();
    await this.cluster.stop();
    this.untrackNodes();
    // The cluster's data folder is a fresh temporary one; a disk run can leave gigabytes there.
    rmSync(this.cluster.dataDir, { recursive: true, force: true });
  }

  private async runPhase(
    command: SaturateCommand | RateCommand,
    measureFromMs: number,
    durationMs: number,
  ): Promise<PhaseSummary> {
    for (const loader of this.loaders) loader.send(command);
    const results = Promise.all(
      this.loaders.map((l) =>
        l.next(
          'phaseDone',
          startDelayMs + command.warmupMs + durationMs + drainTimeoutMs + phaseSlackMs,
        ),
      ),
    );
    const sample = this.sampleWindow(measureFromMs, measureFromMs + durationMs);
    const phases = (await results) as unknown as PhaseResult[];
    const { fromCommit, toCommit, cpuPercent, peakRssMiB } = await sample;
    const latency = new LatencyHistogram();
    let ackedPerSecond = 0;
    for (const phase of phases) {
      latency.merge(phase.latency);
      if (phase.windowMs > 0) ackedPerSecond += (phase.windowAcks * 1000) / phase.windowMs;
    }
    const sum = (pick: (p: PhaseResult) => number) =>
      phases.reduce((total, p) => total + pick(p), 0);
    return {
      ackedPerSecond: round(ackedPerSecond, 0),
      clusterCommitsPerSecond: round(((toCommit - fromCommit) * 1000) / durationMs, 0),
      latency: summarize(latency),
      maxAckGapMs: round(Math.max(...phases.map((p) => p.maxAckGapMs)), 1),
      cpuPercent,
      peakRssMiB,
      published: sum((p) => p.published),
      acked: sum((p) => p.acked),
      failed: sum((p) => p.failed),
      unfinished: sum((p) => p.unfinished),
      firstError: phases.find((p) => p.firstError !== null)?.firstError ?? null,
    };
  }

  /**
   * The sequencer's commitSeq at the start and the end of the window (NaN
   * when no sequencer answered), and the CPU each process used in between.
   */
  private async sampleWindow(fromMs: number, toMs: number): Promise<WindowSample> {
    const waitUntil = async (atMs: number) => {
      const waitMs = atMs - wallNowMs();
      if (waitMs > 0) await sleep(waitMs);
    };
    await waitUntil(fromMs);
    const first = await viewCluster(this.admin);
    const pids = new Map<string, number | undefined>();
    for (const node of this.cluster.nodes) {
      const role = first.nodes.find((n) => n.id === node.id)?.role ?? 'down';
      pids.set(`${node.id} (${role})`, node.process?.pid);
    }
    for (const loader of this.loaders) pids.set(loader.name, loader.pid);
    pids.set('driver', process.pid);
    const meter = new CpuMeter(pids);
    await waitUntil(toMs);
    const cpuPercent = meter.read();
    const peakRss: Record<string, number> = {};
    for (const node of this.cluster.nodes) {
      const mib = peakRssMiB(node.process?.pid);
      if (mib !== null) peakRss[node.id] = mib;
    }
    const last = await viewCluster(this.admin);
    return {
      fromCommit: leaderOf(first)?.commitSeq ?? Number.NaN,
      toCommit: leaderOf(last)?.commitSeq ?? Number.NaN,
      cpuPercent,
      peakRssMiB: peakRss,
    };
  }
}
