/**
 * `npm run bench -- replicas [--replicas 3] [--seconds 10] [--rate N]`:
 * replicas following a live stream. Publisher processes saturate a local
 * cluster (or publish `--rate` msgs/s together)
 * while real `ordo replica` processes (with a plugin that counts and hashes
 * every payload) apply the committed stream. Over one window it reports the
 * cluster's commit rate and each replica's apply rate, how far each replica
 * trailed the commit point when the load stopped, and how long it took to
 * catch up after that. Every replica must end with the same digest.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Publisher } from '../clients/publisher.js';
import { agreedSeqAtOrBelow } from '../clients/replica/digest.js';
import { REPLICA_DEFAULTS } from '../clients/replica/replica-options.js';
import { YOUNG_GENERATION_FLAG } from '../src/cluster/local-cluster.js';
import type { BenchArgs } from './args.js';
import { benchDir, stopProcess, type WorkerSet } from './children.js';
import { LoadRig, rigOptions } from './load-rig.js';
import { type Profiling, profilingOf } from './profiling.js';
import { formatNumber, formatTable, printJsonLine } from './report.js';

const binPath = join(benchDir, '..', '..', 'bin', 'ordo.js');
/** How often the replicas report their applied seq to the brokers, and how often the driver samples it. */
const reportIntervalMs = 100;
const sampleIntervalMs = 100;
/** Longest wait for the replicas to report before the load, and to catch up after it. */
const startTimeoutMs = 30_000;
const catchUpTimeoutMs = 120_000;
/** Messages per call of the tail published after the load (publishPastNextDigestSeq). */
const tailBatchMessages = 1000;

interface Sample {
  readonly atMs: number;
  readonly commitSeq: number;
  /** Applied seq per replica id (absent until it reported). */
  readonly applied: ReadonlyMap<string, number>;
  readonly digests: ReadonlyMap<string, string>;
}

