import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { AdminClient } from '../../clients/index.js';
import { freePorts } from '../../src/cluster/free-ports.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { ordoBin, runOrdo } from '../helpers/ordo-cli.js';

const NODE_FIELDS = [
  'id',
  'version',
  'uptimeMs',
  'role',
  'epoch',
  'leaderId',
  'firstSeq',
  'lastSeq',
  'commitSeq',
  'knownLeaderLastSeq',
  'catchUpRemaining',
  'clientEndpoint',
  'fsync',
  'transferTarget',
  'pendingPublishes',
  'electionsStarted',
  'badFrames',
  'staleMessagesRejected',
  'peerMessagesRefused',
  'handshakesRefused',
  'requestsForbidden',
  'secured',
  'faultsInjected',
  'dedupCheckpointSeq',
  'logChainHash',
  'peers',
  'subscribers',
  'replicas',
  'members',
  'configPending',
  'clientConnections',
  'connectionsRefused',
  'logWriteFailures',
  'degraded',
  'allocationFailures',
  'commitNoticesLeftOut',
  'witness',
  'witnessFloorSeq',
];
const NUMBER_FIELDS = [
  'uptimeMs',
  'epoch',
  'firstSeq',
  'lastSeq',
  'commitSeq',
  'knownLeaderLastSeq',
  'catchUpRemaining',
  'pendingPublishes',
  'electionsStarted',
  'badFrames',
  'staleMessagesRejected',
  'peerMessagesRefused',
  'handshakesRefused',
  'requestsForbidden',
  'faultsInjected',
  'dedupCheckpointSeq',
  'clientConnections',
  'connectionsRefused',
  'logWriteFailures',
  'allocationFailures',
  'commitNoticesLeftOut',
  'witnessFloorSeq',
];

interface Report {
  health: string;
  problems: string[];
  sequencer: { id: string; epoch: number } | null;
  nodes: {
    endpoint: string;
    reachable: boolean;
    error: string;
    status: Record<string, unknown> | null;
  }[];
}

test.serial(
  'ordo status --json: every field present with numbers as numbers; exit 0 healthy, 2 with a node down, 1 with none reachable',
  async (t) => {
    const cluster = await startCluster(t);
    const admin = new AdminClient(cluster.clientEndpoints);
    t.teardown(() => admin.close());
    await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
    const brokers = cluster.clientEndpoints.join(',');

    const healthy = await eventually(
      async () => {
        const run = await runOrdo(['status', '--brokers', brokers, '--json']);
        return run.code === 0 ? run : null;
      },
      10_000,
      'ordo status to report a healthy cluster',
    );
    const report = JSON.parse(healthy.stdout) as Report;
    t.is(report.health, 'healthy');
    t.deepEqual(report.problems, []);
    t.is(report.nodes.length, 3);
    for (const node of report.nodes) {
      t.true(node.reachable);
      t.is(node.error, '');
      const s = node.status!;
      t.deepEqual(
        Object.keys(s).sort(),
        [...NODE_FIELDS].sort(),
        'every field, zero values included',
      );
      for (const field of NUMBER_FIELDS) t.is(typeof s[field], 'number', `${field} is a number`);
      t.is(s['badFrames'], 0);
      t.is(s['version'], '0.1.0');
    }
    const leader = report.nodes.find((n) => n.status!['role'] === 'leader')!.status!;
    t.is(report.sequencer?.id, String(leader['id']));
    const peers = leader['peers'] as {
      id: string;
      matchSeq: number;
      lagEntries: number;
      active: boolean;
    }[];
    t.is(peers.length, 2);
    for (const p of peers) {
      t.is(typeof p.matchSeq, 'number');
      t.is(typeof p.lagEntries, 'number');
      t.is(typeof p.active, 'boolean');
    }

    // The table lines up: each row's columns start where the header's do.
    const table = await runOrdo(['status', '--brokers', brokers]);
    t.is(table.code, 0);
    const lines = table.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('node '))!;
    const rows = lines.filter((l) => /^n\d /.test(l));
    t.is(rows.length, 3);
    const endpointColumn = header.indexOf('endpoint');
    for (const row of rows) t.is(row.indexOf('tcp://'), endpointColumn, `aligned: ${row}`);

    // --watch --json: one report per interval, until stopped.
    const watched = await watchReports(
      ['status', '--brokers', brokers, '--watch', '--json', '--interval-ms', '200'],
      2,
    );
    t.is(watched.length, 2);
    for (const w of watched) t.is(w.health, 'healthy');

    const follower = cluster.nodes.find((n) => n.id !== leader['id'])!;
    await cluster.signalNode(follower.id, 'SIGKILL');
    const degraded = await runOrdo(['status', '--brokers', brokers, '--json']);
    t.is(degraded.code, 2, 'a node down: degraded');
    const degradedReport = JSON.parse(degraded.stdout) as Report;
    t.is(degradedReport.health, 'degraded');
    t.true(
      degradedReport.problems.some(
        (p) => p.includes(follower.clientEndpoint) && p.includes('unreachable'),
      ),
    );
    t.is(degradedReport.nodes.find((n) => n.endpoint === follower.clientEndpoint)?.status, null);

    const [deadA, deadB] = await freePorts(2);
    const nothing = await runOrdo([
      'status',
      '--brokers',
      `127.0.0.1:${deadA},127.0.0.1:${deadB}`,
      '--json',
    ]);
    t.is(nothing.code, 1, 'nothing reachable');
    t.is((JSON.parse(nothing.stdout) as Report).health, 'unreachable');
  },
);

