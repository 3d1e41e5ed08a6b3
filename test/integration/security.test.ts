/**
 * A secured cluster (CurveZMQ on every socket, keys checked by a ZAP
 * handler) against the attacks an outsider or a wrong insider can make with
 * raw ZeroMQ sockets and frames built from the schema. One cluster serves
 * every attack: each is checked to change no epoch, sequencer, log or
 * election count, and to be counted.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import * as zmq from 'zeromq';
import { BrokerConnection } from '../../clients/broker-connection.js';
import {
  AdminClient,
  ForbiddenError,
  loadCredentials,
  type PublishAck,
  Publisher,
  Subscriber,
} from '../../clients/index.js';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { EntryKind, type NodeMessage } from '../../src/core/types.js';
import { encodePeerMessage } from '../../src/wire/peer-codec.js';
import { collect, eventually } from '../helpers/cluster.js';

interface NodeEntry {
  id: string;
  host: string;
  clientPort: number;
  peerPort: number;
  pubPort: number;
  publicKey: string;
  secretKeyFile: string;
}

interface Shared {
  cluster: LocalCluster;
  nodes: NodeEntry[];
  clusterId: string;
  admin: AdminClient;
  logLines: string[];
}

const shared = { logLines: [] } as unknown as Shared;

test.before(async () => {
  shared.cluster = await LocalCluster.start({
    secure: {
      clients: [
        'alice',
        {
          identity: 'bob',
          permissions: {
            publish: { allow: ['orders.*'], deny: ['orders.secret'] },
            subscribe: { allow: ['orders.*'] },
            admin: false,
          },
        },
      ],
    },
    logs: (_id, line) => {
      if (shared.logLines.length < 10_000) shared.logLines.push(line);
    },
  });
  const config = JSON.parse(readFileSync(shared.cluster.configPath, 'utf8'));
  shared.nodes = config.nodes;
  shared.clusterId = config.clusterId;
  shared.admin = new AdminClient(shared.cluster.clientEndpoints, 2000, {
    credentials: loadCredentials(shared.cluster.credentialsPaths.get('alice')!),
  });
});

test.after.always(async () => {
  await shared.admin?.close();
  await shared.cluster?.stop();
});

/** What no attack may change, per node. */
async function protocolState() {
  const all = await shared.admin.statusAll();
  return all.map((b) => {
    const s = b.status;
    if (s === null) throw new Error(`${b.endpoint} did not answer: ${b.error}`);
    return {
      id: s.id,
      role: s.role,
      epoch: s.epoch,
      leaderId: s.leaderId,
      lastSeq: s.lastSeq,
      commitSeq: s.commitSeq,
      electionsStarted: s.electionsStarted,
      logChainHash: s.logChainHash,
    };
  });
}

async function counters(): Promise<Map<string, { refused: number; handshakes: number }>> {
  const all = await shared.admin.statusAll();
  return new Map(
    all.map((b) => [
      b.status!.id,
      { refused: b.status!.peerMessagesRefused, handshakes: b.status!.handshakesRefused },
    ]),
  );
}

/** Waits until every node in `ids` counted at least `more` further refused handshakes. */
async function handshakesRefusedBy(
  before: Map<string, { handshakes: number }>,
  ids: readonly string[],
  more: number,
): Promise<void> {
  await eventually(
    async () => {
      const now = await counters();
      return ids.every((id) => now.get(id)!.handshakes >= before.get(id)!.handshakes + more);
    },
    10_000,
    `${ids.join(', ')} to refuse ${more} more handshakes`,
    50,
  );
}

