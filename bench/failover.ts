import { percentileOf, round } from '../src/runtime/latency-stats.js';
import { type BenchArgs, steadyRateOf } from './args.js';
import { sleep, type Worker, type WorkerSet, wallNowMs } from './children.js';
import {
  adminFor,
  electionsBetween,
  leaderOf,
  maxEpoch,
  viewCluster,
  waitHealthy,
} from './cluster-health.js';
import type { FirstAckAnswer, PhaseResult, SteadyCommand } from './load-protocol.js';
import { LoadRig, rigOptions } from './load-rig.js';
import { machine, revision } from './machine.js';
import { formatMs, formatTable, printJsonLine } from './report.js';
import { header, log } from './throughput.js';

interface Trial {
  readonly trial: number;
  readonly killed: string;
  readonly newLeader: string | null;
  /** From the kill until a surviving node reports itself sequencer of a newer epoch (the cluster's share of the failover). */
  readonly electedMs: number | null;
  /** From the kill to the ack of the first message published after it; null when none came in time. */
  readonly failoverMs: number | null;
  readonly elections: number;
  readonly epochsAdvanced: number;
  /** From the restart of the killed node until the cluster was healthy again. */
  readonly recoveryMs: number;
}

/** A trial without a commit within this long counts as failed. */
const commitTimeoutMs = 15_000;
const healthyTimeoutMs = 30_000;
/** Quiet time after the cluster is healthy again, so that every trial starts from a steady state. */
const settleMs = 1000;
/** Bound on one trial, used to bound the steady publisher as a whole. */
const trialBoundMs = commitTimeoutMs + healthyTimeoutMs + settleMs + 5000;

/** How often the surviving nodes are asked whether they elected a sequencer. */
const electionPollMs = 5;

const targets = { p50Ms: 400, p99Ms: 200 };

/**
 * `npm run bench -- failover [--trials 20]`: one publisher process publishes
 * at a steady moderate rate; each trial kills the sequencer with SIGKILL and
 * measures the time from the kill to the quorum ack of the first message
 * whose publish() was called after the kill. Such a message cannot have been
 * committed by the dead sequencer, so the time covers failure detection, the
 * election, the publisher finding the new sequencer and the commit. The
 * killed node is then restarted and the cluster must be healthy (everyone
 * agrees on the sequencer and has caught up) before the next trial.
 */
export async function failoverBench(workers: WorkerSet, args: BenchArgs): Promise<void> {
  log(`starting a ${args.nodes}-node cluster, fsync=${args.fsync}`);
  const rig = await LoadRig.start(
    workers,
    rigOptions(args, { publishers: 1, requestTimeoutMs: args.requestTimeoutMs }),
  );
  const trials: Trial[] = [];
  let steadyResult: PhaseResult | null = null;
  try {
    const publisher = rig.loaders[0]!;
    const steady: SteadyCommand = {
      type: 'steady',
      ratePerSecond: steadyRateOf(args),
      maxDurationMs: args.trials * trialBoundMs,
      maxMessages: Math.ceil((steadyRateOf(args) * args.trials * trialBoundMs) / 1000),
    };
    publisher.send(steady);
    await waitHealthy(rig.admin, args.nodes, healthyTimeoutMs);
    await sleep(settleMs);
    for (let trial = 1; trial <= args.trials; trial++) {
      const before = await viewCluster(rig.admin);
      const leader = leaderOf(before);
      if (leader === null) throw new Error(`trial ${trial}: no sequencer before the kill`);
      const killMs = wallNowMs();
      await rig.cluster.signalNode(leader.id, 'SIGKILL');
      publisher.send({ type: 'firstAckAfter', queryId: trial, afterMs: killMs });
      const survivors = rig.cluster.nodes
        .filter((n) => n.id !== leader.id)
        .map((n) => n.clientEndpoint);
      // Started now and awaited later: a failure of the watch only loses that figure.
      const elected = watchElection(survivors, leader.epoch, killMs, commitTimeoutMs).catch(
        () => null,
      );
      let failoverMs: number | null = null;
      try {
        const answer = await answerTo(publisher, trial, commitTimeoutMs);
        failoverMs = round(answer.ackMs - killMs, 1);
      } catch (error) {
        log(`trial ${trial}: ${(error as Error).message}`);
      }
      const election = await elected;
      const restartMs = Date.now();
      await rig.cluster.startNode(leader.id);
      const after = await waitHealthy(rig.admin, args.nodes, healthyTimeoutMs);
      const result: Trial = {
        trial,
        killed: leader.id,
        newLeader: election?.leaderId ?? null,
        electedMs: election?.electedMs ?? null,
        failoverMs,
        elections: electionsBetween(before, after, [leader.id]),
        epochsAdvanced: maxEpoch(after) - maxEpoch(before),
        recoveryMs: Date.now() - restartMs,
      };
      trials.push(result);
      log(
        `trial ${trial}/${args.trials}: killed ${result.killed}, new sequencer ${result.newLeader}, ` +
          `elected after ${result.electedMs === null ? 'none' : formatMs(result.electedMs)}, ` +
          `first commit after ${failoverMs === null ? 'none' : formatMs(failoverMs)}, elections ${result.elections}, epochs +${result.epochsAdvanced}`,
      );
      await sleep(settleMs);
    }
    publisher.send({ type: 'stop' });
    steadyResult = (await publisher.next('phaseDone', 30_000)) as unknown as PhaseResult;
  } finally {
    await rig.stop();
  }
  report(args, trials, steadyResult);
}

