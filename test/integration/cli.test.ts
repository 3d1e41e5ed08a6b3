import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ordo.js');
const ordo = (...args: string[]) => run(process.execPath, [bin, ...args], { timeout: 30_000 });

test('ordo publish --json prints one line per acknowledged message, and ordo tail --json reads them back in order', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints.join(',');
  const published = await ordo(
    'publish',
    '--brokers',
    brokers,
    '--topic',
    'cli',
    '--count',
    '5',
    '--json',
    'hello',
  );
  const acks = published.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; payload: string });
  t.deepEqual(acks.map((a) => a.payload).sort(), [
    'hello-1',
    'hello-2',
    'hello-3',
    'hello-4',
    'hello-5',
  ]);
  const tailed = await ordo(
    'tail',
    '--brokers',
    brokers,
    '--from',
    '1',
    '--topic',
    'cli',
    '--count',
    '5',
    '--json',
  );
  const lines = tailed.stdout
    .trim()
    .split('\n')
    .map(
      (l) => JSON.parse(l) as { seq: number; topic: string; payload: string; producerSeq: number },
    );
  t.deepEqual(
    lines.map((l) => l.payload),
    ['hello-1', 'hello-2', 'hello-3', 'hello-4', 'hello-5'],
  );
  t.deepEqual(
    lines.map((l) => l.seq),
    [...acks.map((a) => a.seq)].sort((a, b) => a - b),
  );
  t.true(lines.every((l) => l.topic === 'cli'));

  const status = await ordo('status', '--brokers', brokers, '--json');
  const report = JSON.parse(status.stdout) as { nodes: { status: { role: string } }[] };
  t.is(report.nodes.filter((n) => n.status.role === 'leader').length, 1);
});

test('ordo explains a bad config instead of crashing', async (t) => {
  const error = await t.throwsAsync(
    ordo('node', '--config', '/nonexistent/cluster.json', '--id', 'n1'),
  );
  t.regex(
    String((error as { stderr?: string }).stderr),
    /cannot read cluster config \/nonexistent\/cluster.json/,
  );
});

test('ordo publish to an unreachable cluster fails with a clear timeout, not a hang', async (t) => {
  const error = await t.throwsAsync(
    ordo('publish', '--brokers', '127.0.0.1:1', '--topic', 't', '--timeout-ms', '1500', 'x'),
    undefined,
    'publish to a dead endpoint must fail',
  );
  t.regex(String((error as { stderr?: string }).stderr), /not acknowledged within/);
});