/** The forged frames of the attacks, all naming `leader` (or a follower) as their sender. */
function forgedFrames(leader: string, follower: string, epoch: number): Uint8Array[] {
  const messages: NodeMessage[] = [
    {
      type: 'append',
      epoch,
      from: leader,
      prevSeq: 1,
      prevEpoch: epoch,
      entries: [
        {
          seq: 2,
          epoch,
          kind: EntryKind.data,
          producerId: 'intruder',
          producerSeq: 1,
          topic: 'forged',
          payload: Buffer.from('forged'),
          timestampMs: 0,
        },
      ],
      commitSeq: 2,
    },
    {
      type: 'ack',
      epoch: 2 ** 40,
      from: follower,
      matchSeq: 100,
      reject: false,
      hintSeq: 0,
      hintEpoch: 0,
    },
    { type: 'ack', epoch, from: follower, matchSeq: 100, reject: false, hintSeq: 0, hintEpoch: 0 },
    { type: 'timeoutNow', epoch, from: leader },
    {
      type: 'voteRequest',
      epoch: epoch + 1,
      from: follower,
      lastSeq: 10_000,
      lastEpoch: epoch,
      preVote: false,
      transfer: true,
    },
  ];
  return messages.map((m) => encodePeerMessage(shared.clusterId, m));
}

/** A raw DEALER that connects to `endpoint` and sends `frames` without waiting for anyone. */
async function sendRaw(
  options: ConstructorParameters<typeof zmq.Dealer>[0],
  endpoint: string,
  frames: readonly Uint8Array[],
): Promise<zmq.Dealer> {
  const socket = new zmq.Dealer({ linger: 0, sendTimeout: 0, ...options });
  socket.connect(endpoint);
  for (const frame of frames) await socket.send(frame).catch(() => {});
  return socket;
}

function leaderOf(state: Awaited<ReturnType<typeof protocolState>>) {
  const leader = state.find((s) => s.role === 'leader');
  if (leader === undefined) throw new Error('no sequencer');
  return leader;
}

test.serial(
  'a client with credentials publishes and reads the stream; every node says it is secured',
  async (t) => {
    const credentials = loadCredentials(shared.cluster.credentialsPaths.get('alice')!);
    const brokers = shared.cluster.clientEndpoints;
    const publisher = new Publisher({ brokers, runtime: { credentials } });
    const subscriber = new Subscriber({ brokers, fromSeq: 1, runtime: { credentials } });
    t.teardown(() => {
      void publisher.close();
      void subscriber.close();
    });
    const acks = await Promise.all(
      Array.from({ length: 20 }, (_, i) => publisher.publish('secure', `m${i}`)),
    );
    const messages = await collect(subscriber, (m) => m.length >= 20, 10_000);
    t.deepEqual(
      messages.map((m) => m.seq),
      acks.map((a) => a.seq),
    );
    const all = await shared.admin.statusAll();
    t.true(all.every((b) => b.status?.secured === true));
    t.false(JSON.stringify(credentials).includes(credentials.secretKey.reveal()));
    t.is(String(credentials.secretKey), '[secret]');
  },
);

test.serial(
  'a process without a node key reaches nothing: forged appends, acks, timeoutNow and transfer votes over NULL, PLAIN and unknown keys are refused at the handshake and counted',
  async (t) => {
    const before = await protocolState();
    const countersBefore = await counters();
    const leader = leaderOf(before);
    const follower = before.find((s) => s.role !== 'leader')!;
    const frames = forgedFrames(leader.id, follower.id, leader.epoch);
    const stranger = zmq.curveKeyPair();
    const sockets: zmq.Socket[] = [];
    const heard: Buffer[] = [];
    for (const node of shared.nodes) {
      const peer = `tcp://${node.host}:${node.peerPort}`;
      sockets.push(await sendRaw({}, peer, frames));
      sockets.push(await sendRaw({ plainUsername: 'n1', plainPassword: 'x' }, peer, frames));
      sockets.push(
        await sendRaw(
          {
            curveServerKey: node.publicKey,
            curvePublicKey: stranger.publicKey,
            curveSecretKey: stranger.secretKey,
          },
          peer,
          frames,
        ),
      );
      // The multicast, read without a key: the sequencer heartbeats every 50 ms.
      const sub = new zmq.Subscriber({ linger: 0 });
      sub.subscribe();
      sub.connect(`tcp://${node.host}:${node.pubPort}`);
      sockets.push(sub);
      void (async () => {
        try {
          for await (const [frame] of sub) heard.push(frame!);
        } catch {
          // Closed.
        }
      })();
    }
    t.teardown(() => {
      for (const s of sockets) s.close();
    });
    await handshakesRefusedBy(
      countersBefore,
      shared.nodes.map((n) => n.id),
      4,
    );
    t.deepEqual(heard, [], 'no multicast frame reaches a SUB without a key');
    t.deepEqual(await protocolState(), before);
  },
);

