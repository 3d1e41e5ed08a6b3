import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runChaos } from '../../chaos/harness.js';
import { formatResult } from '../../chaos/report.js';
import { scheduleNamed } from '../../chaos/schedules.js';

// The short chaos run CI does: three schedules of 30 s each on three real
// node processes in network namespaces, every history checked. It needs
// root for the namespaces (CI runs as root); elsewhere it is reported skipped.
const isRoot = process.getuid?.() === 0;
const chaosTest = isRoot ? test.serial : test.serial.skip;
const seed = Number(process.env['ORDO_CHAOS_SEED'] ?? 1);
const durationMs = 30_000;
const outRoot = mkdtempSync(join(tmpdir(), 'ordo-chaos-test-'));

test.after.always(() => rmSync(outRoot, { recursive: true, force: true }));

const leftovers = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.startsWith(`ordoc${process.pid}`));

for (const name of ['kill-sequencer', 'partition-halves', 'pause']) {
  chaosTest(
    `chaos: ${name} for 30 s on 3 nodes keeps every guarantee (seed ${seed})`,
    async (t) => {
      t.timeout(110_000);
      const result = await runChaos({
        nodes: 3,
        durationMs,
        schedule: scheduleNamed(name),
        seed,
        outDir: join(outRoot, name),
        ratePerSecond: 100,
        log: (line) => t.log(line),
      });
      t.log(formatResult(result));
      t.true(result.drained, 'every node and deliverer reached the same end after healing');
      t.deepEqual(result.check.violations, []);
      t.true(result.check.ok);
      t.true(result.faults.length >= 3, `only ${result.faults.length} faults were injected`);
      // The workload really ran through the faults: at 100/s for 30 s, well over a thousand acknowledged.
      t.true(
        result.check.publishes.acknowledged >= 1000,
        `${result.check.publishes.acknowledged} acknowledged`,
      );
      t.true(
        result.availability.healToCommitMs.every((h) => h.ms !== null),
        'a commit followed every heal',
      );
      t.deepEqual(leftovers(), [], 'every namespace the run made is gone');
    },
  );
}
