import test from 'ava';
import { Publisher } from '../../clients/index.js';
import { freePorts } from '../../src/cluster/free-ports.js';
import type { HardState } from '../../src/core/types.js';
import { BrokerNode } from '../../src/node/broker-node.js';
import { parseClusterConfig } from '../../src/node/cluster-config.js';
import { NO_FAULTS } from '../../src/node/fault-injection.js';
import { productionEdges } from '../../src/node/production-edges.js';
import { createLogger } from '../../src/runtime/logger.js';
import type { MetaStore } from '../../src/storage/log-store.js';
import { MemoryLogStore, MemoryMetaStore } from '../../src/storage/memory-log-store.js';
import { ordo } from '../../src/wire/schema.js';
import { eventually } from '../helpers/cluster.js';
import { publishRaw } from '../helpers/raw-publish.js';

/** A metadata store whose saves fail, while told to, as a full descriptor table or disk fails them. */
class ExhaustibleMetaStore implements MetaStore {
  private readonly inner = new MemoryMetaStore();
  failWith: 'EMFILE' | 'ENOSPC' | null = null;
  failedSaves = 0;
  saved: HardState[] = [];

  load(): Promise<HardState> {
    return this.inner.load();
  }

  async save(state: HardState): Promise<void> {
    if (this.failWith !== null) {
      this.failedSaves++;
      const error: NodeJS.ErrnoException = new Error(`${this.failWith}: cannot open meta.json.tmp`);
      error.code = this.failWith;
      throw error;
    }
    this.saved.push(state);
    await this.inner.save(state);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

for (const code of ['EMFILE', 'ENOSPC'] as const) {
  test(`a node whose state saves fail with ${code} refuses publishes with a clear error, acknowledges nothing unsaved, and recovers`, async (t) => {
    const [clientPort, peerPort, pubPort] = await freePorts(3);
    const config = parseClusterConfig({
      clusterId: `exhaustion-${code}`,
      fsync: 'memory',
      nodes: [{ id: 'n1', host: '127.0.0.1', clientPort, peerPort, pubPort }],
    });
    const logger = createLogger('n1', process.env['ORDO_TEST_LOGS'] ? 'info' : 'error');
    const meta = new ExhaustibleMetaStore();
    let fatal: Error | null = null;
    const node = await BrokerNode.start({
      config,
      nodeId: 'n1',
      store: new MemoryLogStore(1000),
      meta,
      logger,
      edges: {
        ...productionEdges(config, 'n1', NO_FAULTS, logger),
        onFatal: (error) => {
          fatal = error;
        },
      },
    });
    t.teardown(() => node.stop());
    await eventually(async () => node.status().role === 'leader', 5000, 'n1 to lead');
    const endpoint = node.clientEndpoint;
    const publisher = new Publisher({ brokers: [endpoint], publishTimeoutMs: 5000 });
    t.teardown(() => publisher.close());
    t.true((await publisher.publish('t', 'before')).seq > 0);

    meta.failWith = code;
    // The next commit point save (at most a second away) fails; the node does not stop.
    await publisher.publish('t', 'triggers a save');
    await eventually(async () => meta.failedSaves > 0, 5000, 'a failed save');
    const refused = await publishRaw(endpoint, 'during', 1);
    t.is(refused.status, ordo.PublishStatus.PUBLISH_STATUS_BUSY);
    t.regex(refused.detail ?? '', new RegExp(`cannot save its state \\(${code}\\)`));
    t.is(fatal, null, 'the node did not stop');
    const savedWhileFailing = meta.saved.length;

    meta.failWith = null;
    await eventually(async () => meta.saved.length > savedWhileFailing, 5000, 'a save to succeed');
    const after = await publisher.publish('t', 'after');
    t.true(after.seq > 0);
    // What was acknowledged is in the saved commit point, in order.
    const commits = meta.saved.map((s) => s.commitSeq);
    t.deepEqual(
      commits,
      [...commits].sort((a, b) => a - b),
    );
    t.is(fatal, null);
  });
}
