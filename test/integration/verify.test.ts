import {
  closeSync,
  cpSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AdminClient, Publisher } from '../../clients/index.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { runOrdo } from '../helpers/ordo-cli.js';
import { histogramCount, scrape } from '../helpers/prometheus.js';

async function publishAll(brokers: string[], topic: string, count: number): Promise<number> {
  const publisher = new Publisher({ brokers });
  try {
    const acks = await Promise.all(
      Array.from({ length: count }, (_, i) => publisher.publish(topic, `${topic}-${i}`)),
    );
    return Math.max(...acks.map((a) => a.seq));
  } finally {
    publisher.close();
  }
}

test('ordo verify: agreeing nodes exit 0; a node with another history is named at the first seq that differs; --data checks files offline', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ordo-verify-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const a = await startCluster(t, { fsync: 'always', dataDir: join(root, 'a') });
  const admin = new AdminClient(a.clientEndpoints);
  t.teardown(() => admin.close());
  // In waves, so that the log holds several records (a damaged newest record is a torn write).
  let lastSeq = 0;
  for (let wave = 0; wave < 4; wave++) lastSeq = await publishAll(a.clientEndpoints, 'shared', 5);
  // A follower's files: the sequencer, and so the next epoch, stays in cluster a.
  const leader = await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
  const n3 = a.nodes.find((n) => n.id !== leader.id)!;
  await eventually(
    async () => Number((await admin.status(n3.clientEndpoint)).lastSeq) >= lastSeq,
    10_000,
    `${n3.id} to hold seq ${lastSeq}`,
  );

  // With fsync 'always' every batch is fsynced: the fsync histogram moved.
  t.true(histogramCount(await scrape(a.node('n1').httpUrl), 'ordo_fsync_seconds') > 0);

  const agree = await runOrdo(['verify', '--brokers', a.clientEndpoints.join(',')]);
  t.is(agree.code, 0, agree.stdout + agree.stderr);
  t.regex(agree.stdout, /^nodes n1, n2, n3 agree on seqs 1\.\.\d+ \(chain hash [0-9a-f]{64}\)/);

  // n3's files, stopped, start a cluster of their own: the same history up
  // to lastSeq, then another one.
  await a.signalNode(n3.id, 'SIGTERM');
  const offline = await runOrdo(['verify', '--data', join(root, 'a', n3.id)]);
  t.is(offline.code, 0, offline.stdout + offline.stderr);
  t.regex(offline.stdout, new RegExp(`sound: seqs 1\\.\\.${lastSeq} in 1 segment\\(s\\)`));
  cpSync(join(root, 'a', n3.id), join(root, 'b', 'n1'), { recursive: true });
  // The copy is to seed a cluster of one: its membership (three voters) and
  // its incarnation (node n3's) stay behind, so it starts from the config.
  for (const file of ['membership.json', 'incarnation.json'])
    rmSync(join(root, 'b', 'n1', file), { force: true });
  const b = await startCluster(t, { nodes: 1, fsync: 'always', dataDir: join(root, 'b') });
  await publishAll(b.clientEndpoints, 'b-only', 5);
  await publishAll(a.clientEndpoints, 'a-only', 5);

  const differ = await runOrdo([
    'verify',
    '--brokers',
    `${leader.endpoint},${b.clientEndpoints[0]}`,
    '--json',
  ]);
  t.is(differ.code, 1, differ.stdout + differ.stderr);
  const result = JSON.parse(differ.stdout) as {
    kind: string;
    seq: number;
    hashes: Record<string, string>;
  };
  t.is(result.kind, 'differ');
  t.is(result.seq, lastSeq + 1, 'the first seq after the shared history');
  t.not(result.hashes['n1'], undefined);

  const unreachable = await runOrdo([
    'verify',
    '--brokers',
    `${leader.endpoint},${n3.clientEndpoint}`,
  ]);
  t.is(unreachable.code, 2);
  t.regex(unreachable.stdout, /^cannot verify: cannot reach/);

  // Damage bytes of the first record of the stopped copy's log, which others follow: named offline.
  const logDir = join(root, 'a', n3.id, 'log');
  const segment = join(logDir, readdirSync(logDir).find((f) => f.endsWith('.log'))!);
  const firstRecordBytes = readFileSync(segment).readUInt32LE(64 + 4);
  t.true(64 + firstRecordBytes < statSync(segment).size, 'more records follow the first');
  const fd = openSync(segment, 'r+');
  writeSync(fd, Buffer.from([0xff, 0x00, 0xff]), 0, 3, 64 + Math.floor(firstRecordBytes / 2));
  closeSync(fd);
  const damaged = await runOrdo(['verify', '--data', join(root, 'a', n3.id)]);
  t.is(damaged.code, 1);
  t.regex(damaged.stdout, /DAMAGED: corrupt log: .* \(seq \d+\)/);
});
