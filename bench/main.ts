/**
 * `npm run bench -- [name] [options]`: runs one sub-benchmark. Every process
 * a benchmark starts is tracked and stopped by pid, also when it fails or
 * the user interrupts it, so a benchmark never leaves nodes or publishers
 * running behind.
 */
import { type BenchArgs, parseBenchArgs, usage } from './args.js';
import { WorkerSet } from './children.js';
import { failoverBench } from './failover.js';
import { fsyncBench } from './fsync-bench.js';
import { checkIdle } from './idle-wait.js';
import { latencyBench } from './latency.js';
import { profileTop } from './profile-top.js';
import { rawZmqBench } from './raw-zmq-bench.js';
import { replicasBench } from './replicas.js';
import { secureBench } from './secure.js';
import { stabilityBench } from './stability.js';
import { throughputBench } from './throughput.js';
import { transferBench } from './transfer.js';

type Bench = (workers: WorkerSet, args: BenchArgs) => Promise<void>;

const benches: Record<string, Bench> = {
  throughput: throughputBench,
  latency: latencyBench,
  failover: failoverBench,
  stability: stabilityBench,
  fsync: fsyncBench,
  'raw-zmq': rawZmqBench,
  transfer: transferBench,
  replicas: replicasBench,
  secure: secureBench,
  'profile-top': async (_workers, args) => profileTop(args),
};

async function main(): Promise<void> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  const bench = benches[args.name];
  if (bench === undefined) {
    console.error(`unknown benchmark '${args.name}'\n\n${usage}`);
    process.exit(2);
  }
  const workers = new WorkerSet();
  // Interrupted: the normal clean-up paths will not run, so every node and
  // publisher still running is killed by pid here.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      workers.killAllNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  // The same for a bug in a benchmark that escapes its own clean-up.
  process.once('uncaughtException', (error) => {
    console.error(`benchmark '${args.name}' crashed: ${error.stack ?? error}`);
    workers.killAllNow();
    process.exit(1);
  });
  try {
    if (args.name !== 'profile-top') await checkIdle(args.waitIdleSeconds);
    await bench(workers, args);
  } catch (error) {
    console.error(`benchmark '${args.name}' failed: ${(error as Error).stack ?? error}`);
    process.exitCode = 1;
  } finally {
    await workers.stopAll();
  }
}

await main();
