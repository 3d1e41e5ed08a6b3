import { readFileSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import * as zmq from 'zeromq';
import { AdminClient, LimitError, Publisher, Subscriber } from '../../clients/index.js';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { LIMITS } from '../../src/limits.js';
import { ordo } from '../../src/wire/schema.js';
import { collect, decode, eventually } from '../helpers/cluster.js';
import { runOrdo } from '../helpers/ordo-cli.js';

/**
 * Hostile and runaway clients against a real 3-node cluster, one abuse per
 * test, in order. After each: a normal client publishes and reads its
 * message back within its usual latency, the sequencer did not change, and
 * every node's resident memory stays within the documented bound.
 */

/** The bound docs/operations.md states for a node under these abuses (a few MiB of log here). */
const nodeRssBoundBytes = 400 * 1024 * 1024;
/** How long a normal publish-then-read may take after an abuse. */
const healthyWithinMs = 5000;

interface Shared {
  cluster: LocalCluster;
  admin: AdminClient;
  leader: { id: string; epoch: number };
  peerPorts: number[];
}
let shared: Shared | null = null;
const sockets: zmq.Socket[] = [];

test.before(async () => {
  // fsync=interval: the restart test needs a log on disk.
  const cluster = await LocalCluster.start({ nodes: 3, fsync: 'interval' });
  const admin = new AdminClient(cluster.clientEndpoints);
  const leader = await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
  // Some log to serve: 1,000 messages of 1 KiB.
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  const payload = 'x'.repeat(1024);
  await Promise.all(Array.from({ length: 1000 }, () => publisher.publish('load', payload)));
  await publisher.close();
  const config = JSON.parse(readFileSync(cluster.configPath, 'utf8')) as {
    nodes: { peerPort: number }[];
  };
  shared = { cluster, admin, leader, peerPorts: config.nodes.map((n) => n.peerPort) };
});

test.after.always(async () => {
  for (const socket of sockets) socket.close();
  await shared?.admin.close();
  await shared?.cluster.stop();
});

function world(): Shared {
  if (shared === null) throw new Error('the cluster did not start');
  return shared;
}

function dealer(endpoint: string): zmq.Dealer {
  const socket = new zmq.Dealer({ linger: 0, sendTimeout: 2000, receiveTimeout: 5000 });
  socket.connect(endpoint);
  sockets.push(socket);
  return socket;
}

function request(body: ordo.ClientRequest.$Properties): Buffer {
  return Buffer.from(ordo.ClientRequest.encode(body).finish());
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /VmRSS:\s+(\d+) kB/.exec(status);
  return kib === null ? 0 : Number(kib[1]) * 1024;
}

/** A normal client publishes and reads its message back; the sequencer is the same; memory is bounded. */
async function assertHealthy(t: ExecutionContext, after: string): Promise<void> {
  const { cluster, admin, leader } = world();
  const started = Date.now();
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  const text = `after ${after}`;
  const ack = await publisher.publish('check', text);
  await publisher.close();
  const subscriber = new Subscriber({ brokers: cluster.clientEndpoints, fromSeq: ack.seq });
  const [message] = await collect(subscriber, (m) => m.length >= 1, healthyWithinMs);
  await subscriber.close();
  t.is(decode(message!.payload), text);
  const tookMs = Date.now() - started;
  t.true(tookMs < healthyWithinMs, `publish and read back took ${tookMs} ms after ${after}`);
  const now = await admin.findLeader();
  t.deepEqual(
    now === null ? null : { id: now.id, epoch: now.epoch },
    { id: leader.id, epoch: leader.epoch },
    `the sequencer changed during ${after}`,
  );
  for (const node of cluster.nodes) {
    const rss = rssBytes(node.process!.pid!);
    t.log(`${node.id} RSS ${(rss / 2 ** 20).toFixed(0)} MiB after ${after}`);
    t.true(rss < nodeRssBoundBytes, `${node.id} RSS ${rss} bytes after ${after}`);
  }
}

test.serial(
  'a subscriber that never reads and NACKs its first seq every 2 ms costs a bounded amount of memory',
  async (t) => {
    const { cluster, admin } = world();
    const endpoint = cluster.clientEndpoints[0]!;
    const pid = cluster.nodes[0]!.process!.pid!;
    const before = rssBytes(pid);
    // A raw socket that subscribes from seq 1 and never reads: what the node
    // sends piles up in ZeroMQ and the TCP buffers.
    const socket = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 1, sendTimeout: 2000 });
    socket.connect(endpoint);
    sockets.push(socket);
    await socket.send(
      request({
        requestId: 1,
        subscribe: { subscriptionId: 7, fromSeq: 1, windowEntries: 16_384 },
      }),
    );
    const nack = request({ requestId: 0, subscriberNack: { subscriptionId: 7, fromSeq: 1 } });
    const until = Date.now() + 3000;
    let nacks = 0;
    while (Date.now() < until) {
      await socket.send(nack);
      nacks++;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const status = await admin.status(endpoint);
    const grown = rssBytes(pid) - before;
    t.log(
      `${nacks} NACKs; node RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB; ${status.budgetRefusals} refused; ${status.subscriberQueuedBytes} bytes queued`,
    );
    t.true(status.budgetRefusals > 0, 'NACKs past the per-subscriber rate are ignored and counted');
    t.true(
      status.subscriberQueuedBytes <=
        LIMITS.subscriberMaxQueuedBytes + LIMITS.maxDeliveryBatchBytes,
    );
    // Per connection: the queued-bytes budget plus ZeroMQ's per-connection
    // high-water mark of deliveries, far below what the NACKs asked for.
    t.true(grown < 128 * 1024 * 1024, `RSS grew by ${grown} bytes`);
    await socket.send(request({ requestId: 0, unsubscribe: { subscriptionId: 7 } }));
    socket.close();
    await assertHealthy(t, 'a NACK flood');
  },
);