test.serial(
  'a client key is refused on the peer and multicast ports, so it cannot forge node frames',
  async (t) => {
    const alice = JSON.parse(readFileSync(shared.cluster.credentialsPaths.get('alice')!, 'utf8'));
    const before = await protocolState();
    const countersBefore = await counters();
    const leader = leaderOf(before);
    const follower = before.find((s) => s.role !== 'leader')!;
    const frames = forgedFrames(leader.id, follower.id, leader.epoch);
    const sockets: zmq.Socket[] = [];
    for (const node of shared.nodes) {
      const keys = {
        curveServerKey: node.publicKey,
        curvePublicKey: alice.publicKey,
        curveSecretKey: alice.secretKey,
      };
      sockets.push(await sendRaw(keys, `tcp://${node.host}:${node.peerPort}`, frames));
      const sub = new zmq.Subscriber({ linger: 0, ...keys });
      sub.subscribe();
      sub.connect(`tcp://${node.host}:${node.pubPort}`);
      sockets.push(sub);
    }
    t.teardown(() => {
      for (const s of sockets) s.close();
    });
    await handshakesRefusedBy(
      countersBefore,
      shared.nodes.map((n) => n.id),
      2,
    );
    t.deepEqual(await protocolState(), before);
  },
);

test.serial(
  'an unknown key, a NULL client and a PLAIN client are refused on the client port',
  async (t) => {
    const countersBefore = await counters();
    const node = shared.nodes[0]!;
    const endpoint = `tcp://${node.host}:${node.clientPort}`;
    const stranger = zmq.curveKeyPair();
    const strangerAdmin = new AdminClient([endpoint], 500, {
      credentials: {
        identity: 'mallory',
        publicKey: stranger.publicKey,
        secretKey: { reveal: () => stranger.secretKey } as never,
        brokerKeys: new Map([[endpoint, node.publicKey]]),
      },
    });
    const nullAdmin = new AdminClient([endpoint], 500);
    const plain = await sendRaw({ plainUsername: 'admin', plainPassword: 'admin' }, endpoint, []);
    t.teardown(async () => {
      plain.close();
      await strangerAdmin.close();
      await nullAdmin.close();
    });
    // A refused CURVE handshake reaches the client (ZAP status 400): it fails at once.
    const refused = await t.throwsAsync(strangerAdmin.status(endpoint), { name: 'BrokerError' });
    t.regex(
      refused?.message ?? '',
      /refused this connection at its handshake.*does not admit this client's key/,
    );
    await t.throwsAsync(nullAdmin.status(endpoint), { name: 'TimeoutError' });
    await handshakesRefusedBy(countersBefore, [node.id], 3);
    t.pass();
  },
);

test.serial('a node key naming another node as the sender is dropped and counted', async (t) => {
  const before = await protocolState();
  const countersBefore = await counters();
  const leader = leaderOf(before);
  const [target, impostor] = shared.nodes.filter((n) => n.id !== leader.id) as [
    NodeEntry,
    NodeEntry,
  ];
  const secretKey = readFileSync(impostor.secretKeyFile, 'utf8').trim();
  // The impostor's own key, admitted on the target's peer port, with frames
  // that name the sequencer as their sender.
  const socket = await sendRaw(
    {
      curveServerKey: target.publicKey,
      curvePublicKey: impostor.publicKey,
      curveSecretKey: secretKey,
    },
    `tcp://${target.host}:${target.peerPort}`,
    forgedFrames(leader.id, impostor.id, leader.epoch),
  );
  t.teardown(() => socket.close());
  await eventually(
    async () =>
      (await counters()).get(target.id)!.refused >= countersBefore.get(target.id)!.refused + 5,
    10_000,
    `${target.id} to refuse the five forged frames`,
    50,
  );
  t.deepEqual(await protocolState(), before);
});

