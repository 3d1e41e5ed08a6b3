import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '../clients/index.js';
import { LocalCluster } from '../src/cluster/local-cluster.js';
import { Prng } from '../test/sim/prng.js';
import { type Availability, availabilityOf } from './availability.js';
import { type CheckResult, checkHistory } from './checker.js';
import type { FaultRecord, History, NodeRecord } from './history.js';
import { ChaosNetwork, ensureNetworkTools, removeStaleNetworks } from './network.js';
import { processMemory } from './process-memory.js';
import type { FaultTarget, Schedule } from './schedules.js';
import { Workload } from './workload.js';

export interface ChaosOptions {
  readonly nodes: number;
  readonly durationMs: number;
  readonly schedule: Schedule;
  readonly seed: number;
  /** Where history.json, report.json and the node logs go. */
  readonly outDir: string;
  readonly publishers?: number;
  readonly concurrency?: number;
  readonly ratePerSecond?: number;
  readonly replicas?: number;
  /** Longest wait for every node and deliverer to reach the same end after healing. */
  readonly drainTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface ChaosResult {
  readonly schedule: string;
  readonly nodes: number;
  readonly seed: number;
  readonly durationMs: number;
  readonly check: CheckResult;
  readonly availability: Availability;
  readonly delivered: number;
  readonly drained: boolean;
  readonly peakRssBytes: Readonly<Record<string, number>>;
  readonly faults: readonly FaultRecord[];
  readonly reportPath: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const preloadUrl = new URL('./clock-offset-preload.js', import.meta.url).href;

/** Every run still holding processes or namespaces, for the Ctrl-C handler. */
const liveRuns = new Set<{ killNow(): void }>();

/** Kills every node by pid and removes every namespace of the runs still going (synchronous: for signal handlers). */
export function killAllRunsNow(): void {
  for (const run of liveRuns) run.killNow();
}

/**
 * One chaos run: a real cluster of `ordo node` processes with fsync=always,
 * each in its own network namespace; the workload; the schedule's faults
 * until the duration is up; then heal, drain, check and report.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  ensureNetworkTools(log);
  removeStaleNetworks(log);
  mkdirSync(options.outDir, { recursive: true });
  const workDir = mkdtempSync(join(tmpdir(), 'ordo-chaos-'));
  const clockDir = join(workDir, 'clock');
  mkdirSync(clockDir);
  const nodeIds = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const network = ChaosNetwork.create(nodeIds);
  let cluster: LocalCluster | null = null;
  const peakRss: Record<string, number> = Object.fromEntries(nodeIds.map((id) => [id, 0]));
  const paused = new Set<string>();
  const live = {
    killNow: () => {
      for (const node of cluster?.nodes ?? []) {
        const pid = node.process?.pid;
        if (pid === undefined) continue;
        for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
          try {
            process.kill(pid, signal);
          } catch {
            // Already gone.
          }
        }
      }
      network.remove();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
  liveRuns.add(live);
  const logLines: string[] = [];
  let workload: Workload | null = null;
  let admin: AdminClient | null = null;
  let memoryTimer: NodeJS.Timeout | null = null;
  try {
    cluster = await LocalCluster.start({
      nodes: options.nodes,
      basePort: 7001,
      fsync: 'always',
      dataDir: join(workDir, 'data'),
      clusterId: `chaos-${options.schedule.name}-${options.seed}`,
      hostOf: (i) => network.nodes[i]!.address,
      commandPrefix: (id) => network.commandPrefix(id),
      env: { NODE_OPTIONS: `--import ${preloadUrl}`, ORDO_CHAOS_CLOCK_DIR: clockDir },
      logs: (id, line) => {
        if (logLines.length < 200_000) logLines.push(`${id} ${line}`);
      },
      startTimeoutMs: 30_000,
    });
    const theCluster = cluster;
    const endpoints = cluster.clientEndpoints;
    admin = new AdminClient(endpoints, 1000);
    const theAdmin = admin;
    memoryTimer = setInterval(() => {
      for (const node of theCluster.nodes) {
        const pid = node.process?.pid;
        const memory = pid === undefined ? null : processMemory(pid);
        if (memory !== null) peakRss[node.id] = Math.max(peakRss[node.id]!, memory.peakRssBytes);
      }
    }, 500);
    workload = new Workload({
      endpoints,
      publishers: options.publishers ?? 3,
      concurrency: options.concurrency ?? 4,
      ratePerSecond: options.ratePerSecond ?? 150,
      replicas: options.replicas ?? 2,
      dataDir: join(workDir, 'replicas'),
      log,
    });
    const theWorkload = workload;
    await workload.start();
    const startMs = Date.now();
    const target = faultTarget(theCluster, network, theAdmin, theWorkload, clockDir, paused, log);
    const faults = await runSchedule(options, target, log);
    // Everything healed: every node up and running, the network whole.
    await healEverything(target, theCluster, nodeIds, paused);
    const healedMs = Date.now();
    log('schedule over, every fault healed; publishing a few seconds more');
    await sleep(3000);
    await workload.stopPublishing();
    log('publishers stopped; draining');
    const drained = await drain(theAdmin, theWorkload, options.drainTimeoutMs ?? 60_000);
    if (!drained) log('drain timed out: the checker will see what each deliverer reached');
    const nodes = await nodeRecords(theAdmin);
    const history: History = {
      version: 1,
      startMs,
      healedMs,
      endMs: Date.now(),
      publishes: workload.publishes,
      deliverers: workload.deliverers(),
      nodes,
      replicas: workload.replicaRecords(),
      faults,
    };
    const check = checkHistory(history);
    const availability = availabilityOf(history);
    const reportPath = join(options.outDir, 'report.json');
    const result: ChaosResult = {
      schedule: options.schedule.name,
      nodes: options.nodes,
      seed: options.seed,
      durationMs: options.durationMs,
      check,
      availability,
      delivered: Math.max(0, ...check.deliverers.map((d) => d.delivered)),
      drained,
      peakRssBytes: peakRss,
      faults,
      reportPath,
    };
    writeFileSync(join(options.outDir, 'history.json'), JSON.stringify(history));
    writeFileSync(reportPath, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    if (memoryTimer !== null) clearInterval(memoryTimer);
    writeFileSync(join(options.outDir, 'nodes.log'), `${logLines.join('\n')}\n`);
    for (const id of paused) {
      const pid = cluster?.node(id).process?.pid;
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
    }
    await workload?.close().catch(() => undefined);
    admin?.close();
    await cluster?.stop();
    network.remove();
    rmSync(workDir, { recursive: true, force: true });
    liveRuns.delete(live);
  }
}

async function runSchedule(
  options: ChaosOptions,
  target: FaultTarget,
  log: (line: string) => void,
): Promise<FaultRecord[]> {
  const rng = new Prng(options.seed);
  const schedule = options.schedule;
  const endMs = Date.now() + options.durationMs;
  const faults: FaultRecord[] = [];
  const minimumHoldMs = 500;
  while (true) {
    await sleep(
      Math.min(rng.int(schedule.quietMs[0], schedule.quietMs[1]), Math.max(0, endMs - Date.now())),
    );
    // A fault is healed a second before the end at the latest, whatever its hold.
    const [shortestMs, longestMs] = schedule.holdMs.map((ms) => Math.min(ms, 2 ** 31)) as [
      number,
      number,
    ];
    const holdMs = Math.min(rng.int(shortestMs, longestMs), endMs - Date.now() - 1000);
    if (holdMs < minimumHoldMs) break;
    const fault = await schedule.next(target, rng);
    const startMs = Date.now();
    log(
      `+${((startMs - endMs + options.durationMs) / 1000).toFixed(1)}s ${fault.kind} ${fault.detail} for ${holdMs} ms`,
    );
    try {
      await fault.apply();
      await sleep(holdMs);
    } finally {
      await fault.heal();
    }
    faults.push({ kind: fault.kind, detail: fault.detail, startMs, endMs: Date.now() });
  }
  return faults;
}

function faultTarget(
  cluster: LocalCluster,
  network: ChaosNetwork,
  admin: AdminClient,
  workload: Workload,
  clockDir: string,
  paused: Set<string>,
  log: (line: string) => void,
): FaultTarget {
  const pidOf = (id: string) => cluster.node(id).process?.pid;
  return {
    nodeIds: cluster.nodes.map((n) => n.id),
    async sequencer() {
      try {
        return (await admin.findLeader())?.id ?? null;
      } catch {
        return null;
      }
    },
    kill: (id) => cluster.signalNode(id, 'SIGKILL'),
    async restart(id) {
      if (cluster.node(id).process !== null) return;
      // A restart can fail while the old sockets are still closing: try again a few times.
      for (let attempt = 1; ; attempt++) {
        try {
          await cluster.startNode(id);
          return;
        } catch (error) {
          if (attempt >= 5) throw error;
          log(`restart of ${id} failed (${(error as Error).message.split('\n')[0]}); retrying`);
          await sleep(1000);
        }
      }
    },
    pause(id) {
      const pid = pidOf(id);
      if (pid === undefined) return;
      process.kill(pid, 'SIGSTOP');
      paused.add(id);
    },
    resume(id) {
      const pid = pidOf(id);
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
      paused.delete(id);
    },
    cut: (from, to) => network.cut(from, to),
    isolate: (id) => network.isolate(id),
    lose: (fraction) => network.lose(fraction),
    duplicate: (fraction) => network.duplicate(fraction),
    slow: (rateKbit, queueMs) => network.slow(rateKbit, queueMs),
    healNetwork: () => network.heal(),
    jumpClock(id, offsetMs) {
      writeFileSync(join(clockDir, `${id}.offset`), String(offsetMs));
      const pid = pidOf(id);
      if (pid !== undefined) process.kill(pid, 'SIGUSR2');
    },
    stallSubscriber: () => workload.stall(),
    resumeSubscriber: () => workload.resumeStalled(),
  };
}

async function healEverything(
  target: FaultTarget,
  cluster: LocalCluster,
  nodeIds: readonly string[],
  paused: Set<string>,
): Promise<void> {
  target.healNetwork();
  for (const id of [...paused]) target.resume(id);
  for (const id of nodeIds) target.jumpClock(id, 0);
  target.resumeSubscriber();
  await Promise.all(
    nodeIds.filter((id) => cluster.node(id).process === null).map((id) => target.restart(id)),
  );
}

/** Waits until every node has committed the same last seq and every deliverer and replica reached it. */
async function drain(admin: AdminClient, workload: Workload, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const nodes = await nodeRecords(admin);
    const last = nodes[0]?.lastSeq ?? -1;
    const converged =
      nodes.length > 0 &&
      nodes.every((n) => n.lastSeq === last && n.commitSeq === last && n.logChainHash !== '');
    if (converged && new Set(nodes.map((n) => n.logChainHash)).size === 1) {
      if (workload.reached(last)) return true;
    }
    await sleep(250);
  }
  return false;
}

async function nodeRecords(admin: AdminClient): Promise<NodeRecord[]> {
  const statuses = await admin.statusAll();
  return statuses.map((s, i) => ({
    id: s.status?.id ?? `unreachable-${i + 1}`,
    lastSeq: Number(s.status?.lastSeq ?? -1),
    commitSeq: Number(s.status?.commitSeq ?? -1),
    logChainHash: s.status?.logChainHash ?? '',
  }));
}

export const chaosPreloadPath = fileURLToPath(preloadUrl);
