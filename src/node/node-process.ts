import { createLogger } from '../runtime/logger.js';
import { BrokerNode } from './broker-node.js';
import type { ClusterConfig } from './cluster-config.js';
import { faultInjectionFromEnv } from './fault-injection.js';
import { createNodeStorage } from './storage-factory.js';

/**
 * Runs one broker node in this process until SIGINT or SIGTERM. When ready it
 * prints one JSON line `{"event":"ready",...}` on stdout, which tools that
 * start nodes (the local cluster, tests) wait for.
 */
export async function runNodeProcess(config: ClusterConfig, nodeId: string): Promise<void> {
  const logger = createLogger(nodeId);
  const storage = await createNodeStorage(config, nodeId);
  const node = await BrokerNode.start({
    config,
    nodeId,
    logger,
    store: storage.store,
    meta: storage.meta,
    faults: faultInjectionFromEnv(process.env['ORDO_TEST_FAULTS']),
    ...(storage.chainHash === undefined ? {} : { chainHash: storage.chainHash }),
    ...(storage.dedup === undefined ? {} : { dedup: storage.dedup }),
  });
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', id: nodeId, clientEndpoint: node.clientEndpoint, pid: process.pid })}\n`,
  );
  const shutdown = (signal: string) => {
    logger.info(`node ${nodeId} stopping on ${signal}`);
    node.stop().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error(`node ${nodeId} did not stop cleanly: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
