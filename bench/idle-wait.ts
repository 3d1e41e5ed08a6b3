import { sleep } from './children.js';
import { machineBusyMs } from './proc-cpu.js';
import { log } from './throughput.js';

/** Machine CPU use (percent of one core) above which other work would distort the figures. */
const busyThresholdPercent = 40;
const sampleMs = 2000;

/** Percent of one core the whole machine used over `sampleMs`; null without /proc. */
async function machineBusyPercent(): Promise<number | null> {
  const startMs = machineBusyMs();
  const startedAt = performance.now();
  await sleep(sampleMs);
  const endMs = machineBusyMs();
  if (startMs === null || endMs === null) return null;
  return ((endMs - startMs) * 100) / (performance.now() - startedAt);
}

/**
 * Before a benchmark starts: reports how busy the machine already is, and
 * with `--wait-idle S` waits up to S seconds for other work to finish, since
 * on a machine with two cores any other process takes a large share of what
 * the cluster could use. Returns the last reading.
 */
export async function checkIdle(waitSeconds: number): Promise<number | null> {
  const deadlineMs = Date.now() + waitSeconds * 1000;
  let busy = await machineBusyPercent();
  while (busy !== null && busy > busyThresholdPercent && Date.now() < deadlineMs) {
    log(
      `machine busy before the start: ${Math.round(busy)}% of one core used by other processes; waiting`,
    );
    await sleep(10_000);
    busy = await machineBusyPercent();
  }
  if (busy !== null && busy > busyThresholdPercent) {
    log(
      `warning: other processes use ${Math.round(busy)}% of one core; the figures will be lower than this machine can do`,
    );
  }
  return busy;
}