test.serial(
  'one connection holds at most its budget of subscriptions; the next are refused with LIMIT',
  async (t) => {
    const { cluster } = world();
    const socket = dealer(cluster.clientEndpoints[1]!);
    const wanted = LIMITS.maxSubscriptionsPerConnection + 10;
    for (let id = 1; id <= wanted; id++)
      await socket.send(request({ requestId: id, subscribe: { subscriptionId: id, fromSeq: 0 } }));
    let ok = 0;
    let limit = 0;
    let message = '';
    while (ok + limit < wanted) {
      const [frame] = await socket.receive();
      const reply = ordo.ClientResponse.decode(frame!);
      if (reply.ok) ok++;
      else if (reply.error?.code === ordo.ErrorCode.ERROR_CODE_LIMIT) {
        limit++;
        message = reply.error.message ?? '';
      }
    }
    t.is(ok, LIMITS.maxSubscriptionsPerConnection);
    t.is(limit, 10);
    t.regex(message, /maxSubscriptionsPerConnection/);
    for (let id = 1; id <= wanted; id++)
      await socket.send(request({ requestId: 0, unsubscribe: { subscriptionId: id } }));
    await assertHealthy(t, 'a subscription hog');
  },
);

test.serial(
  "clients that take every subscriber slot: 'ordo tail' and the library say LIMIT",
  async (t) => {
    const { cluster } = world();
    // Every slot of every node, from as few connections as the budget allows.
    const perNode = Math.ceil(LIMITS.maxSubscribers / LIMITS.maxSubscriptionsPerConnection);
    const hogs: zmq.Dealer[] = [];
    await Promise.all(
      cluster.clientEndpoints.map(async (endpoint) => {
        for (let c = 0; c < perNode; c++) {
          const socket = dealer(endpoint);
          hogs.push(socket);
          for (let id = 1; id <= LIMITS.maxSubscriptionsPerConnection; id++)
            await socket.send(
              request({ requestId: id, subscribe: { subscriptionId: id, fromSeq: 0 } }),
            );
        }
      }),
    );
    const admin = world().admin;
    await eventually(
      async () => {
        const all = await admin.statusAll();
        return all.every((b) => (b.status?.subscribers.length ?? 0) >= LIMITS.maxSubscribers);
      },
      10_000,
      'every node to serve its maximum of subscribers',
      100,
    );
    const subscriber = new Subscriber({ brokers: cluster.clientEndpoints, fromSeq: 1 });
    const error = await t.throwsAsync(
      collect(subscriber, () => true, 5000),
      {
        instanceOf: LimitError,
      },
    );
    t.regex(error?.message ?? '', /maxSubscribers/);
    t.true(error?.retriable);
    await subscriber.close();
    const tail = await runOrdo(
      ['tail', '--brokers', cluster.clientEndpoints.join(','), '--from', '1', '--count', '1'],
      15_000,
    );
    t.not(tail.code, 0);
    t.regex(tail.stderr, /LimitError: every broker refused the subscription .*maxSubscribers/);
    t.notRegex(tail.stderr, /no broker is answering/);
    for (const socket of hogs)
      for (let id = 1; id <= LIMITS.maxSubscriptionsPerConnection; id++)
        await socket.send(request({ requestId: 0, unsubscribe: { subscriptionId: id } }));
    await eventually(
      async () => {
        const all = await admin.statusAll();
        return all.every((b) => (b.status?.subscribers.length ?? 1) === 0);
      },
      10_000,
      'the hogs to be gone',
      100,
    );
    await assertHealthy(t, 'a subscriber-slot hog');
  },
);

test.serial('oversized frames are refused with TOO_LARGE and counted', async (t) => {
  const { cluster, admin } = world();
  const endpoint = cluster.clientEndpoints[2]!;
  const before = await admin.status(endpoint);
  const socket = dealer(endpoint);
  await socket.send(Buffer.alloc(LIMITS.maxFrameBytes + 1024, 1));
  const [frame] = await socket.receive();
  const reply = ordo.ClientResponse.decode(frame!);
  t.is(reply.error?.code, ordo.ErrorCode.ERROR_CODE_TOO_LARGE);
  t.regex(reply.error?.message ?? '', /exceeds the limit/);
  const after = await admin.status(endpoint);
  t.is(after.oversizedFrames, before.oversizedFrames + 1);
  await assertHealthy(t, 'an oversized frame');
});