test.serial('two clusters with different keys cannot talk', async (t) => {
  const other = await LocalCluster.start({
    nodes: 1,
    secure: { clients: ['bob'] },
    logs: 'ignore',
  });
  t.teardown(() => other.stop());
  const otherNode = JSON.parse(readFileSync(other.configPath, 'utf8')).nodes[0] as NodeEntry;
  const bob = loadCredentials(other.credentialsPaths.get('bob')!);
  const bobAdmin = new AdminClient(other.clientEndpoints, 2000, { credentials: bob });
  t.teardown(() => bobAdmin.close());
  const before = (await bobAdmin.status(other.clientEndpoints[0]!)).handshakesRefused;

  // A node of the first cluster, with its own key, at the other's peer, multicast and client ports.
  const n1 = shared.nodes[0]!;
  const keys = {
    curveServerKey: otherNode.publicKey,
    curvePublicKey: n1.publicKey,
    curveSecretKey: readFileSync(n1.secretKeyFile, 'utf8').trim(),
  };
  const sockets = [
    await sendRaw(keys, `tcp://${otherNode.host}:${otherNode.peerPort}`, []),
    await sendRaw(keys, `tcp://${otherNode.host}:${otherNode.clientPort}`, []),
  ];
  const sub = new zmq.Subscriber({ linger: 0, ...keys });
  sub.subscribe();
  sub.connect(`tcp://${otherNode.host}:${otherNode.pubPort}`);
  sockets.push(sub as unknown as zmq.Dealer);
  t.teardown(() => {
    for (const s of sockets) s.close();
  });
  await eventually(
    async () => (await bobAdmin.status(other.clientEndpoints[0]!)).handshakesRefused >= before + 3,
    10_000,
    'the other cluster to refuse the first cluster’s node key on three ports',
    50,
  );
  // And the first cluster's client is no client of the other.
  const alice = loadCredentials(shared.cluster.credentialsPaths.get('alice')!);
  const aliceThere = new AdminClient(other.clientEndpoints, 500, {
    credentials: {
      ...alice,
      brokerKeys: new Map([[other.clientEndpoints[0]!, otherNode.publicKey]]),
    },
  });
  t.teardown(() => aliceThere.close());
  await t.throwsAsync(aliceThere.status(other.clientEndpoints[0]!), {
    message: /refused this connection at its handshake/,
  });
});

