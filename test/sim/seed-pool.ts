import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Violation } from './checkers.js';
import type { PlanOverrides } from './seed-plan.js';
import type { SimStats } from './sim-stats.js';

/** Young-generation size of a seed worker, in MiB (V8's default is 16 on 64-bit). */
const SIM_WORKER_YOUNG_GENERATION_MB = 64;

/** What a worker reports of one seed (the full history stays in the worker). */
export interface SeedSummary {
  readonly seed: number;
  readonly violations: readonly Violation[];
  readonly stats: SimStats;
  readonly drainTicks: number | null;
  readonly drainBoundTicks: number | null;
  readonly nodeCount: number;
}

/** One worker per core by default: seeds are independent and each is deterministic. */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Runs `seeds` on `workers` worker threads and returns their summaries in
 * seed order. Which worker runs a seed changes nothing: a seed's run depends
 * on the seed alone. `onResult` sees each summary as it arrives (progress,
 * early output of failures).
 */
export async function runSeedsInParallel(
  seeds: readonly number[],
  overrides: PlanOverrides,
  workers: number = defaultWorkerCount(),
  onResult: (summary: SeedSummary) => void = () => {},
): Promise<SeedSummary[]> {
  const results = new Map<number, SeedSummary>();
  let next = 0;
  const script = new URL('./seed-worker.js', import.meta.url);
  const runWorker = (): Promise<void> =>
    new Promise((resolve, reject) => {
      // A larger young generation: a seed allocates many short-lived
      // buffers and messages, and fewer scavenges cost less in total.
      const worker = new Worker(script, {
        resourceLimits: { maxYoungGenerationSizeMb: SIM_WORKER_YOUNG_GENERATION_MB },
      });
      const feed = (): void => {
        const seed = seeds[next++];
        if (seed === undefined) {
          void worker.terminate().then(() => resolve());
          return;
        }
        worker.postMessage({ seed, overrides });
      };
      worker.on('message', (message: SeedSummary | { seed: number; error: string }) => {
        if ('error' in message) {
          void worker.terminate();
          reject(new Error(`seed ${message.seed} crashed the simulator: ${message.error}`));
          return;
        }
        results.set(message.seed, message);
        onResult(message);
        feed();
      });
      worker.on('error', reject);
      feed();
    });
  await Promise.all(
    Array.from({ length: Math.min(workers, Math.max(1, seeds.length)) }, runWorker),
  );
  return seeds.map((seed) => results.get(seed)!);
}