test.serial(
  'tiny messages in huge frames cost the node their own size, not the frames',
  async (t) => {
    const { cluster, leader } = world();
    const node = cluster.node(leader.id);
    const pid = node.process!.pid!;
    const before = rssBytes(pid);
    const socket = new zmq.Dealer({ linger: 0, sendTimeout: 10_000, receiveTimeout: 10_000 });
    socket.connect(node.clientEndpoint);
    sockets.push(socket);
    // Each request: one 5-byte message, then 3.5 MiB in a field the schema
    // does not know (skipped by the decoder, but part of the same buffer).
    const padding = Buffer.alloc(3.5 * 1024 * 1024, 7);
    const unknownField = Buffer.concat([
      Buffer.from([0x9a, 0x06]), // field 99, length-delimited
      Buffer.from(varint(padding.length)),
      padding,
    ]);
    const frames = 100;
    for (let i = 1; i <= frames; i++) {
      const body = request({
        requestId: i,
        publish: {
          producerId: `huge-frames-${i}`,
          items: [{ producerSeq: 1, topic: 'tiny', payload: Buffer.from('tiny!') }],
        },
      });
      await socket.send(Buffer.concat([body, unknownField]));
    }
    let ok = 0;
    while (ok < frames) {
      const [frame] = await socket.receive();
      const reply = ordo.ClientResponse.decode(frame!);
      if (reply.publish?.results?.[0]?.status === ordo.PublishStatus.PUBLISH_STATUS_OK) ok++;
    }
    const grown = rssBytes(pid) - before;
    t.log(
      `${frames} frames of 3.5 MiB, each with a 5-byte message: RSS grew ${(grown / 2 ** 20).toFixed(0)} MiB`,
    );
    // Kept as views into their frames, the entries would hold 350 MiB.
    t.true(grown < 150 * 1024 * 1024, `RSS grew by ${grown} bytes`);
    await assertHealthy(t, 'huge frames with tiny messages');
  },
);

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

test.serial(
  'a flood of garbage on every peer and client port does not depose the sequencer',
  async (t) => {
    const { cluster, peerPorts, admin } = world();
    const targets = [
      ...peerPorts.map((port) => `tcp://127.0.0.1:${port}`),
      ...cluster.clientEndpoints,
    ];
    const before = await admin.statusAll();
    const until = Date.now() + 3000;
    let sent = 0;
    // Several connections per port, each spraying multipart garbage as fast
    // as ZeroMQ takes it; a connection the node ignores is replaced.
    await Promise.all(
      targets.flatMap((endpoint) =>
        [1, 2].map(async (lane) => {
          let socket = new zmq.Dealer({ linger: 0, sendTimeout: 100, sendHighWaterMark: 1000 });
          socket.connect(endpoint);
          let onThis = 0;
          while (Date.now() < until) {
            try {
              await socket.send([Buffer.from([lane, onThis & 0xff]), Buffer.alloc(512, onThis)]);
              sent++;
              onThis++;
            } catch {
              // Full: the node reads at its own pace.
            }
            if (onThis >= 2000) {
              socket.close();
              socket = new zmq.Dealer({ linger: 0, sendTimeout: 100, sendHighWaterMark: 1000 });
              socket.connect(endpoint);
              onThis = 0;
            }
            if (sent % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          socket.close();
        }),
      ),
    );
    const after = await admin.statusAll();
    const badBefore = before.reduce((sum, b) => sum + (b.status?.badFrames ?? 0), 0);
    const badAfter = after.reduce((sum, b) => sum + (b.status?.badFrames ?? 0), 0);
    t.log(`${sent} garbage messages sent; ${badAfter - badBefore} counted as bad frames`);
    t.true(badAfter > badBefore);
    await assertHealthy(t, 'a garbage flood');
  },
);

test.serial(
  'a follower restarted in an idle cluster serves its committed log at once',
  async (t) => {
    const { cluster, admin, leader } = world();
    const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
    const committed = (await admin.status(follower.clientEndpoint)).commitSeq;
    t.true(committed >= 1000);
    await cluster.signalNode(follower.id, 'SIGTERM');
    await cluster.startNode(follower.id);
    // No publish from here on: only what the follower recovered can be served.
    const subscriber = new Subscriber({ brokers: [follower.clientEndpoint], fromSeq: 1 });
    const messages = await collect(subscriber, (m) => (m.at(-1)?.seq ?? 0) >= committed, 5000);
    await subscriber.close();
    t.is(messages.at(-1)?.seq, committed);
    await assertHealthy(t, 'a follower restart');
  },
);
