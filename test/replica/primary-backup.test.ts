import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import test from 'ava';
import { createStampService, type Stamp } from '../../clients/examples/stamp-service.js';
import {
  PrimaryBackupClient,
  RequestFailedError,
} from '../../clients/replica/primary-backup/pb-client.js';
import {
  type PrimaryBackupEvent,
  type PrimaryBackupReplica,
  startPrimaryBackupReplica,
} from '../../clients/replica/primary-backup/pb-replica.js';
import type { ReplicaEvent } from '../../clients/replica/replica-options.js';
import { startCluster } from '../helpers/cluster.js';
import {
  commonDigestSeqs,
  RecordingLogger,
  tempDir,
  testAdmin,
  waitForReportedSeq,
} from './replica-fixtures.js';
import {
  examplePluginPath,
  ordoBinPath,
  type ProcessEvent,
  ReplicaProcess,
} from './replica-process.js';

const run = promisify(execFile);
const app = 'stamps';
const leaseMs = 600;
const digestEvery = 20;
const processArgs = [
  '--lease-ms',
  String(leaseMs),
  '--digest-every',
  String(digestEvery),
  '--report-interval-ms',
  '200',
];
/** Concurrent callers of the load. */
const callers = 4;
/** Calls acknowledged in each phase before the next fault. */
const callsPerPhase = 20;
/** Most calls one caller makes (the load is bounded in count as well as stopped by the test). */
const maxCallsPerCaller = 2000;

interface Acked {
  readonly requestId: string;
  readonly reply: Stamp;
}