/**
 * Polls the surviving nodes (never the dead one, whose status requests would
 * only time out) until one reports itself sequencer of an epoch newer than
 * `oldEpoch`; resolves with who and when, or null after `timeoutMs`.
 */
async function watchElection(
  endpoints: readonly string[],
  oldEpoch: number,
  killMs: number,
  timeoutMs: number,
): Promise<{ leaderId: string; electedMs: number } | null> {
  const admin = adminFor(endpoints);
  try {
    while (wallNowMs() - killMs < timeoutMs) {
      const leader = leaderOf(await viewCluster(admin));
      if (leader !== null && leader.epoch > oldEpoch)
        return { leaderId: leader.id, electedMs: round(wallNowMs() - killMs, 1) };
      await sleep(electionPollMs);
    }
    return null;
  } finally {
    admin.close();
  }
}

/** The answer to query `queryId`; a late answer to an earlier trial's query is skipped. */
async function answerTo(
  publisher: Worker,
  queryId: number,
  timeoutMs: number,
): Promise<FirstAckAnswer> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const answer = (await publisher.next(
      'firstAck',
      Math.max(1, deadlineMs - Date.now()),
    )) as unknown as FirstAckAnswer;
    if (answer.queryId === queryId) return answer;
  }
}

function report(args: BenchArgs, trials: readonly Trial[], steady: PhaseResult | null): void {
  const times = trials.map((t) => t.failoverMs).filter((ms): ms is number => ms !== null);
  const elected = trials.map((t) => t.electedMs).filter((ms): ms is number => ms !== null);
  // Negative when the publisher committed before the status poll saw the election.
  const afterElection = trials
    .filter((t) => t.failoverMs !== null && t.electedMs !== null)
    .map((t) => t.failoverMs! - t.electedMs!);
  const p50Ms = percentileOf(times, 0.5);
  const p99Ms = percentileOf(times, 0.99);
  const elections = trials.reduce((total, t) => total + t.elections, 0);
  const epochs = trials.reduce((total, t) => total + t.epochsAdvanced, 0);
  const timedOut = trials.length - times.length;
  console.log(`\n${header({ ...args, publishers: 1 })}`);
  console.log(
    `failover: ${steadyRateOf(args)} msgs/s steady, publisher requestTimeoutMs ${args.requestTimeoutMs ?? 'default'}\n`,
  );
  console.log(
    formatTable(
      [
        'trial',
        'killed',
        'new sequencer',
        'kill -> elected',
        'kill -> next commit',
        'elected -> next commit',
        'elections',
        'epochs +',
        'recovery',
      ],
      trials.map((t) => [
        String(t.trial),
        t.killed,
        t.newLeader ?? 'none',
        t.electedMs === null ? 'none' : formatMs(t.electedMs),
        t.failoverMs === null ? 'timeout' : formatMs(t.failoverMs),
        t.failoverMs === null || t.electedMs === null
          ? 'n/a'
          : formatMs(t.failoverMs - t.electedMs),
        String(t.elections),
        String(t.epochsAdvanced),
        formatMs(t.recoveryMs),
      ]),
    ),
  );
  console.log('');
  console.log(
    formatTable(
      ['failover summary', 'value'],
      [
        ['trials (commits within 15 s)', `${trials.length} (${times.length})`],
        [
          'kill -> next commit p50',
          `${formatMs(p50Ms)} (target < ${targets.p50Ms} ms: ${p50Ms < targets.p50Ms ? 'met' : 'MISSED'})`,
        ],
        [
          'kill -> next commit p99',
          `${formatMs(p99Ms)} (target < ${targets.p99Ms} ms: ${p99Ms < targets.p99Ms ? 'met' : 'MISSED'})`,
        ],
        [
          'kill -> elected p50 / p99 (cluster side)',
          `${formatMs(percentileOf(elected, 0.5))} / ${formatMs(percentileOf(elected, 0.99))}`,
        ],
        [
          'elected -> next commit p50 / p99 (publisher side)',
          `${formatMs(percentileOf(afterElection, 0.5))} / ${formatMs(percentileOf(afterElection, 0.99))}`,
        ],
        [
          'kill -> next commit min / max',
          `${formatMs(Math.min(...times))} / ${formatMs(Math.max(...times))}`,
        ],
        [
          'elections started, total (per trial)',
          `${elections} (${round(elections / Math.max(1, trials.length), 2)})`,
        ],
        ['epochs advanced, total', String(epochs)],
        [
          'steady publisher: published / acked / failed',
          steady === null ? 'n/a' : `${steady.published} / ${steady.acked} / ${steady.failed}`,
        ],
      ],
    ),
  );
  if (args.json) {
    printJsonLine({
      bench: 'failover',
      date: new Date().toISOString(),
      machine: machine(),
      revision: revision(),
      clusterTiming: args.clusterTiming,
      fsync: args.fsync,
      rateMessagesPerSecond: steadyRateOf(args),
      requestTimeoutMs: args.requestTimeoutMs,
      trials,
      p50Ms,
      p99Ms,
      electedP50Ms: percentileOf(elected, 0.5),
      electedP99Ms: percentileOf(elected, 0.99),
      afterElectionP50Ms: percentileOf(afterElection, 0.5),
      afterElectionP99Ms: percentileOf(afterElection, 0.99),
      timedOut,
      elections,
      epochs,
      steady:
        steady === null
          ? null
          : {
              published: steady.published,
              acked: steady.acked,
              failed: steady.failed,
              firstError: steady.firstError,
            },
    });
  }
}
