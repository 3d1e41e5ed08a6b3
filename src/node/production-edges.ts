import { readFileSync } from 'node:fs';
import { LIMITS } from '../limits.js';
import { systemClock, systemRandom } from '../runtime/clock.js';
import { loadSecretKeyFile } from '../runtime/curve-keys.js';
import type { Logger } from '../runtime/logger.js';
import type { NodeEdges } from './broker-node.js';
import {
  type ClientPortOptions,
  clientConnectionBudget,
  ZmqClientFrameSocket,
} from './client-frame-socket.js';
import { type ClusterConfig, isSecured, type NodeAddress } from './cluster-config.js';
import { ConfigError } from './config-error.js';
import { openFilesLimit } from './connection-budget.js';
import type { FaultInjection } from './fault-injection.js';
import { PeerTransport } from './peer-transport.js';

/**
 * The edges a node runs on in production: ZeroMQ sockets, the system clock,
 * Math.random. On a secured cluster (every node has a public key) every
 * socket runs CurveZMQ under this node's secret key, read here from its
 * `secretKeyFile`; its client port admits the listed clients and the other
 * nodes (whose status requests build the cluster view): at start those of the
 * config, then the members in force, with the keys their config entries carry.
 */
export function productionEdges(
  config: ClusterConfig,
  nodeId: string,
  faults: FaultInjection,
  logger: Logger,
  /** Connection budgets of the client port (tests); LIMITS and the descriptor limit by default. */
  clientPort: ClientPortOptions = {},
): NodeEdges {
  const self = config.nodes.find((n) => n.id === nodeId)!;
  const others = config.nodes.filter((n) => n.id !== nodeId);
  const secured = isSecured(config);
  let secretKey = null;
  if (secured) {
    if (self.secretKeyFile === undefined) {
      throw new ConfigError(
        `node '${nodeId}' has a publicKey but no secretKeyFile: a secured node needs its secret key (ordo keygen writes one)`,
      );
    }
    secretKey = loadSecretKeyFile(self.secretKeyFile);
  }
  const peers = new PeerTransport(
    config.clusterId,
    self,
    others,
    faults,
    logger,
    secretKey === null ? null : { secretKey },
  );
  const clientKeys = new Map<string, string>();
  const admitOnClientPort = (nodes: readonly NodeAddress[]) => {
    clientKeys.clear();
    for (const node of nodes)
      if (node.publicKey !== undefined) clientKeys.set(node.publicKey, `node:${node.id}`);
    for (const client of config.clients ?? []) clientKeys.set(client.publicKey, client.identity);
  };
  admitOnClientPort(config.nodes);
  const fdLimit = openFilesLimit(() => readFileSync('/proc/self/limits', 'utf8'));
  const maxConnectionsPerNode = clientPort.maxConnectionsPerNode ?? clientConnectionBudget(fdLimit);
  const maxConnectionsPerAddress =
    clientPort.maxConnectionsPerAddress ?? LIMITS.maxClientConnectionsPerAddress;
  logger.info(
    `node ${nodeId} admits at most ${maxConnectionsPerNode} client connections (descriptor limit ${fdLimit ?? 'unknown'}), ${maxConnectionsPerAddress} per source address`,
  );
  const clientSocket = new ZmqClientFrameSocket(
    `tcp://${self.bindHost}:${self.clientPort}`,
    secretKey === null
      ? null
      : {
          secretKey,
          publicKey: self.publicKey!,
          domain: `ordo-client/${config.clusterId}/${nodeId}`,
          keys: clientKeys,
        },
    { maxConnectionsPerNode, maxConnectionsPerAddress },
  );
  return {
    peers,
    clientSocket,
    clock: systemClock,
    random: systemRandom,
    onFatal: () => {
      process.exitCode = 1;
    },
    connections: () => ({
      open: clientSocket.budget.open,
      refused: clientSocket.budget.refused,
    }),
    security: () => ({
      secured,
      handshakesRefused: peers.handshakesRefused + clientSocket.handshakesRefused,
    }),
    // The members in force (a node added through the log brings its key):
    // their status requests build the cluster view.
    membersChanged: (members) => {
      if (!secured) return;
      admitOnClientPort([self, ...members]);
      clientSocket.keysChanged();
    },
  };
}
