/**
 * Demo: three replicas of the key-value store, some puts and deletes, then
 * queries answered by each replica from its own copy.
 * Against `ordo dev --port 7001`: `node dist/clients/examples/kv-demo.js`.
 */
import { Publisher } from '../publisher.js';
import { demoArgs, startDemoReplicas } from './demo-cluster.js';
import createKvStore, { encodeKvCommand, kvTopic, pluginName } from './kv-store.js';

const args = demoArgs(500);
const demo = await startDemoReplicas(args, pluginName, createKvStore);
const publisher = new Publisher({ brokers: args.brokers });
try {
  const acks = [];
  for (let i = 0; i < args.count; i++) {
    acks.push(
      publisher.publish(
        kvTopic,
        encodeKvCommand({ op: 'put', key: `user/${i % 100}`, value: `v${i}` }),
      ),
    );
    if (i % 7 === 0)
      acks.push(
        publisher.publish(kvTopic, encodeKvCommand({ op: 'delete', key: `user/${(i * 3) % 100}` })),
      );
  }
  const lastSeq = Math.max(...(await Promise.all(acks)).map((a) => a.seq));
  console.log(`published ${acks.length} kv commands, the last at seq ${lastSeq}`);
  for (const replica of demo.replicas) {
    await replica.whenApplied(lastSeq);
    const size = replica.query({ op: 'size' });
    const first = replica.query({ op: 'scan', prefix: 'user/', limit: 3 });
    console.log(
      `${replica.replicaId}: seq ${replica.appliedSeq}  digest ${replica.currentDigest().digest.slice(0, 16)}  size ${JSON.stringify(size)}`,
    );
    console.log(`  scan user/ (3): ${JSON.stringify(first)}`);
  }
  const digests = new Set(demo.replicas.map((r) => r.currentDigest().digest));
  console.log(digests.size === 1 ? 'all replicas hold the same state' : 'REPLICAS DIFFER');
  if (digests.size !== 1) process.exitCode = 1;
} finally {
  await publisher.close();
  await demo.close();
}