/** Runs a watching `ordo status`, reads `count` JSON lines, then stops it by pid. */
async function watchReports(args: string[], count: number): Promise<Report[]> {
  const child = spawn(process.execPath, [ordoBin, ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const reports: Report[] = [];
  try {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => lines.close(), 20_000);
    for await (const line of lines) {
      reports.push(JSON.parse(line) as Report);
      if (reports.length >= count) break;
    }
    clearTimeout(timer);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  return reports;
}

function writeConfig(dir: string, name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

const node = (id: string, base: number) => ({
  id,
  host: '127.0.0.1',
  clientPort: base,
  peerPort: base + 1,
  pubPort: base + 2,
});

test('bad configs are refused by ordo node and ordo config validate, each with one line naming the problem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordo-config-'));
  const cases = [
    {
      config: { fsynk: 'always', nodes: [node('n1', 17001)] },
      problem: "unknown setting 'fsynk' (did you mean 'fsync'?)",
    },
    {
      config: { nodes: [node('n1', 17001), node('n1', 17004)] },
      problem: "node id 'n1' is used twice (nodes[0] and nodes[1])",
    },
    {
      config: { nodes: [node('n1', 17001), node('n2', 17003)] },
      problem: 'port 17003 on 127.0.0.1 is used twice (nodes[0].pubPort and nodes[1].clientPort)',
    },
  ];
  for (const [i, c] of cases.entries()) {
    const path = writeConfig(dir, `bad-${i}.json`, c.config);
    for (const args of [
      ['node', '--config', path, '--id', 'n1'],
      ['config', 'validate', path],
    ]) {
      const run = await runOrdo(args);
      t.is(run.code, 1, `${args[0]} exits 1`);
      t.is(run.stderr.trim().split('\n').length, 1, `one line: ${run.stderr}`);
      t.true(run.stderr.includes(c.problem), run.stderr);
      t.true(run.stderr.includes(path));
    }
  }
  const good = writeConfig(dir, 'good.json', {
    fsync: 'interval',
    fsyncIntervalMs: 20,
    dataDir: dir,
    nodes: [node('n1', 17001)],
  });
  const valid = await runOrdo(['config', 'validate', good]);
  t.is(valid.code, 0);
  t.regex(valid.stdout, /valid: cluster 'ordo', 1 nodes \(n1\), fsync interval/);
  t.is(valid.stderr, '');
  const memory = writeConfig(dir, 'memory.json', { nodes: [node('n1', 17001)] });
  const warned = await runOrdo(['config', 'validate', memory]);
  t.is(warned.code, 0);
  t.regex(warned.stderr, /^warning: fsync is 'memory'/);
});

