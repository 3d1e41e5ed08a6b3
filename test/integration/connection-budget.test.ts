import test, { type ExecutionContext } from 'ava';
import * as zmq from 'zeromq';
import { AdminClient, LimitError, Publisher, Subscriber } from '../../clients/index.js';
import { freePorts } from '../../src/cluster/free-ports.js';
import { BrokerNode } from '../../src/node/broker-node.js';
import { parseClusterConfig } from '../../src/node/cluster-config.js';
import { NO_FAULTS } from '../../src/node/fault-injection.js';
import { productionEdges } from '../../src/node/production-edges.js';
import { createLogger } from '../../src/runtime/logger.js';
import { MemoryLogStore, MemoryMetaStore } from '../../src/storage/memory-log-store.js';
import { collect, decode, eventually } from '../helpers/cluster.js';

/**
 * The connection budgets of a node's client port, over real ZeroMQ sockets:
 * the ZAP handler sees every handshake (insecure ones too) with the peer's
 * address and refuses it past the budget; the client hears the refusal and
 * reports it as a LimitError instead of timing out.
 */

async function startNode(
  t: ExecutionContext,
  budgets: { maxConnectionsPerNode?: number; maxConnectionsPerAddress?: number },
): Promise<BrokerNode> {
  const [clientPort, peerPort, pubPort] = await freePorts(3);
  const config = parseClusterConfig({
    clusterId: `budget-${process.pid}-${clientPort}`,
    fsync: 'memory',
    nodes: [{ id: 'n1', host: '127.0.0.1', clientPort, peerPort, pubPort }],
  });
  const logger = createLogger('n1', process.env['ORDO_TEST_LOGS'] ? 'info' : 'error');
  const node = await BrokerNode.start({
    config,
    nodeId: 'n1',
    store: new MemoryLogStore(1000),
    meta: new MemoryMetaStore(),
    logger,
    edges: productionEdges(config, 'n1', NO_FAULTS, logger, budgets),
  });
  t.teardown(() => node.stop());
  await eventually(async () => node.status().role === 'leader', 5000, 'n1 to lead');
  return node;
}

/** Connects a DEALER and resolves with whether its handshake was admitted or refused (ZAP status). */
function dial(endpoint: string, sockets: zmq.Dealer[]): Promise<'admitted' | number> {
  const socket = new zmq.Dealer({ linger: 0 });
  sockets.push(socket);
  const outcome = new Promise<'admitted' | number>((resolve) => {
    socket.events.on('handshake', () => resolve('admitted'));
    socket.events.on('handshake:error:auth', (event) => resolve(event.error.status));
  });
  socket.connect(endpoint);
  return outcome;
}

test('one source address holds at most its budget of connections; a refused client gets LimitError, and closing frees the place', async (t) => {
  const node = await startNode(t, { maxConnectionsPerAddress: 3 });
  const endpoint = node.clientEndpoint;
  const hogs: zmq.Dealer[] = [];
  t.teardown(() => {
    for (const socket of hogs) socket.close();
  });
  const outcomes: ('admitted' | number)[] = [];
  // One at a time, so that which are admitted does not depend on timing.
  for (let i = 0; i < 5; i++) outcomes.push(await dial(endpoint, hogs));
  t.deepEqual(outcomes, ['admitted', 'admitted', 'admitted', 400, 400]);
  // The two refused sockets keep redialling; close them.
  for (const socket of hogs.splice(3)) socket.close();

  // The library says LIMIT, not "no broker is answering".
  const publisher = new Publisher({ brokers: [endpoint], publishTimeoutMs: 2000 });
  const error = await t.throwsAsync(publisher.publish('t', 'refused'), { instanceOf: LimitError });
  t.regex(error?.message ?? '', /refused this connection at its handshake/);
  t.regex(error?.message ?? '', /maxClientConnectionsPerAddress/);
  t.true(error?.retriable);
  await publisher.close();
  const subscriber = new Subscriber({ brokers: [endpoint], fromSeq: 1 });
  await t.throwsAsync(
    collect(subscriber, () => true, 5000),
    { instanceOf: LimitError },
  );
  await subscriber.close();
  const status = node.status();
  t.true(Number(status.connectionsRefused) >= 2);
  t.true(Number(status.handshakesRefused) >= 2);

  // The hogs leave: a normal client connects, publishes and reads back.
  for (const socket of hogs.splice(0)) socket.close();
  await eventually(
    async () => Number(node.status().clientConnections) === 0,
    5000,
    'the closed connections to be counted out',
  );
  const normal = new Publisher({ brokers: [endpoint] });
  const ack = await normal.publish('t', 'after the hogs');
  await normal.close();
  const reader = new Subscriber({ brokers: [endpoint], fromSeq: ack.seq });
  const [message] = await collect(reader, (m) => m.length >= 1, 5000);
  await reader.close();
  t.is(decode(message!.payload), 'after the hogs');
});

test('a node holds at most its budget of connections from all addresses; its status counts them', async (t) => {
  const node = await startNode(t, { maxConnectionsPerNode: 4 });
  const endpoint = node.clientEndpoint;
  const sockets: zmq.Dealer[] = [];
  t.teardown(() => {
    for (const socket of sockets) socket.close();
  });
  const outcomes: ('admitted' | number)[] = [];
  for (let i = 0; i < 6; i++) outcomes.push(await dial(endpoint, sockets));
  t.deepEqual(outcomes.slice(0, 4), ['admitted', 'admitted', 'admitted', 'admitted']);
  t.deepEqual(outcomes.slice(4), [400, 400]);
  const admin = new AdminClient([endpoint]);
  t.teardown(() => admin.close());
  for (const socket of sockets.splice(4)) socket.close();
  // An admin request needs a connection too: it is refused while four are held...
  await t.throwsAsync(admin.status(endpoint));
  for (const socket of sockets.splice(0, 1)) socket.close();
  // ...and answered once one is free.
  const status = await eventually(
    async () => {
      try {
        return await admin.status(endpoint);
      } catch {
        return null;
      }
    },
    5000,
    'a status answer',
  );
  t.true(status.connectionsRefused >= 2);
  t.true(status.clientConnections <= 4);
});
