import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { AdminClient } from '../../clients/admin.js';
import { Publisher } from '../../clients/publisher.js';
import { type Replica, startReplica } from '../../clients/replica/replica-host.js';
import type { ReplicaLogger } from '../../clients/replica/replica-logger.js';
import type { ReplicaEvent, ReplicaOptions } from '../../clients/replica/replica-options.js';
import type { ordo } from '../../src/wire/schema.js';
import { eventually } from '../helpers/cluster.js';

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ordo-${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Keeps what a replica logs, for assertions; prints it too when ORDO_TEST_LOGS is set. */
export class RecordingLogger implements ReplicaLogger {
  readonly lines: string[] = [];
  constructor(private readonly name: string) {}
  debug(message: string): void {
    this.record('debug', message);
  }
  info(message: string): void {
    this.record('info', message);
  }
  warn(message: string): void {
    this.record('warn', message);
  }
  error(message: string): void {
    this.record('error', message);
  }
  private record(level: string, message: string): void {
    if (level === 'debug') return;
    this.lines.push(`${level} ${message}`);
    if (this.lines.length > 10_000) this.lines.shift();
    if (process.env['ORDO_TEST_LOGS']) console.error(`[${this.name}] ${level} ${message}`);
  }
}

export interface TestReplica {
  readonly replica: Replica;
  readonly events: ReplicaEvent[];
  readonly logger: RecordingLogger;
  readonly dataDir: string;
}

/** Starts an in-process replica in a fresh folder (or `dataDir`), closed when the test ends. */
export async function startTestReplica(
  t: ExecutionContext,
  options: Omit<ReplicaOptions, 'dataDir' | 'logger' | 'onEvent'> & { dataDir?: string },
): Promise<TestReplica> {
  const dataDir = options.dataDir ?? tempDir(t, options.plugin);
  const events: ReplicaEvent[] = [];
  const logger = new RecordingLogger(options.replicaId ?? options.plugin);
  const replica = await startReplica({
    ...options,
    dataDir,
    logger,
    onEvent: (e) => events.push(e),
  });
  t.teardown(() => replica.close());
  return { replica, events, logger, dataDir };
}

/** A publisher closed when the test ends. */
export function testPublisher(t: ExecutionContext, brokers: readonly string[]): Publisher {
  const publisher = new Publisher({ brokers });
  t.teardown(() => publisher.close());
  return publisher;
}

/** An admin client closed when the test ends. */
export function testAdmin(t: ExecutionContext, brokers: readonly string[]): AdminClient {
  const admin = new AdminClient(brokers, 1000);
  t.teardown(() => admin.close());
  return admin;
}

/** Every broker's view of the replicas that reported to it (unreachable brokers left out). */
export async function replicaStatuses(
  admin: AdminClient,
): Promise<ordo.ReplicaStatus.$Properties[]> {
  const all = await admin.statusAll();
  return all.flatMap((b) => b.status?.replicas ?? []);
}

/** Waits until some broker reports `replicaId` at or beyond `seq`. */
export async function waitForReportedSeq(
  admin: AdminClient,
  replicaId: string,
  seq: number,
  timeoutMs: number,
): Promise<void> {
  await eventually(
    async () =>
      (await replicaStatuses(admin)).some(
        (r) => r.replicaId === replicaId && (r.appliedSeq ?? 0) >= seq,
      ),
    timeoutMs,
    `replica ${replicaId} to report seq ${seq}`,
    50,
  );
}

/** Every seq at which two replicas both took a digest must carry the same digest there. */
export function commonDigestSeqs(
  t: ExecutionContext,
  a: readonly { seq: number; digest: string }[],
  b: readonly { seq: number; digest: string }[],
): number {
  const theirs = new Map(b.map((d) => [d.seq, d.digest]));
  let common = 0;
  for (const d of a) {
    const other = theirs.get(d.seq);
    if (other === undefined) continue;
    common++;
    t.is(d.digest, other, `digests differ at seq ${d.seq}`);
  }
  return common;
}
