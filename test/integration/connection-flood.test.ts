import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import test from 'ava';
import * as zmq from 'zeromq';
import { AdminClient, LimitError, Publisher, Subscriber } from '../../clients/index.js';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { collect, decode, eventually } from '../helpers/cluster.js';
import { runOrdo } from '../helpers/ordo-cli.js';

/**
 * The incident "21,000 idle connections hit the node's file-descriptor
 * limit: 100% CPU, unreachable, then the next hard-state save died with
 * EMFILE and the node stopped", scaled down: every node runs under a
 * descriptor limit of 256 (prlimit), so it admits at most 128 client
 * connections. First the sequencer gets 600 idle ZeroMQ connections: it
 * refuses those past its budget at the handshake, so its descriptors never
 * run out; a client connected before keeps publishing, a new one is told
 * LIMIT. Then
 * a follower gets 600 TCP connections that never start a handshake, more
 * than its descriptors (ZeroMQ cannot refuse them before their handshake,
 * and closes them after LIMITS.clientHandshakeTimeoutMs): its saves may
 * fail with EMFILE meanwhile, and it waits and tries again instead of
 * stopping. Afterwards a normal client publishes and tails, the sequencer
 * is the same, no node stopped, and memory is within the bound
 * docs/operations.md states.
 */

const fdLimit = 256;
const zmqConnections = 600;
const rawFollowerConnections = 600;
/** The bound docs/operations.md states for a node under these abuses. */
const nodeRssBoundBytes = 400 * 1024 * 1024;

function rssBytes(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kib === null ? 0 : Number(kib[1]) * 1024;
}