export async function replicasBench(workers: WorkerSet, args: BenchArgs): Promise<void> {
  const rig = await LoadRig.start(workers, rigOptions(args));
  const dataDir = mkdtempSync(join(tmpdir(), 'ordo-bench-replicas-'));
  const replicas: ChildProcess[] = [];
  const untrack = workers.trackPids(() => replicas.map((r) => r.pid));
  const ids = Array.from({ length: args.replicas }, (_, i) => `replica-${i + 1}`);
  try {
    for (const id of ids) replicas.push(startReplica(rig, id, dataDir, args.profiling));
    await waitFor(rig, startTimeoutMs, 'every replica to report', (s) =>
      ids.every((id) => s.applied.has(id)),
    );
    const samples: Sample[] = [];
    let loadRunning = true;
    const sampling = (async () => {
      while (loadRunning) {
        samples.push(await sample(rig));
        await new Promise((resolve) => setTimeout(resolve, sampleIntervalMs));
      }
    })();
    const durationSeconds = args.seconds ?? 10;
    const phase =
      args.rateMessagesPerSecond === null
        ? await rig.saturate(args.warmupSeconds * 1000, durationSeconds * 1000, args.maxMessages)
        : await rig.rate(
            args.rateMessagesPerSecond,
            args.warmupSeconds * 1000,
            durationSeconds * 1000,
          );
    loadRunning = false;
    await sampling;
    const endCommit = (await sample(rig)).commitSeq;
    const caughtUpStartMs = performance.now();
    const caughtUp = await waitFor(rig, catchUpTimeoutMs, 'the replicas to catch up', (s) =>
      ids.every((id) => (s.applied.get(id) ?? 0) >= endCommit),
    );
    const catchUpMs = performance.now() - caughtUpStartMs;
    // A replica that started from a snapshot at seq S takes no digest at the
    // agreed seqs up to S (it never held those states): when the load ended
    // just after such a restore, the replicas' latest digests are of
    // different seqs. A short tail carries the stream past the next agreed
    // seq, where every replica digests the same state.
    const tailSeq = await publishPastNextDigestSeq(rig, endCommit);
    const last = await waitFor(
      rig,
      catchUpTimeoutMs,
      `every replica to apply seq ${tailSeq} and report a digest of the same seq`,
      (s) =>
        ids.every((id) => (s.applied.get(id) ?? 0) >= tailSeq) &&
        new Set(ids.map((id) => s.digests.get(id)?.split(':')[0])).size === 1,
    );
    const window = measuredWindow(samples, args.warmupSeconds * 1000, durationSeconds * 1000);
    report(
      rig,
      args,
      ids,
      window,
      phase.clusterCommitsPerSecond,
      catchUpMs,
      endCommit,
      caughtUp,
      last,
    );
  } finally {
    await Promise.all(replicas.map((r) => stopProcess(r, () => r.kill('SIGTERM'), 5000)));
    untrack();
    await rig.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Publishes, after the load, until a message past the first agreed digest
 * seq above `fromSeq` has committed; returns that message's seq.
 */
async function publishPastNextDigestSeq(rig: LoadRig, fromSeq: number): Promise<number> {
  const interval = REPLICA_DEFAULTS.digestIntervalSeqs;
  const targetSeq = agreedSeqAtOrBelow(fromSeq, interval) + interval + 1;
  const publisher = new Publisher({ brokers: rig.cluster.clientEndpoints });
  const payload = new Uint8Array(100);
  try {
    // Bounded: each call takes at least tailBatchMessages seqs.
    for (let calls = 0; calls * tailBatchMessages <= interval + 1; calls++) {
      const acks = await publisher.publishMany(
        Array.from({ length: tailBatchMessages }, () => ({ topic: 'bench-tail', payload })),
      );
      const lastSeq = acks[acks.length - 1]!.seq;
      if (lastSeq >= targetSeq) return lastSeq;
    }
    throw new Error(`the tail after the load did not reach seq ${targetSeq}`);
  } finally {
    await publisher.close();
  }
}

function startReplica(
  rig: LoadRig,
  id: string,
  dataDir: string,
  profiling: Profiling | null,
): ChildProcess {
  const profile = profilingOf(profiling, 'replicas', id);
  const execArgv = [YOUNG_GENERATION_FLAG, ...profile.execArgv];
  const child = spawn(
    process.execPath,
    [
      ...execArgv,
      binPath,
      'replica',
      '--brokers',
      rig.cluster.clientEndpoints.join(','),
      '--plugin',
      join(benchDir, 'count-plugin.js'),
      '--data',
      join(dataDir, id),
      '--id',
      id,
      '--report-interval-ms',
      String(reportIntervalMs),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...profile.env } },
  );
  return child;
}

/** The sequencer's commit seq and the replicas' applied seqs, as one node reports them. */
async function sample(rig: LoadRig): Promise<Sample> {
  const atMs = performance.now();
  const all = await rig.admin.statusAll();
  let commitSeq = 0;
  const applied = new Map<string, number>();
  const digests = new Map<string, string>();
  for (const { status } of all) {
    if (status === null) continue;
    commitSeq = Math.max(commitSeq, status.commitSeq ?? 0);
    for (const replica of status.replicas ?? []) {
      const id = replica.replicaId ?? '';
      if ((replica.appliedSeq ?? 0) >= (applied.get(id) ?? 0)) {
        applied.set(id, replica.appliedSeq ?? 0);
        digests.set(id, `${replica.digestSeq ?? 0}:${replica.digest ?? ''}`);
      }
    }
  }
  return { atMs, commitSeq, applied, digests };
}

async function waitFor(
  rig: LoadRig,
  timeoutMs: number,
  what: string,
  done: (sample: Sample) => boolean,
): Promise<Sample> {
  const deadlineMs = performance.now() + timeoutMs;
  let last: Sample | null = null;
  while (performance.now() < deadlineMs) {
    last = await sample(rig);
    if (done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, sampleIntervalMs));
  }
  // What the nodes last said, so that a run that does not end can be told apart:
  // replicas that stopped applying, stopped reporting, or disagree on their digest seq.
  const state =
    last === null
      ? 'no sample'
      : `commit seq ${last.commitSeq}; ${[...last.applied]
          .map(
            ([id, applied]) =>
              `${id} applied ${applied}, digest ${last!.digests.get(id) ?? 'none'}`,
          )
          .join('; ')}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${state})`);
}

interface Window {
  readonly first: Sample;
  readonly last: Sample;
}

