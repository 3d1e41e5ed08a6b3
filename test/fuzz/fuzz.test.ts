import test from 'ava';
import { type FuzzTarget, mib, runFuzz } from './fuzz.js';

/**
 * The fuzzer's short run, as CI runs it: a few thousand random and mutated
 * frames through a real node's client and peer edges and a few hundred
 * damaged logs through recovery, with fixed seeds. The long run is
 * `npm run fuzz -- --target client|peer|storage --frames N --seed S`.
 */
const runs: { target: FuzzTarget; frames: number; seed: number }[] = [
  { target: 'client', frames: 4000, seed: 1 },
  { target: 'peer', frames: 8000, seed: 2 },
  { target: 'storage', frames: 80, seed: 3 },
];

for (const { target, frames, seed } of runs) {
  test.serial(
    `fuzz ${target}: ${frames} frames, seed ${seed}: no crash, hang or corrupted record`,
    async (t) => {
      const report = await runFuzz({ target, frames, seed, hangMs: 5000 });
      t.log(
        `${report.accepted} accepted, ${report.refused} refused, ${report.logEntries} log entries; peak RSS ${mib(report.rssPeakBytes)} MiB; ${report.durationMs} ms`,
      );
      t.deepEqual(report.crashes, []);
      t.is(report.hangs, 0);
      t.is(report.corruptRecords, 0);
      // Both sides of the input were exercised: valid frames taken, bad ones refused.
      t.true(report.accepted > 0);
      t.true(report.refused > 0);
      if (target !== 'storage') t.true(report.logEntries > 0, 'valid frames reached the log');
    },
  );
}