test.serial(
  'an identity gets ForbiddenError naming the permission it lacks: topics (deny wins), every topic, admin, and a producer id another identity owns',
  async (t) => {
    const brokers = shared.cluster.clientEndpoints;
    const alice = { credentials: loadCredentials(shared.cluster.credentialsPaths.get('alice')!) };
    const bob = { credentials: loadCredentials(shared.cluster.credentialsPaths.get('bob')!) };
    const bobPublisher = new Publisher({ brokers, runtime: bob });
    const alicePublisher = new Publisher({ brokers, runtime: alice, producerId: 'alice-orders' });
    const bobAdmin = new AdminClient(brokers, 2000, bob);
    t.teardown(async () => {
      await bobPublisher.close();
      await alicePublisher.close();
      await bobAdmin.close();
    });

    t.like(await bobPublisher.publish('orders.new', 'allowed'), { duplicate: false });
    const payments = await t.throwsAsync(bobPublisher.publish('payments', 'x'), {
      instanceOf: ForbiddenError,
    });
    t.regex(payments.message, /identity 'bob' lacks permission 'publish' on topic 'payments'/);
    t.false(payments.retriable);
    await t.throwsAsync(bobPublisher.publish('orders.secret', 'x'), {
      message: /identity 'bob' lacks permission 'publish' on topic 'orders.secret'/,
    });

    const everything = new Subscriber({ brokers, fromSeq: 1, runtime: bob });
    const failure = await t.throwsAsync(
      collect(everything, () => true, 10_000),
      {
        instanceOf: ForbiddenError,
      },
    );
    t.regex(failure.message, /identity 'bob' lacks permission 'subscribe' on every topic/);
    await everything.close();
    const orders = new Subscriber({ brokers, fromSeq: 1, topics: ['orders.new'], runtime: bob });
    const read = await collect(orders, (m) => m.length >= 1, 10_000);
    t.is(read[0]!.topic, 'orders.new');
    await orders.close();

    const leader = (await bobAdmin.statusAll()).find((b) => b.status?.role === 'leader')!.status!;
    const target = shared.nodes.find((n) => n.id !== leader.id)!.id;
    await t.throwsAsync(bobAdmin.transferLeader(target, 1000), {
      instanceOf: ForbiddenError,
      message: /identity 'bob' lacks permission 'admin' \(transfer-leader\)/,
    });
    // A membership change admits a node key on every node: admin only.
    await t.throwsAsync(bobAdmin.changeMembers('remove', target, null, 2000), {
      instanceOf: ForbiddenError,
      message: /identity 'bob' lacks permission 'admin' \(members remove\)/,
    });
    t.is((await bobAdmin.members()).members.length, 3, 'listing the members needs no permission');

    // Alice's producer id is hers: bob publishing under it is refused, and
    // alice's next message is stored, not taken for a duplicate.
    const first = await alicePublisher.publish('orders.new', 'alice 1');
    const thief = new Publisher({
      brokers,
      runtime: bob,
      producerId: 'alice-orders',
      firstProducerSeq: 2,
    });
    t.teardown(() => thief.close());
    await t.throwsAsync(thief.publish('orders.new', 'stolen'), {
      instanceOf: ForbiddenError,
      message: /producer id 'alice-orders', which belongs to another identity/,
    });
    const second = await alicePublisher.publish('orders.new', 'alice 2');
    t.false(second.duplicate);
    t.is(second.producerSeq, 2);
    t.true(second.seq > first.seq);
    const statuses = await shared.admin.statusAll();
    const forbidden = statuses.reduce((sum, b) => sum + (b.status?.requestsForbidden ?? 0), 0);
    t.true(forbidden >= 5, `requestsForbidden summed over the nodes: ${forbidden}`);
  },
);

test.serial(
  'a publisher goes on after a message refused for good: the messages after it take its producerSeq, in the same session',
  async (t) => {
    const brokers = shared.cluster.clientEndpoints;
    const bob = { credentials: loadCredentials(shared.cluster.credentialsPaths.get('bob')!) };
    const publisher = new Publisher({ brokers, runtime: bob, publishTimeoutMs: 10_000 });
    t.teardown(() => publisher.close());
    const first = await publisher.publish('orders.new', 'before the refusal');
    // Sent together, so that the allowed one after the refused one is in flight with it.
    const [refused, after] = await Promise.allSettled([
      publisher.publish('payments', 'refused'),
      publisher.publish('orders.new', 'after the refusal'),
    ]);
    t.is(refused.status, 'rejected');
    t.true((refused as PromiseRejectedResult).reason instanceof ForbiddenError);
    t.is(after.status, 'fulfilled');
    const ack = (after as PromiseFulfilledResult<PublishAck>).value;
    t.is(ack.producerId, first.producerId);
    t.is(ack.producerSeq, first.producerSeq + 1);
    t.true(ack.seq > first.seq);
    const last = await publisher.publish('orders.new', 'later');
    t.is(last.producerSeq, first.producerSeq + 2);
  },
);