/**
 * The samples that bracket the phase's measured window: it opens a warm-up
 * after the commit point first moved (the load's start) and lasts the
 * phase's duration.
 */
function measuredWindow(samples: readonly Sample[], warmupMs: number, durationMs: number): Window {
  const start = samples.find((s) => s.commitSeq > (samples[0]?.commitSeq ?? 0));
  if (start === undefined) throw new Error('the commit point never moved under the load');
  const fromMs = start.atMs + warmupMs;
  const first = samples.find((s) => s.atMs >= fromMs);
  const last = [...samples].reverse().find((s) => s.atMs <= fromMs + durationMs);
  if (first === undefined || last === undefined || last.atMs <= first.atMs)
    throw new Error('too few samples in the measured window: raise --seconds');
  return { first, last };
}

function report(
  rig: LoadRig,
  args: BenchArgs,
  ids: readonly string[],
  window: Window,
  phaseCommitsPerSecond: number,
  catchUpMs: number,
  endCommit: number,
  caughtUp: Sample,
  end: Sample,
): void {
  const seconds = (window.last.atMs - window.first.atMs) / 1000;
  const commitRate = (window.last.commitSeq - window.first.commitSeq) / seconds;
  const rows = ids.map((id) => {
    const applied = (window.last.applied.get(id) ?? 0) - (window.first.applied.get(id) ?? 0);
    const rate = applied / seconds;
    return {
      id,
      rate,
      lag: window.last.commitSeq - (window.last.applied.get(id) ?? 0),
      digest: end.digests.get(id) ?? '',
    };
  });
  const digestsAgree = new Set(rows.map((r) => r.digest)).size === 1;
  // End to end: what was committed from the window's start to the load's
  // end, over the time until every replica had applied it. Unlike the
  // replicas' rates inside the window, it counts the catch-up, so a cluster
  // that commits faster than its replicas apply does not flatter it.
  const endToEndPerSecond =
    (endCommit - window.first.commitSeq) / ((caughtUp.atMs - window.first.atMs) / 1000);
  console.log(
    `\nreplicas: ${ids.length} replicas following a live stream, ${args.nodes} nodes, fsync=${args.fsync}, ${args.payloadBytes}-byte messages, ${args.rateMessagesPerSecond === null ? 'saturated' : `published at ${formatNumber(args.rateMessagesPerSecond)} msgs/s`}, ${seconds.toFixed(1)} s window\n`,
  );
  console.log(
    formatTable(
      ['', 'msgs/s', 'of commit rate', 'behind at the end (msgs)'],
      [
        ['cluster commits', formatNumber(commitRate), '100%', ''],
        ...rows.map((r) => [
          r.id,
          formatNumber(r.rate),
          `${((100 * r.rate) / commitRate).toFixed(0)}%`,
          formatNumber(r.lag),
        ]),
      ],
    ),
  );
  console.log(
    `\ncatch-up after the load stopped: ${formatNumber(catchUpMs)} ms; digests ${digestsAgree ? 'agree' : 'DIFFER'} (${rows[0]?.digest ?? ''})`,
  );
  console.log(
    `end to end: ${formatNumber(endToEndPerSecond)} msgs/s (committed from the window's start to the load's end, applied by every replica, over the time until the last one had)`,
  );
  if (args.json) {
    printJsonLine({
      bench: 'replicas',
      replicas: ids.length,
      fsync: args.fsync,
      windowSeconds: seconds,
      commitsPerSecond: commitRate,
      phaseCommitsPerSecond,
      replicaMessagesPerSecond: Object.fromEntries(rows.map((r) => [r.id, r.rate])),
      minReplicaMessagesPerSecond: Math.min(...rows.map((r) => r.rate)),
      catchUpMs,
      endToEndPerSecond,
      nodeWarnings: rig.nodeLog.count,
      ratePerSecond: args.rateMessagesPerSecond,
      digestsAgree,
    });
  }
  console.log(
    `node warnings/errors logged: ${rig.nodeLog.count}${rig.nodeLog.count > 0 ? `, first: ${rig.nodeLog.firstLines.join(' | ')}` : ''}`,
  );
  if (!digestsAgree) throw new Error('the replicas ended with different digests');
}
