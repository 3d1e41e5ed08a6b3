import { join } from 'node:path';
import { createLogger, type LogFormat } from '../runtime/logger.js';
import { SnapshotStorage } from '../storage/snapshot-storage.js';
import { BrokerNode } from './broker-node.js';
import {
  type ClusterConfig,
  configWarnings,
  isLoopback,
  isSecured,
  nodeCredentials,
} from './cluster-config.js';
import { ConfigError } from './config-error.js';
import { DataDirLock } from './data-dir-lock.js';
import { faultInjectionFromEnv } from './fault-injection.js';
import { NodeHttpServer } from './http-server.js';
import { NodeEventLog } from './node-event-log.js';
import { combineNodeMetrics } from './node-metrics.js';
import { PrometheusNodeMetrics } from './prometheus-metrics.js';
import { createNodeStorage } from './storage-factory.js';

export interface NodeProcessOptions {
  readonly logLevel?: string;
  readonly logFormat?: LogFormat;
  /** Set by `ordo dev`: development settings (fsync 'memory') draw no warning. */
  readonly dev?: boolean;
  /**
   * The node joins a running cluster: it does not take the config's nodes
   * as the members (they only tell it where its peers are) and learns the
   * membership from the sequencer once added with `ordo members add`.
   */
  readonly join?: boolean;
}

/** How often the event log looks at the node's status (membership, catch-up). */
const EVENT_LOG_INTERVAL_MS = 1000;

/**
 * Runs one broker node in this process until SIGINT or SIGTERM. When ready it
 * prints one JSON line `{"event":"ready",...}` on stdout, which tools that
 * start nodes (the local cluster, tests) wait for.
 */
export async function runNodeProcess(
  config: ClusterConfig,
  nodeId: string,
  options: NodeProcessOptions = {},
): Promise<void> {
  const self = config.nodes.find((n) => n.id === nodeId);
  if (self === undefined) {
    throw new ConfigError(
      `node id '${nodeId}' is not in the cluster config (members: ${config.nodes.map((n) => n.id).join(', ')})`,
    );
  }
  const logger = createLogger(nodeId, options.logLevel, options.logFormat);
  if (!isSecured(config)) {
    if (!isLoopback(self.bindHost) && config.insecure !== true) {
      throw new ConfigError(
        `node '${nodeId}' binds ${self.bindHost}, which other machines can reach, and the cluster has no keys: give every node a publicKey and secretKeyFile (ordo keygen), or set "insecure": true to run it open to anyone who reaches its ports`,
      );
    }
  }
  if (options.dev !== true) for (const warning of configWarnings(config)) logger.warn(warning);
  // Before any other file of the node is opened: one process per data folder.
  const lock = config.dataDir === null ? null : DataDirLock.acquire(join(config.dataDir, nodeId));
  if (!isSecured(config)) {
    logger.warn(
      `node ${nodeId} runs INSECURE: no keys in the cluster config, so any process that reaches its ports can read the stream, publish, and act as a node`,
    );
  }
  const metrics = new PrometheusNodeMetrics(nodeId);
  const events = new NodeEventLog(nodeId, logger);
  const storage = await createNodeStorage(config, nodeId, (ms) => metrics.observeFsyncMs(ms));
  // Snapshots for late-joining replicas need a data folder (docs/replicas.md).
  const snapshots =
    config.dataDir === null
      ? null
      : await SnapshotStorage.open(join(config.dataDir, nodeId, 'snapshots'), Date.now());
  const node = await BrokerNode.start({
    config,
    nodeId,
    logger,
    store: storage.store,
    meta: storage.meta,
    membership: storage.membership,
    ...(storage.incarnation === undefined
      ? {}
      : { incarnation: storage.incarnation, dataFolder: storage.dataFolder! }),
    ...(options.join === true ? { seedMembers: [] } : {}),
    faults: faultInjectionFromEnv(process.env['ORDO_TEST_FAULTS']),
    metrics: combineNodeMetrics(metrics, events),
    ...(storage.chainHash === undefined ? {} : { chainHash: storage.chainHash }),
    ...(storage.dedup === undefined ? {} : { dedup: storage.dedup }),
    ...(snapshots === null ? {} : { snapshots }),
  });
  metrics.attach(() => node.status());
  const eventTimer = setInterval(() => events.observe(node.status()), EVENT_LOG_INTERVAL_MS);
  let http: NodeHttpServer | null = null;
  let httpUrl: string | null = null;
  if (self.httpPort !== null) {
    const credentials = nodeCredentials(config, nodeId);
    http = new NodeHttpServer({
      config,
      self,
      status: () => node.status(),
      metrics,
      logger,
      ...(credentials === undefined ? {} : { credentials }),
    });
    httpUrl = await http.listen();
    logger.info(
      `node ${nodeId} serves metrics at ${httpUrl}/metrics and its status page at ${httpUrl}/`,
    );
  }
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', id: nodeId, clientEndpoint: node.clientEndpoint, httpUrl, pid: process.pid })}\n`,
  );
  const shutdown = (signal: string) => {
    logger.info(`node ${nodeId} stopping on ${signal}`);
    clearInterval(eventTimer);
    Promise.all([node.stop().then(() => snapshots?.close()), http?.close()]).then(
      () => {
        lock?.release();
        process.exit(0);
      },
      (error: Error) => {
        logger.error(`node ${nodeId} did not stop cleanly: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