test.serial(
  'publishManySettled gives each message its own outcome: the forbidden ones fail, the others commit in order and are read back',
  async (t) => {
    const brokers = shared.cluster.clientEndpoints;
    const bob = { credentials: loadCredentials(shared.cluster.credentialsPaths.get('bob')!) };
    const publisher = new Publisher({ brokers, runtime: bob });
    t.teardown(() => publisher.close());
    const topics = ['orders.new', 'payments', 'orders.new', 'orders.secret', 'orders.new'];
    const outcomes = await publisher.publishManySettled(
      topics.map((topic, i) => ({ topic, payload: `settled-${i}` })),
    );
    t.deepEqual(
      outcomes.map((o) => o.ok),
      [true, false, true, false, true],
    );
    for (const i of [1, 3]) {
      const outcome = outcomes[i]!;
      if (outcome.ok) continue;
      t.true(outcome.error instanceof ForbiddenError);
      t.regex(outcome.error.message, new RegExp(`on topic '${topics[i]}'`));
    }
    const acks = outcomes.flatMap((o) => (o.ok ? [o.ack] : []));
    // The refused producerSeqs were closed up: the allowed messages run on from 1.
    t.deepEqual(
      acks.map((a) => a.producerSeq),
      [1, 2, 3],
    );
    t.true(acks[0]!.seq < acks[1]!.seq && acks[1]!.seq < acks[2]!.seq);
    const reader = new Subscriber({
      brokers,
      fromSeq: acks[0]!.seq,
      topics: ['orders.new'],
      runtime: bob,
    });
    t.teardown(() => reader.close());
    const read = await collect(reader, (m) => m.at(-1)!.seq >= acks[2]!.seq, 10_000);
    t.deepEqual(
      read.map((m) => [m.seq, new TextDecoder().decode(m.payload)]),
      acks.map((a, k) => [a.seq, `settled-${2 * k}`]),
    );
  },
);

test.serial(
  "replica writes need 'admin': a snapshot offer at seq 2^50 and spoofed divergence reports from an identity without it are refused and change nothing",
  async (t) => {
    const bob = { credentials: loadCredentials(shared.cluster.credentialsPaths.get('bob')!) };
    const connections = shared.cluster.clientEndpoints.map(
      (endpoint) => new BrokerConnection(endpoint, { runtime: bob }),
    );
    t.teardown(() => {
      for (const c of connections) c.close();
    });
    const plugin = 'forged-app';
    for (const connection of connections) {
      // A snapshot no later one could displace, for late joiners to restore from.
      await t.throwsAsync(
        connection.request(
          {
            putSnapshotChunk: {
              plugin,
              replicaId: 'forger',
              seq: 2 ** 50,
              digest: 'f'.repeat(64),
              totalBytes: 3,
              chunkBytes: 3,
              index: 0,
              data: new Uint8Array([1, 2, 3]),
              sha256: new Uint8Array(32),
              probe: false,
            },
          },
          5000,
        ),
        { instanceOf: ForbiddenError, message: /identity 'bob' lacks permission 'admin'/ },
      );
      // Two replicas reporting different digests at one seq would flag a divergence.
      for (const [replicaId, digest] of [
        ['spoof-1', 'a'.repeat(64)],
        ['spoof-2', 'b'.repeat(64)],
      ] as const) {
        await t.throwsAsync(
          connection.request(
            { replicaReport: { replicaId, plugin, appliedSeq: 10, digestSeq: 10, digest } },
            5000,
          ),
          { instanceOf: ForbiddenError, message: /identity 'bob' lacks permission 'admin'/ },
        );
      }
    }
    const alice = { credentials: loadCredentials(shared.cluster.credentialsPaths.get('alice')!) };
    for (const endpoint of shared.cluster.clientEndpoints) {
      const reader = new BrokerConnection(endpoint, { runtime: alice });
      try {
        const answer = await reader.request(
          { getSnapshotChunk: { plugin, seq: 0, index: 0, describe: true } },
          5000,
        );
        t.false(answer.snapshotChunk?.found ?? false, `${endpoint} holds no forged snapshot`);
      } finally {
        reader.close();
      }
    }
    for (const { status } of await shared.admin.statusAll()) {
      const replicas = JSON.stringify(status?.replicas ?? []);
      t.false(replicas.includes(plugin), `${status?.id} lists no forged replica: ${replicas}`);
    }
  },
);

