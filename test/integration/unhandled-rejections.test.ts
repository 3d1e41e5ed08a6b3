import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { freePorts } from '../../src/cluster/free-ports.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const script = join(dirname(fileURLToPath(import.meta.url)), 'strict-clients-script.js');

test('under --unhandled-rejections=strict, clients survive bad endpoints, early closes, a dead broker, a refused subscription and the kill of the sequencer, and report each failure to the caller', async (t) => {
  const cluster = await startCluster(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'ordo-strict-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const [deadPort] = await freePorts(1);
  const nodes = cluster.nodes.map((n) => ({
    id: n.id,
    endpoint: n.clientEndpoint,
    pid: n.process!.pid!,
  }));
  // A crash from an unhandled rejection or an uncaught exception makes this reject.
  const { stdout } = await run(
    process.execPath,
    [
      '--unhandled-rejections=strict',
      script,
      JSON.stringify(nodes),
      dataDir,
      `127.0.0.1:${deadPort}`,
    ],
    { timeout: 100_000 },
  );
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  t.log(report);
  t.regex(String(report['badPublisher']), /^InvalidRequestError: .*"localhost": it has no port/);
  t.regex(String(report['badSubscriber']), /^InvalidRequestError: .*"10.0.0.1:99999"/);
  t.regex(String(report['badAdmin']), /^InvalidRequestError: .*ipc:\/\/ is not supported/);
  t.regex(String(report['badReplica']), /^InvalidRequestError: .*"tcp:\/\/"/);
  t.regex(String(report['publishAfterEarlyClose']), /^ClosedError/);
  t.regex(String(report['publishOnClosed']), /^ClosedError/);
  t.is(report['subscriberClosedAtOnce'], 'closed');
  t.regex(String(report['replicaWaitAfterEarlyClose']), /^ClosedError: replica is closed/);
  t.is(report['replicaDoneAfterEarlyClose'], 'none');
  t.regex(
    String(report['publishToDeadBroker']),
    /^TimeoutError: .*not acknowledged within 1000 ms/,
  );
  const dead = report['subscriberOnDeadBroker'] as { ended: string; failovers: number };
  t.is(dead.ended, 'closed');
  t.true(dead.failovers >= 1, 'the subscriber kept trying the dead broker');
  t.truthy(report['statusOfDeadBroker']);
  t.regex(
    String(report['refusedSubscription']),
    /^InvalidRequestError: subscription refused: .*300 topics, the limit is 256/,
  );
  t.truthy(report['killed']);
  const published = report['published'] as { acked: number; failures: string[] };
  t.is(published.acked, 200);
  t.deepEqual(published.failures, []);
  t.is(report['settledAfterDrain'], 200, 'drain() waited for every publish');
  const read = report['subscriberRead'] as {
    ended: string[];
    sameAsAcked: boolean;
    resumeSeq: number;
    lastSeq: number;
  };
  t.deepEqual(read.ended, ['done', 'done']);
  t.true(
    read.sameAsAcked,
    'read in two parts, resumed at resumeSeq: every acked seq once, in order',
  );
  t.true(read.resumeSeq > read.lastSeq, 'resuming starts after the last message read');
  t.is(report['replicaCount'], 200);
});
