/**
 * Demo: three primary-backup replicas of the stamp service, callers under
 * load, and the primary stopped half way (it stops renewing its lease, as a
 * crashed one would): a backup takes over once the lease has expired in log
 * time. Prints call latency, the longest wait a caller saw across the
 * failover, and each replica's digest.
 * Against `ordo dev --port 7001`: `node dist/clients/examples/stamp-demo.js
 * [--lease-ms 1000] [--count 400] [--callers 4] [--credentials FILE]` (or
 * ORDO_CREDENTIALS, which `ordo dev` prints).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCredentials } from '../../src/runtime/curve-keys.js';
import { PrimaryBackupClient } from '../replica/primary-backup/pb-client.js';
import {
  type PrimaryBackupReplica,
  startPrimaryBackupReplica,
} from '../replica/primary-backup/pb-replica.js';
import type { ReplicaLogger } from '../replica/replica-logger.js';
import { createStampService, type Stamp } from './stamp-service.js';

const { values } = parseArgs({
  options: {
    brokers: { type: 'string', default: '127.0.0.1:7001,127.0.0.1:7004,127.0.0.1:7007' },
    'lease-ms': { type: 'string', default: '1000' },
    count: { type: 'string', default: '400' },
    callers: { type: 'string', default: '4' },
    credentials: { type: 'string', default: process.env['ORDO_CREDENTIALS'] ?? '' },
  },
});
// `ordo dev` runs a secured cluster: its client credentials come from --credentials or ORDO_CREDENTIALS.
const credentials = values.credentials === '' ? undefined : loadCredentials(values.credentials);
const secured = credentials === undefined ? {} : { credentials };
const brokers = values.brokers.split(',').map((b) => (b.includes('://') ? b : `tcp://${b}`));
const leaseMs = Number(values['lease-ms']);
const count = Number(values.count);
const callers = Number(values.callers);
// A fresh app name per run: the replicas start empty and need not replay earlier runs.
const app = `stamps-demo-${Date.now()}`;
const quiet: ReplicaLogger = {
  debug() {},
  info() {},
  warn(message) {
    console.error(message);
  },
  error(message) {
    console.error(message);
  },
};

const folders: string[] = [];
const replicas: PrimaryBackupReplica[] = [];
for (let i = 1; i <= 3; i++) {
  const dataDir = mkdtempSync(join(tmpdir(), 'ordo-stamps-'));
  folders.push(dataDir);
  replicas.push(
    await startPrimaryBackupReplica({
      brokers,
      plugin: app,
      service: createStampService,
      dataDir,
      replicaId: `${app}-${i}`,
      leaseMs,
      ...secured,
      digestIntervalSeqs: 100,
      logger: quiet,
    }),
  );
}
const client = new PrimaryBackupClient({ brokers, ...secured });
try {
  const latenciesMs: number[] = [];
  let stoppedAtMs = 0;
  let longestAcrossFailoverMs = 0;
  let done = 0;
  let stopping: Promise<void> | null = null;
  let stopped: PrimaryBackupReplica | null = null;
  const startedMs = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      while (done < count) {
        done++;
        const callStartMs = performance.now();
        await client.call<Stamp>(app, { op: 'stamp', key: `k${caller}` });
        const endMs = performance.now();
        latenciesMs.push(endMs - callStartMs);
        if (stoppedAtMs > 0 && callStartMs <= stoppedAtMs + 1)
          longestAcrossFailoverMs = Math.max(longestAcrossFailoverMs, endMs - stoppedAtMs);
        if (stopping === null && latenciesMs.length >= count / 2) {
          const primary = replicas.find((r) => r.isPrimary);
          if (primary !== undefined) {
            console.log(`stopping the primary ${primary.replicaId} (lease ${leaseMs} ms)`);
            stoppedAtMs = performance.now();
            stopped = primary;
            stopping = primary.close();
          }
        }
      }
    }),
  );
  const elapsedMs = performance.now() - startedMs;
  await stopping;
  latenciesMs.sort((a, b) => a - b);
  const at = (q: number) =>
    latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(q * latenciesMs.length))]!;
  console.log(
    `${latenciesMs.length} calls by ${callers} callers in ${(elapsedMs / 1000).toFixed(1)} s: ${(latenciesMs.length / (elapsedMs / 1000)).toFixed(0)} calls/s, p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms`,
  );
  console.log(
    `failover: the last caller waiting when the primary stopped was answered ${longestAcrossFailoverMs.toFixed(0)} ms after the stop (${(longestAcrossFailoverMs / leaseMs).toFixed(2)} lease lengths)`,
  );
  const running = replicas.filter((r) => r !== stopped);
  const seq = Math.max(...running.map((r) => r.replica.appliedSeq));
  for (const r of running) {
    await r.replica.whenApplied(seq);
    console.log(
      `${r.replicaId}: seq ${r.replica.appliedSeq}  lease epoch ${r.lease.epoch} (${r.lease.primary})  stamps ${JSON.stringify(r.query({ op: 'count' }))}  digest ${r.replica.currentDigest().digest.slice(0, 16)}`,
    );
  }
  const digests = new Set(running.map((r) => r.replica.currentDigest().digest));
  console.log(digests.size === 1 ? 'the running replicas hold the same state' : 'REPLICAS DIFFER');
  if (digests.size !== 1) process.exitCode = 1;
} finally {
  await client.close();
  await Promise.all(replicas.map((r) => r.close()));
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
}