test.serial('no secret key appears in a node log or a status answer', async (t) => {
  const secrets = [
    ...shared.nodes.map((n) => readFileSync(n.secretKeyFile, 'utf8').trim()),
    ...[...shared.cluster.credentialsPaths.values()].map(
      (path) => JSON.parse(readFileSync(path, 'utf8')).secretKey as string,
    ),
  ];
  const status = JSON.stringify(await shared.admin.statusAll());
  t.true(shared.logLines.length > 0);
  for (const secret of secrets) {
    t.false(shared.logLines.some((line) => line.includes(secret)));
    t.false(status.includes(secret));
  }
});

test.serial(
  "a producer id stays its owner's across a kill -9 of the sequencer and a restart: the new sequencer and the restarted node refuse another identity under it",
  async (t) => {
    const brokers = shared.cluster.clientEndpoints;
    const alice = { credentials: loadCredentials(shared.cluster.credentialsPaths.get('alice')!) };
    const bob = { credentials: loadCredentials(shared.cluster.credentialsPaths.get('bob')!) };
    const owner = new Publisher({ brokers, runtime: alice, producerId: 'alice-ledger' });
    t.teardown(() => owner.close());
    const first = await owner.publish('orders.ledger', 'alice 1');

    const killed = (await shared.admin.findLeader())!;
    await shared.cluster.signalNode(killed.id, 'SIGKILL');
    const next = await eventually(
      async () => {
        const leader = await shared.admin.findLeader();
        return leader !== null && leader.id !== killed.id ? leader : null;
      },
      20_000,
      'a new sequencer after the kill',
    );
    t.not(next.id, killed.id);

    // Bob under alice's producer id, at the new sequencer: as the next
    // message, and as a retry of her first (which must not read as a duplicate).
    for (const firstProducerSeq of [2, 1]) {
      const thief = new Publisher({
        brokers: [next.endpoint],
        runtime: bob,
        producerId: 'alice-ledger',
        firstProducerSeq,
      });
      t.teardown(() => thief.close());
      await t.throwsAsync(thief.publish('orders.ledger', 'stolen'), {
        instanceOf: ForbiddenError,
        message:
          /identity 'bob' lacks permission 'publish' under producer id 'alice-ledger', which belongs to another identity/,
      });
    }
    const second = await owner.publish('orders.ledger', 'alice 2');
    t.false(second.duplicate);
    t.is(second.producerSeq, 2);
    t.true(second.seq > first.seq);

    // The killed node rebuilds the owner from its own log when it restarts,
    // and refuses bob once it is the sequencer again.
    await shared.cluster.startNode(killed.id);
    await eventually(
      async () => {
        const all = await shared.admin.statusAll();
        const restarted = all.find((b) => b.status?.id === killed.id)?.status;
        return restarted !== undefined && restarted !== null && restarted.commitSeq >= second.seq;
      },
      20_000,
      `node ${killed.id} caught up`,
    );
    await shared.admin.transferLeader(killed.id);
    const thief = new Publisher({
      brokers: [killed.endpoint],
      runtime: bob,
      producerId: 'alice-ledger',
      firstProducerSeq: 3,
    });
    t.teardown(() => thief.close());
    await t.throwsAsync(thief.publish('orders.ledger', 'stolen'), {
      instanceOf: ForbiddenError,
      message: /producer id 'alice-ledger', which belongs to another identity/,
    });
    t.like(await owner.publish('orders.ledger', 'alice 3'), { duplicate: false, producerSeq: 3 });
  },
);
