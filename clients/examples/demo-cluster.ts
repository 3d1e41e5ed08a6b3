/**
 * Shared set-up of the example demos: their command line and a few replicas
 * of one plugin, each in its own temporary data folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Replica, startReplica } from '../replica/replica-host.js';
import type { StateMachineFactory } from '../replica/state-machine.js';

export interface DemoArgs {
  readonly brokers: string[];
  readonly replicas: number;
  readonly count: number;
}

/** `--brokers` defaults to the cluster `ordo dev --port 7001` starts. */
export function demoArgs(defaultCount: number): DemoArgs {
  const { values } = parseArgs({
    options: {
      brokers: { type: 'string', default: '127.0.0.1:7001,127.0.0.1:7004,127.0.0.1:7007' },
      replicas: { type: 'string', default: '3' },
      count: { type: 'string', default: String(defaultCount) },
    },
  });
  const brokers = values.brokers.split(',').map((b) => (b.includes('://') ? b : `tcp://${b}`));
  return { brokers, replicas: Number(values.replicas), count: Number(values.count) };
}

export interface DemoReplicas {
  readonly replicas: Replica[];
  close(): Promise<void>;
}

export async function startDemoReplicas(
  args: DemoArgs,
  plugin: string,
  stateMachine: StateMachineFactory,
): Promise<DemoReplicas> {
  const folders: string[] = [];
  const replicas: Replica[] = [];
  for (let i = 1; i <= args.replicas; i++) {
    const dataDir = mkdtempSync(join(tmpdir(), `ordo-${plugin}-`));
    folders.push(dataDir);
    replicas.push(
      await startReplica({
        brokers: args.brokers,
        plugin,
        stateMachine,
        dataDir,
        replicaId: `${plugin}-demo-${i}`,
        digestIntervalSeqs: 100,
        snapshotEveryMessages: 500,
      }),
    );
  }
  return {
    replicas,
    async close() {
      await Promise.all(replicas.map((r) => r.close()));
      for (const folder of folders) rmSync(folder, { recursive: true, force: true });
    },
  };
}
