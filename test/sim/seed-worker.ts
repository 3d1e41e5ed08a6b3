import { parentPort } from 'node:worker_threads';
import { runSeed } from './run-seed.js';
import type { PlanOverrides } from './seed-plan.js';
import type { SeedSummary } from './seed-pool.js';

/** Runs the seeds it is sent, one at a time, and answers each with its summary. */
parentPort?.on('message', (job: { seed: number; overrides: PlanOverrides }) => {
  runSeed(job.seed, job.overrides).then(
    (result) => {
      const summary: SeedSummary = {
        seed: result.seed,
        violations: result.violations,
        stats: result.stats,
        drainTicks: result.drainTicks,
        drainBoundTicks: result.drainBoundTicks,
        nodeCount: result.plan.nodeCount,
      };
      parentPort?.postMessage(summary);
    },
    (error: Error) =>
      parentPort?.postMessage({ seed: job.seed, error: error.stack ?? String(error) }),
  );
});
