import { systemClock, systemRandom } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { NodeEdges } from './broker-node.js';
import { ZmqClientFrameSocket } from './client-frame-socket.js';
import type { ClusterConfig } from './cluster-config.js';
import type { FaultInjection } from './fault-injection.js';
import { PeerTransport } from './peer-transport.js';

/** The edges a node runs on in production: ZeroMQ sockets, the system clock, Math.random. */
export function productionEdges(
  config: ClusterConfig,
  nodeId: string,
  faults: FaultInjection,
  logger: Logger,
): NodeEdges {
  const self = config.nodes.find((n) => n.id === nodeId)!;
  const others = config.nodes.filter((n) => n.id !== nodeId);
  return {
    peers: new PeerTransport(config.clusterId, self, others, faults, logger),
    clientSocket: new ZmqClientFrameSocket(`tcp://${self.bindHost}:${self.clientPort}`),
    clock: systemClock,
    random: systemRandom,
    onFatal: () => {
      process.exitCode = 1;
    },
  };
}