/** CPU time (user + system) the process has used, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

test.afterEach.always((t) => {
  if (!t.passed) for (const line of failedLogs.slice(-40)) t.log(line);
});
let failedLogs: string[] = [];

test('idle connections past the descriptor limit: the sequencer stays up and reachable, refuses new clients with LIMIT, and carries on', async (t) => {
  const logs: string[] = [];
  failedLogs = logs;
  const cluster = await LocalCluster.start({
    nodes: 3,
    fsync: 'always',
    commandPrefix: () => ['prlimit', `--nofile=${fdLimit}:${fdLimit}`, '--'],
    logs: (id, line) => logs.push(`${id} ${line}`),
  });
  const flood: zmq.Dealer[] = [];
  const raw: Socket[] = [];
  t.teardown(async () => {
    for (const socket of flood) socket.close();
    for (const socket of raw) socket.destroy();
    await cluster.stop();
  });
  const admin = new AdminClient(cluster.clientEndpoints);
  t.teardown(() => admin.close());
  const leader = await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
  const target = cluster.nodes.find((n) => n.id === leader.id)!;
  const endpoint = target.clientEndpoint;
  const pid = target.process!.pid!;
  t.true(
    logs.some((l) => l.includes(`descriptor limit ${fdLimit}`) && l.includes('admits at most 128')),
    'each node logs its connection budget, sized from its descriptor limit',
  );
  // Connected before the flood: a publisher and the admin client (it asks
  // every node once, so its connections are held).
  const publisher = new Publisher({ brokers: [endpoint] });
  t.teardown(() => publisher.close());
  await publisher.publish('flood', 'before');
  await admin.statusAll();

  const cpuBefore = cpuMs(pid);
  const startedMs = Date.now();
  // Idle connections pile up (16 every 50 ms, 320 a second), as they did in
  // the incident. A burst larger than the free descriptors at once is what
  // the budget cannot stop (docs/operations.md, "Budgets").
  for (let i = 0; i < zmqConnections; i++) {
    const socket = new zmq.Dealer({ linger: 0 });
    socket.connect(endpoint);
    flood.push(socket);
    if (i % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  let unanswered = 0;
  const flooded = await eventually(
    async () => {
      const status = await admin.status(endpoint).catch(() => {
        unanswered++;
        return null;
      });
      if (status === null) return null;
      t.log(
        `after ${Date.now() - startedMs} ms: ${status.clientConnections} open, ${status.connectionsRefused} refused`,
      );
      // Refused connections are counted until ZeroMQ has closed them.
      return status.connectionsRefused >= zmqConnections - 128 && status.clientConnections <= 128
        ? status
        : null;
    },
    30_000,
    'the sequencer to refuse the connections past its budget',
    200,
  );
  t.log(
    `${flooded.clientConnections} client connections open, ${flooded.connectionsRefused} refused at the handshake`,
  );
  t.true(flooded.clientConnections <= 128);
  t.log(`${unanswered} status requests unanswered within 2 s during the flood`);

  // Connections refused while others were being refused may leave a few
  // places: take them, until one is refused.
  for (;;) {
    const socket = new zmq.Dealer({ linger: 0 });
    flood.push(socket);
    const outcome = new Promise<boolean>((resolve) => {
      socket.events.on('handshake', () => resolve(true));
      socket.events.on('handshake:error:auth', () => resolve(false));
    });
    socket.connect(endpoint);
    if (!(await outcome)) break;
  }
  // The client connected before the flood still publishes through it.
  const during = await publisher.publish('flood', 'during');
  t.true(during.seq > 0);
  // A new client is told LIMIT, by the library and by the CLI.
  const late = new Publisher({ brokers: [endpoint], publishTimeoutMs: 3000 });
  const refused = await t.throwsAsync(late.publish('flood', 'refused'), { instanceOf: LimitError });
  t.regex(refused?.message ?? '', /refused this connection at its handshake/);
  await late.close();
  const cli = await runOrdo(
    ['publish', '--brokers', endpoint, '--topic', 'flood', '--timeout-ms', '3000', 'refused'],
    15_000,
  );
  t.not(cli.code, 0);
  t.regex(cli.stderr, /failed: refused: LimitError: .*refused this connection at its handshake/);
  t.notRegex(cli.stderr, /no broker is answering/);

  for (const socket of flood.splice(0)) socket.close();
  for (const socket of raw.splice(0)) socket.destroy();
  const cpuUsedMs = cpuMs(pid) - cpuBefore;
  t.is(target.process!.exitCode, null, 'the sequencer is still running');
  const elapsedMs = Date.now() - startedMs;
  t.log(
    `sequencer CPU ${cpuUsedMs.toFixed(0)} ms over ${elapsedMs} ms of flood (${((100 * cpuUsedMs) / elapsedMs).toFixed(0)}%)`,
  );
  await eventually(
    async () => (await admin.status(endpoint)).clientConnections <= 4,
    15_000,
    'the flood connections to be counted out',
    200,
  );

  // A follower gets more connections than it has descriptors, while the
  // commit point moves (each node saves it at most once a second).
  const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
  const followerPort = Number(new URL(follower.clientEndpoint.replace('tcp://', 'http://')).port);
  for (let i = 0; i < rawFollowerConnections; i++) {
    const socket = connect({ host: '127.0.0.1', port: followerPort });
    socket.on('error', () => {});
    raw.push(socket);
  }
  // Until one of its saves (the hard state, or the dedup checkpoint, which
  // is only warned about) has met EMFILE, at most 15 s.
  const hardStateMetEmfile = () =>
    logs.some((l) => l.startsWith(follower.id) && /cannot save its state \(EMFILE/.test(l));
  const metEmfile = () => logs.some((l) => l.startsWith(follower.id) && /EMFILE/.test(l));
  const floodEndsMs = Date.now() + 15_000;
  for (let i = 0; Date.now() < floodEndsMs && !metEmfile(); i++) {
    t.true((await publisher.publish('flood', `while a follower is flooded ${i}`)).seq > 0);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  for (const socket of raw.splice(0)) socket.destroy();
  t.is(follower.process!.exitCode, null, 'the flooded follower is still running');
  const last = await publisher.publish('flood', 'the follower catches up');
  await eventually(
    async () => {
      const status = await admin.status(follower.clientEndpoint).catch(() => null);
      return status !== null && status.commitSeq >= last.seq;
    },
    20_000,
    'the flooded follower to answer and catch up',
    200,
  );

  // A normal client publishes and tails; nothing else changed.
  const fresh = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => fresh.close());
  const ack = await fresh.publish('flood', 'after');
  const subscriber = new Subscriber({ brokers: cluster.clientEndpoints, fromSeq: ack.seq });
  const [message] = await collect(subscriber, (m) => m.length >= 1, 5000);
  await subscriber.close();
  t.is(decode(message!.payload), 'after');
  const now = await admin.findLeader();
  t.deepEqual(
    now === null ? null : { id: now.id, epoch: now.epoch },
    { id: leader.id, epoch: leader.epoch },
    'the sequencer did not change',
  );
  for (const node of cluster.nodes) {
    t.is(node.process!.exitCode, null, `${node.id} is still running`);
    const rss = rssBytes(node.process!.pid!);
    t.log(`${node.id} RSS ${(rss / 2 ** 20).toFixed(0)} MiB after the flood`);
    t.true(rss < nodeRssBoundBytes);
  }
  const waited = logs.filter((l) => /EMFILE/.test(l));
  t.log(`${waited.length} log lines about saves or writes that waited for descriptors`);
  for (const line of waited.slice(0, 3)) t.log(line);
  // The incident's end: a hard-state save meets EMFILE. Here the node waits
  // and saves again. Whether a save falls inside the flood depends on the
  // follower's turns (a starved follower may not save at all), so it is
  // logged, not required; resource-exhaustion.test.ts makes saves meet
  // EMFILE on purpose.
  t.log(`the flooded follower met EMFILE in a save: ${metEmfile()}`);
  // When it was the hard state, the node waited and saved it.
  if (hardStateMetEmfile())
    t.true(
      logs.some((l) => l.startsWith(follower.id) && /can save its state again/.test(l)),
      'the hard state was saved once descriptors were free',
    );
  t.log(`the flooded follower's hard-state save met EMFILE: ${hardStateMetEmfile()}`);
  t.false(
    logs.some((l) => /stopped on an error it cannot recover from/.test(l)),
    'no node stopped',
  );
});