/** Waits, with a bound, until `check` holds; re-checked on every event the observer records. */
class Waiter {
  private readonly listeners = new Set<() => void>();
  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = () => {
        if (!check()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }
}

type AnyEvent = ReplicaEvent | PrimaryBackupEvent;

/** Applied request ids in log order, from a process's events (several lives: each restarts from its restored seq). */
function appliedIds(lives: readonly (readonly ProcessEvent[])[], throughSeq: number): string[] {
  let applied: { seq: number; id: string }[] = [];
  for (const events of lives) {
    const restored = events.find((e) => e.event === 'restored');
    const fromSeq = (restored?.['seq'] as number | undefined) ?? 0;
    applied = applied.filter((a) => a.seq <= fromSeq);
    for (const e of events)
      if (e.event === 'pb-applied')
        applied.push({ seq: e['seq'] as number, id: e['requestId'] as string });
  }
  return applied.filter((a) => a.seq <= throughSeq).map((a) => a.id);
}

function digestsOf(lives: readonly (readonly ProcessEvent[])[]): { seq: number; digest: string }[] {
  return lives
    .flat()
    .filter((e) => e.event === 'digest')
    .map((e) => ({ seq: e['seq'] as number, digest: e['digest'] as string }));
}

function duplicates(ids: readonly string[]): string[] {
  const seen = new Set<string>();
  const repeated: string[] = [];
  for (const id of ids) {
    if (seen.has(id)) repeated.push(id);
    seen.add(id);
  }
  return repeated;
}

test('primary-backup: kill -9 the primary under load, then SIGSTOP the next past its lease: every acknowledged call applied once everywhere, the paused primary fenced', async (t) => {
  t.timeout(120_000);
  const startedMs = Date.now();
  const at = () => `${((Date.now() - startedMs) / 1000).toFixed(1)} s`;
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const admin = testAdmin(t, brokers);

  // An in-process replica that never claims the lease: it only watches and answers queries.
  const waiter = new Waiter();
  const observed: AnyEvent[] = [];
  const observer: PrimaryBackupReplica = await startPrimaryBackupReplica({
    brokers,
    plugin: app,
    service: createStampService,
    dataDir: tempDir(t, 'pb-observer'),
    replicaId: 'pb-observer',
    claimLease: false,
    leaseMs,
    digestIntervalSeqs: digestEvery,
    logger: new RecordingLogger('pb-observer'),
    onEvent: (event) => {
      observed.push(event);
      waiter.notify();
    },
  });
  t.teardown(() => observer.close());

  const ids = ['pb-a', 'pb-b', 'pb-c'];
  const options = (id: string) => ({
    brokers,
    plugin: examplePluginPath('stamp-service'),
    dataDir: tempDir(t, id),
    id,
    args: processArgs,
  });
  const optionsById = new Map(ids.map((id) => [id, options(id)]));
  const processes = new Map<string, ReplicaProcess>();
  const lives = new Map<string, ProcessEvent[][]>();
  await Promise.all(
    ids.map(async (id) => {
      const p = await ReplicaProcess.start(t, optionsById.get(id)!);
      processes.set(id, p);
      lives.set(id, [p.events]);
    }),
  );

  const claims = () =>
    observed.filter((e): e is Extract<AnyEvent, { type: 'pb-lease' }> => e.type === 'pb-lease');
  const primaryAfter = async (epoch: number, what: string) => {
    await waiter.until(() => claims().some((c) => c.epoch > epoch), 15_000, what);
    return claims().at(-1)!;
  };
  const first = await primaryAfter(0, 'a first primary');
  t.log(`${at()}: primary ${first.primary} at lease epoch ${first.epoch}`);

  // The load: callers that each wait for one committed reply before the next call.
  const client = new PrimaryBackupClient({ brokers, callTimeoutMs: 30_000 });
  t.teardown(() => client.close());
  const acked: Acked[] = [];
  const failed: string[] = [];
  let loading = true;
  const load = Array.from({ length: callers }, async (_, caller) => {
    for (let i = 0; loading && i < maxCallsPerCaller; i++) {
      const requestId = `c${caller}-${i}-${randomUUID()}`;
      try {
        const reply = await client.call<Stamp>(
          app,
          { op: 'stamp', key: `k${caller}` },
          { requestId },
        );
        acked.push({ requestId, reply });
        waiter.notify();
      } catch (error) {
        failed.push(`${requestId}: ${(error as Error).message}`);
      }
    }
  });
  const ackedReach = (count: number, what: string) =>
    waiter.until(() => acked.length >= count, 30_000, what);

  // 1. kill -9 the primary under load; a backup takes over; the killed one comes back.
  await ackedReach(callsPerPhase, 'calls before the first fault');
  await processes.get(first.primary)!.kill('SIGKILL');
  const killedAtAcks = acked.length;
  const second = await primaryAfter(first.epoch, 'a primary after the kill');
  t.not(second.primary, first.primary);
  t.log(`${at()}: killed ${first.primary}; ${second.primary} took over at epoch ${second.epoch}`);
  await ackedReach(killedAtAcks + callsPerPhase, 'calls after the failover');
  const restarted = await ReplicaProcess.start(t, optionsById.get(first.primary)!);
  processes.set(first.primary, restarted);
  lives.get(first.primary)!.push(restarted.events);

  // 2. SIGSTOP the new primary past its lease; another takes over; resume it.
  const paused = processes.get(second.primary)!;
  process.kill(paused.pid, 'SIGSTOP');
  const pausedAtAcks = acked.length;
  const third = await primaryAfter(second.epoch, 'a primary after the pause');
  t.not(third.primary, second.primary);
  await ackedReach(pausedAtAcks + callsPerPhase, 'calls while the old primary is paused');
  process.kill(paused.pid, 'SIGCONT');
  t.log(
    `${at()}: paused ${second.primary}; ${third.primary} took over at epoch ${third.epoch}; resumed`,
  );
  // The resumed primary still believes in its lease until it reads the newer one: what it publishes is rejected.
  const staleUpdates = () =>
    observed.filter(
      (e) =>
        e.type === 'pb-rejected' &&
        e.what === 'update' &&
        e.primary === second.primary &&
        e.epoch === second.epoch &&
        e.reason === 'stale-epoch',
    ).length;
  await waiter.until(
    () => staleUpdates() > 0,
    15_000,
    `an update from the resumed primary ${second.primary} to be rejected`,
  );
  t.log(`${at()}: the resumed primary's update rejected`);
  const resumedAtAcks = acked.length;
  await ackedReach(resumedAtAcks + callsPerPhase, 'calls after the resume');
  loading = false;
  await Promise.all(load);

  // A failing execute is answered with its error, not a reply.
  await t.throwsAsync(client.call(app, { op: 'stamp' }, { timeoutMs: 20_000 }), {
    instanceOf: RequestFailedError,
  });

  // `ordo call` answers with the committed reply too.
  const viaCli = JSON.parse(
    (
      await run(process.execPath, [
        ordoBinPath,
        'call',
        '--brokers',
        brokers.join(','),
        app,
        JSON.stringify({ op: 'stamp', key: 'cli' }),
      ])
    ).stdout,
  ) as Stamp;
  t.is(viaCli.key, 'cli');
  t.is(viaCli.by, third.primary);

  // Every replica reaches the observer's position; then compare.
  const throughSeq = observer.replica.appliedSeq;
  await Promise.all(ids.map((id) => waitForReportedSeq(admin, id, throughSeq, 30_000)));
  const observerApplied = observed
    .filter((e): e is Extract<AnyEvent, { type: 'pb-applied' }> => e.type === 'pb-applied')
    .filter((e) => e.seq <= throughSeq)
    .map((e) => e.requestId);
  t.deepEqual(duplicates(observerApplied), [], 'no request applied twice');
  const appliedSet = new Set(observerApplied);
  t.deepEqual(
    acked.filter((a) => !appliedSet.has(a.requestId)).map((a) => a.requestId),
    [],
    'every acknowledged call applied',
  );
  // The reply each caller got is the update that committed (the wall clock and random id the primary drew).
  for (const a of acked) {
    const stamp = observer.query<unknown, Stamp | null>({ op: 'get', requestId: a.requestId });
    if (stamp?.nonce !== a.reply.nonce || stamp.atMs !== a.reply.atMs) {
      t.fail(
        `call ${a.requestId} was answered ${JSON.stringify(a.reply)}, applied ${JSON.stringify(stamp)}`,
      );
      break;
    }
  }
  for (const id of ids) {
    const theirs = appliedIds(lives.get(id)!, throughSeq);
    t.deepEqual(theirs, observerApplied, `${id} applied the same requests, once each, in order`);
    t.true(
      commonDigestSeqs(t, observer.replica.digests, digestsOf(lives.get(id)!)) > 0,
      `${id} shares digests with the observer`,
    );
  }
  // The last digest every replica took is the same state.
  const lastCommon = Math.floor(throughSeq / digestEvery) * digestEvery;
  const observerLast = observer.replica.digests.find((d) => d.seq === lastCommon);
  t.truthy(observerLast, `the observer digested seq ${lastCommon}`);
  for (const id of ids) {
    const theirs = digestsOf(lives.get(id)!).find((d) => d.seq === lastCommon);
    t.deepEqual(theirs, observerLast, `${id} has the observer's state at seq ${lastCommon}`);
  }
  const rejectedReasons = new Map<string, number>();
  for (const e of observed) {
    if (e.type !== 'pb-rejected' || e.what !== 'update') continue;
    const key = `${e.reason} (epoch ${e.epoch})`;
    rejectedReasons.set(key, (rejectedReasons.get(key) ?? 0) + 1);
  }
  const rejectedUpdates = [...rejectedReasons].map(([k, n]) => `${n} ${k}`).join(', ');
  t.log(
    `${at()}: ${acked.length} calls acknowledged, ${failed.length} failed (${failed.slice(0, 3).join('; ')}), ${observerApplied.length} applied through seq ${throughSeq}; updates rejected: ${rejectedUpdates || 'none'}; ${staleUpdates()} of them from the paused primary`,
  );
  t.true(staleUpdates() > 0);
  t.is(observer.replica.diverged, null);

  // `ordo replica --query` on a live replica's folder (under its id) answers and never acts as it.
  const queried = JSON.parse(
    (
      await run(process.execPath, [
        ordoBinPath,
        'replica',
        '--brokers',
        brokers.join(','),
        '--plugin',
        examplePluginPath('stamp-service'),
        '--data',
        optionsById.get(third.primary)!.dataDir,
        '--query',
        JSON.stringify({ op: 'count' }),
        '--linearizable',
      ])
    ).stdout,
  ) as number;
  t.is(queried, observer.query<unknown, number>({ op: 'count' }));
});

test('a primary-backup replica refuses a lease length out of bounds', async (t) => {
  await t.throwsAsync(
    startPrimaryBackupReplica({
      brokers: ['127.0.0.1:1'],
      plugin: app,
      service: createStampService,
      dataDir: tempDir(t, 'pb-bad'),
      leaseMs: 5,
    }),
    { message: /leaseMs must be an integer/ },
  );
});
