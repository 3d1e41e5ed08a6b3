import { parseArgs } from 'node:util';
import { type FuzzTarget, FuzzTargets, mib, runFuzz } from './fuzz.js';

/**
 * `npm run fuzz -- --target client|peer|storage --frames N --seed S`: one
 * bounded fuzzing run; prints what it found and exits 1 on any crash, hang
 * or corrupted record. The seed is printed, so a run replays exactly (up to
 * the timing of the node's own timers).
 */
const usage =
  'usage: npm run fuzz -- --target client|peer|storage [--frames N] [--seed S] [--hang-ms MS]';

async function main(): Promise<number> {
  let values: { target?: string; frames?: string; seed?: string; 'hang-ms'?: string };
  try {
    ({ values } = parseArgs({
      options: {
        target: { type: 'string' },
        frames: { type: 'string' },
        seed: { type: 'string' },
        'hang-ms': { type: 'string' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  const targets: FuzzTarget[] =
    values.target === undefined || values.target === 'all'
      ? [...FuzzTargets]
      : FuzzTargets.includes(values.target as FuzzTarget)
        ? [values.target as FuzzTarget]
        : [];
  const frames = wholeNumber(values.frames ?? '100000');
  const seed = wholeNumber(values.seed ?? String(Math.floor(Math.random() * 2 ** 31)));
  const hangMs = wholeNumber(values['hang-ms'] ?? '5000');
  if (targets.length === 0 || frames === null || seed === null || hangMs === null) {
    console.error(usage);
    return 2;
  }
  let failed = false;
  for (const target of targets) {
    console.log(`fuzz ${target}: ${frames} frames, seed ${seed}`);
    const report = await runFuzz({
      target,
      frames,
      seed,
      hangMs,
      progress: (line) => console.log(`  ${line}`),
    });
    const crashes = report.crashes.length;
    console.log(
      `fuzz ${target}: ${report.frames} frames (${report.accepted} accepted, ${report.refused} refused), ` +
        `${crashes} crashes, ${report.hangs} hangs, ${report.corruptRecords} corrupted records` +
        (target === 'storage'
          ? `, ${report.damagedReported} damaged records reported`
          : `, ${report.logEntries} entries in the node's log`) +
        `; RSS ${mib(report.rssStartBytes)} -> peak ${mib(report.rssPeakBytes)} MiB; ` +
        `${(report.durationMs / 1000).toFixed(1)} s; seed ${seed}`,
    );
    for (const crash of report.crashes) console.log(`  crash: ${crash}`);
    if (crashes > 0 || report.hangs > 0 || report.corruptRecords > 0) failed = true;
  }
  return failed ? 1 : 0;
}

function wholeNumber(text: string): number | null {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.stack ?? error.message);
    process.exit(1);
  },
);
