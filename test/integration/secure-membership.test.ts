/**
 * Membership changes on a secured cluster: the config entry carries the new
 * node's public key, so every running node admits it on its peer sockets
 * without a config change, and stops admitting a removed node's key.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import * as zmq from 'zeromq';
import { AdminClient, loadCredentials, Publisher } from '../../clients/index.js';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { eventually } from '../helpers/cluster.js';
import { runOrdo } from '../helpers/ordo-cli.js';

interface ConfigNode {
  id: string;
  host: string;
  clientPort: number;
  peerPort: number;
  pubPort: number;
  publicKey: string;
  secretKeyFile: string;
}

/**
 * Connects a socket with `node`'s key pair to one of `server`'s ports (its
 * multicast port by default) and says whether `server` admitted the key at
 * the CurveZMQ handshake.
 */
async function handshakeAs(
  node: ConfigNode,
  server: ConfigNode,
  port: 'pubPort' | 'clientPort' = 'pubPort',
): Promise<'admitted' | 'refused'> {
  const options = {
    linger: 0,
    curveServerKey: server.publicKey,
    curvePublicKey: node.publicKey,
    curveSecretKey: readFileSync(node.secretKeyFile, 'utf8').trim(),
  };
  // A socket type the port's socket (PUB, ROUTER) talks to.
  const socket = port === 'pubPort' ? new zmq.Subscriber(options) : new zmq.Dealer(options);
  try {
    const outcome = new Promise<'admitted' | 'refused'>((resolve) => {
      socket.events.on('handshake', () => resolve('admitted'));
      socket.events.on('handshake:error:auth', () => resolve('refused'));
    });
    socket.connect(`tcp://${server.host}:${server[port]}`);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no handshake outcome within 10 s')), 10_000).unref(),
    );
    return await Promise.race([outcome, timeout]);
  } finally {
    socket.close();
  }
}

test('on a secured cluster a fourth node with its own key joins through ordo members add --public-key and votes; a removed node is refused at the handshake', async (t) => {
  const cluster = await LocalCluster.start({ secure: { clients: ['operator'] } });
  t.teardown(() => cluster.stop());
  const credentialsPath = cluster.credentialsPaths.get('operator')!;
  const credentials = loadCredentials(credentialsPath);
  const admin = new AdminClient(cluster.clientEndpoints, 2000, { credentials });
  t.teardown(() => admin.close());
  const publisher = new Publisher({ brokers: cluster.clientEndpoints, runtime: { credentials } });
  t.teardown(() => publisher.close());
  let lastSeq = 0;
  for (let i = 0; i < 20; i++) lastSeq = (await publisher.publish('members', `before-${i}`)).seq;

  // n4 has a key pair of its own; the running nodes' configs never list it.
  const n4 = await cluster.addNodeToConfig('n4');
  t.truthy(n4.publicKey);
  const nodes = () =>
    (JSON.parse(readFileSync(cluster.configPath, 'utf8')) as { nodes: ConfigNode[] }).nodes;
  const config4 = nodes().find((n) => n.id === 'n4')!;
  const [n1, n2, n3] = ['n1', 'n2', 'n3'].map((id) => nodes().find((n) => n.id === id)!);
  t.is(await handshakeAs(config4, n1!), 'refused', 'n4 is not admitted before it is added');
  t.is(await handshakeAs(config4, n1!, 'clientPort'), 'refused');

  await cluster.startNode('n4', ['--join']);
  const brokers = cluster.clientEndpoints.slice(0, 3).join(',');
  const added = await runOrdo(
    [
      'members',
      'add',
      'n4',
      '--host',
      config4.host,
      '--client-port',
      String(config4.clientPort),
      '--peer-port',
      String(config4.peerPort),
      '--pub-port',
      String(config4.pubPort),
      '--public-key',
      config4.publicKey,
      '--credentials',
      credentialsPath,
      '--brokers',
      brokers,
      '--json',
      '--wait-ms',
      '20000',
    ],
    30_000,
  );
  t.is(added.code, 0, added.stderr);
  const listed = JSON.parse(added.stdout.trim().split('\n').at(-1)!) as {
    members: { id: string; voter: boolean; publicKey: string }[];
  };
  t.deepEqual(
    listed.members.map((m) => [m.id, m.voter]),
    [
      ['n1', true],
      ['n2', true],
      ['n3', true],
      ['n4', true],
    ],
  );
  t.is(listed.members.find((m) => m.id === 'n4')!.publicKey, config4.publicKey);

  // n4 caught up through its peer links, which only its key from the log opened.
  const withN4 = new AdminClient([...cluster.clientEndpoints], 2000, {
    credentials: {
      ...credentials,
      brokerKeys: new Map([...credentials.brokerKeys, [n4.clientEndpoint, config4.publicKey]]),
    },
  });
  t.teardown(() => withN4.close());
  for (let i = 0; i < 5; i++) lastSeq = (await publisher.publish('members', `after-${i}`)).seq;
  await eventually(
    async () => (await withN4.status(n4.clientEndpoint)).commitSeq >= lastSeq,
    15_000,
    `n4 commits up to ${lastSeq}`,
  );
  for (const node of [n1!, n2!, n3!]) {
    t.is(await handshakeAs(config4, node), 'admitted', `${node.id} admits n4's key`);
    t.is(
      await handshakeAs(config4, node, 'clientPort'),
      'admitted',
      `${node.id}'s client port too`,
    );
  }

  // Remove a follower: every remaining node stops admitting its key.
  const leader = (await admin.findLeader())!;
  const removedId = ['n2', 'n3'].find((id) => id !== leader.id)!;
  const removedNode = nodes().find((n) => n.id === removedId)!;
  const removed = await runOrdo(
    ['members', 'remove', removedId, '--credentials', credentialsPath, '--brokers', brokers],
    30_000,
  );
  t.is(removed.code, 0, removed.stderr);
  await cluster.signalNode(removedId, 'SIGTERM');
  for (const node of nodes().filter((n) => n.id !== removedId)) {
    t.is(await handshakeAs(removedNode, node), 'refused', `${node.id} refuses ${removedId}'s key`);
    t.is(await handshakeAs(removedNode, node, 'clientPort'), 'refused');
  }
  t.like(await publisher.publish('members', 'after removal'), { duplicate: false });
});
