/**
 * Demo: three replicas of the ledger, a burst of random transfers, and the
 * proof that every replica ends in the same state with the total unchanged.
 * Against `ordo dev --port 7001`: `node dist/clients/examples/ledger-demo.js`.
 */
import { Publisher } from '../publisher.js';
import { demoArgs, startDemoReplicas } from './demo-cluster.js';
import createLedger, {
  encodeLedgerCommand,
  type LedgerTotal,
  ledgerTopic,
  pluginName,
} from './ledger.js';

const args = demoArgs(2000);
const accounts = Array.from({ length: 10 }, (_, i) => `account-${i}`);
const openingBalance = 1000;
const demo = await startDemoReplicas(args, pluginName, createLedger);
const publisher = new Publisher({ brokers: args.brokers });
try {
  const acks = accounts.map((account) =>
    publisher.publish(
      ledgerTopic,
      encodeLedgerCommand({ op: 'open', account, initial: openingBalance }),
    ),
  );
  for (let i = 0; i < args.count; i++) {
    // Randomness belongs to the client that makes up the transfers, never to the plugin that applies them.
    const from = accounts[Math.floor(Math.random() * accounts.length)]!;
    const to = accounts[Math.floor(Math.random() * accounts.length)]!;
    const amount = 1 + Math.floor(Math.random() * 300);
    acks.push(
      publisher.publish(ledgerTopic, encodeLedgerCommand({ op: 'transfer', from, to, amount })),
    );
  }
  const lastSeq = Math.max(...(await Promise.all(acks)).map((a) => a.seq));
  console.log(`published ${acks.length} ledger commands, the last at seq ${lastSeq}`);
  let failed = false;
  for (const replica of demo.replicas) {
    await replica.whenApplied(lastSeq);
    const total = replica.query<{ op: 'total' }, LedgerTotal>({ op: 'total' });
    const stats = replica.query({ op: 'stats' });
    const { digest } = replica.currentDigest();
    console.log(
      `${replica.replicaId}: seq ${replica.appliedSeq}  digest ${digest.slice(0, 16)}  total ${total.total} (opened ${total.opened})  ${JSON.stringify(stats)}`,
    );
    if (total.total !== total.opened) failed = true;
  }
  const digests = new Set(demo.replicas.map((r) => r.currentDigest().digest));
  console.log(digests.size === 1 ? 'all replicas hold the same state' : 'REPLICAS DIFFER');
  if (digests.size !== 1 || failed) process.exitCode = 1;
} finally {
  await publisher.close();
  await demo.close();
}
