import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import winston from 'winston';
import { Publisher } from '../../clients/index.js';
import { toNodeStatus } from '../../clients/node-status.js';
import { assessCluster } from '../../src/cluster/cluster-health.js';
import { freePorts } from '../../src/cluster/free-ports.js';
import { nodeStatusJson } from '../../src/cluster/status-json.js';
import { BrokerNode } from '../../src/node/broker-node.js';
import { parseClusterConfig } from '../../src/node/cluster-config.js';
import { NO_FAULTS } from '../../src/node/fault-injection.js';
import { productionEdges } from '../../src/node/production-edges.js';
import { createNodeStorage } from '../../src/node/storage-factory.js';
import { createLogger } from '../../src/runtime/logger.js';
import { ordo } from '../../src/wire/schema.js';
import { eventually } from '../helpers/cluster.js';
import { publishRaw } from '../helpers/raw-publish.js';

/**
 * A node whose disk fills up, on a real (small) file system: a 4 MiB tmpfs
 * mounted for this test (root only; the test is skipped elsewhere).
 */

const mountPoint = mkdtempSync(join(tmpdir(), 'ordo-disk-full-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  rmdirSync(mountPoint);
}

test.after.always(() => {
  if (!mounted) return;
  execFileSync('umount', [mountPoint]);
  rmdirSync(mountPoint);
});

/** Fills the file system with a ballast file until a write fails with ENOSPC. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let bytes = 0;
  try {
    for (;;) {
      try {
        bytes += writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        // Top up the last partial chunk byte by byte.
        try {
          for (;;) bytes += writeSync(fd, chunk, 0, 1);
        } catch {
          return bytes;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

(mounted ? test : test.skip)(
  'a node whose disk is full acknowledges nothing it could not write, refuses publishes with BUSY, and carries on when space returns',
  async (t) => {
    const [clientPort, peerPort, pubPort] = await freePorts(3);
    const config = parseClusterConfig({
      clusterId: 'disk-full',
      fsync: 'always',
      dataDir: join(mountPoint, 'data'),
      nodes: [{ id: 'n1', host: '127.0.0.1', clientPort, peerPort, pubPort }],
    });
    const logLines: string[] = [];
    const logger = createLogger('n1', 'info');
    // Its lines are kept for the checks below, not printed.
    logger.clear();
    logger.add(
      new winston.transports.Stream({
        stream: new Writable({
          objectMode: true,
          write(info: { message: string }, _encoding, done) {
            logLines.push(info.message);
            done();
          },
        }),
      }),
    );
    let fatal: Error | null = null;
    const start = async () => {
      const storage = await createNodeStorage(config, 'n1');
      return BrokerNode.start({
        config,
        nodeId: 'n1',
        ...storage,
        logger,
        edges: {
          ...productionEdges(config, 'n1', NO_FAULTS, logger),
          onFatal: (error) => {
            fatal = error;
          },
        },
      });
    };
    let node = await start();
    t.teardown(() => node.stop());
    await eventually(async () => node.status().role === 'leader', 5000, 'n1 to lead');
    const publisher = new Publisher({ brokers: [node.clientEndpoint], publishTimeoutMs: 30_000 });
    t.teardown(() => publisher.close());
    t.is((await publisher.publish('t', 'before')).seq > 0, true);
    // Its commit point is saved within a second: let that happen first, so
    // that the next thing the node writes is the log.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const ballast = join(mountPoint, 'ballast');
    const ballastBytes = fill(ballast);
    t.log(`disk full after a ballast of ${ballastBytes} bytes`);
    // This message cannot be written: it must not be acknowledged.
    let acknowledged = false;
    const waiting = publisher.publish('t', 'x'.repeat(64 * 1024)).then((ack) => {
      acknowledged = true;
      return ack;
    });
    waiting.catch(() => {});
    const status = await eventually(
      async () => {
        const s = node.status();
        return s.degraded !== '' ? s : null;
      },
      10_000,
      'the node to say it cannot write its log',
    );
    t.regex(String(status.degraded), /cannot write its log \(ENOSPC/);
    t.true(Number(status.logWriteFailures) > 0, 'failed writes are counted');
    // 'ordo status' calls the cluster degraded and says why.
    const report = assessCluster([
      {
        endpoint: node.clientEndpoint,
        reachable: true,
        error: '',
        status: nodeStatusJson(toNodeStatus(status)),
      },
    ]);
    t.is(report.health, 'degraded');
    t.true(
      report.problems.some((p) =>
        /node n1 refuses publishes: it cannot write its log \(ENOSPC/.test(p),
      ),
    );
    const refused = await publishRaw(node.clientEndpoint, 'raw', 1);
    t.is(refused.status, ordo.PublishStatus.PUBLISH_STATUS_BUSY);
    t.regex(refused.detail ?? '', /cannot write its log \(ENOSPC/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.false(acknowledged, 'nothing unwritten is acknowledged');
    t.is(fatal, null, 'the node did not stop');
    t.true(
      logLines.some((l) => /cannot write its log \(ENOSPC/.test(l)),
      'the node logs why it refuses publishes',
    );

    // Space returns: the write goes through and is acknowledged, once.
    unlinkSync(ballast);
    const ack = await waiting;
    t.true(ack.seq > 0, 'the waiting message is acknowledged once written');
    const after = await publisher.publish('t', 'after');
    t.is(after.seq, ack.seq + 1);
    t.is(node.status().degraded, '');
    await eventually(
      async () => logLines.some((l) => /can write its log again/.test(l)),
      5000,
      'the node to log that it can write again',
    );

    // The log on disk holds every acknowledged message once, in order.
    await publisher.close();
    await node.stop();
    node = await start();
    await eventually(async () => node.status().role === 'leader', 5000, 'n1 to lead again');
    t.true(
      Number(node.status().lastSeq) >= after.seq,
      'the log on disk holds what was acknowledged',
    );
    t.is(fatal, null);
  },
);