test('a second process on a node data folder is refused, naming the holder pid, before it touches any file', async (t) => {
  const cluster = await startCluster(t, { fsync: 'always' });
  const n1 = cluster.node('n1');
  const refused = await runOrdo(['node', '--config', cluster.configPath, '--id', 'n1']);
  t.is(refused.code, 1);
  t.is(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  t.true(
    refused.stderr.includes(`is in use by another process (pid ${n1.process!.pid})`),
    refused.stderr,
  );
  // The refused process did not stop or disturb the holder.
  const admin = new AdminClient([n1.clientEndpoint]);
  t.teardown(() => admin.close());
  t.is((await admin.status(n1.clientEndpoint)).id, 'n1');

  // Against a fresh folder held by a live process (this one), nothing besides the lock appears.
  const dataDir = mkdtempSync(join(tmpdir(), 'ordo-lock-'));
  const [a, b, c] = await freePorts(3);
  const path = writeConfig(dataDir, 'cluster.json', {
    fsync: 'always',
    dataDir,
    nodes: [{ id: 'n1', host: '127.0.0.1', clientPort: a, peerPort: b, pubPort: c }],
  });
  mkdirSync(join(dataDir, 'n1'));
  writeFileSync(join(dataDir, 'n1', 'LOCK'), `${process.pid}\n`);
  const held = await runOrdo(['node', '--config', path, '--id', 'n1']);
  t.is(held.code, 1);
  t.true(held.stderr.includes(`(pid ${process.pid})`), held.stderr);
  t.deepEqual(readdirSync(join(dataDir, 'n1')), ['LOCK']);
});

test('ordo node --help documents --log-level and --log-format', async (t) => {
  const help = await runOrdo(['node', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--log-level/);
  t.regex(help.stdout, /--log-format/);
  t.regex(help.stdout, /ORDO_LOG_FORMAT/);
});

test.serial(
  'ordo bench publishes against a running cluster and prints a summary table',
  async (t) => {
    const cluster = await startCluster(t);
    const brokers = cluster.clientEndpoints.join(',');
    const json = await runOrdo([
      'bench',
      '--brokers',
      brokers,
      '--messages',
      '300',
      '--size',
      '64',
      '--json',
    ]);
    t.is(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout) as {
      acked: number;
      failed: number;
      messagesPerSecond: number;
      latencyMs: { p50: number; p99: number; max: number };
    };
    t.is(result.acked, 300);
    t.is(result.failed, 0);
    t.true(result.messagesPerSecond > 0);
    t.true(result.latencyMs.p50 > 0 && result.latencyMs.p50 <= result.latencyMs.p99);
    t.true(result.latencyMs.p99 <= result.latencyMs.max);

    const text = await runOrdo(['bench', '--brokers', brokers, '--messages', '100']);
    t.is(text.code, 0, text.stderr);
    const lines = text.stdout.split('\n');
    t.regex(lines[0]!, /^messages\s+size \(B\)\s+acked\s+failed\s+seconds\s+msg\/s\s+MB\/s$/);
    t.regex(lines[1]!, /^\s*100\s+100\s+100\s+0\s/);
    t.true(lines.some((l) => l.startsWith('publish to commit ack')));
    t.regex(text.stderr, /acked \d+\/100/, 'a live progress line on stderr');

    const bad = await runOrdo(['bench', '--brokers', brokers, '--messages', '0']);
    t.is(bad.code, 1);
    t.regex(bad.stderr, /--messages must be a whole number from 1/);
  },
);
