import { execFileSync } from 'node:child_process';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: the compiled file is dist/bench/machine.js. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The 1-minute load average when the benchmark started (this module loads
 * first thing): other work on the machine competes for the same cores.
 */
export const loadAtStart = loadavg()[0]!;

/** The machine a figure was taken on: without it a throughput number means little. */
export function machine(): {
  cpus: number;
  cpuModel: string;
  memoryMiB: number;
  node: string;
  platform: string;
} {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${platform()} ${release()}`,
  };
}

/**
 * The code a figure was taken on: the commit, plus a mark when src/ or
 * clients/ had uncommitted changes (other engineers work in the same tree).
 */
export function revision(): string {
  try {
    const run = (args: string[]) =>
      execFileSync('git', args, {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    const commit = run(['rev-parse', '--short', 'HEAD']);
    const dirty = run(['status', '--porcelain', '--', 'src', 'clients', 'proto']) !== '';
    return dirty ? `${commit}+uncommitted` : commit;
  } catch {
    return 'unknown';
  }
}

/** Time idleWakeupCpuUs spends sleeping, per measurement: two seconds. */
const WAKEUP_MEASURE_MS = 2000;

/**
 * CPU time (user + system, µs) one process spends each time it falls idle
 * for `idleMs` and wakes again, measured with timers (Node runs a zero
 * delay as 1 ms). Every message between two processes costs at least two
 * such wakeups of each side (its main thread and its ZeroMQ I/O thread),
 * so on a machine where this is tens of microseconds, light traffic of many
 * small requests costs more CPU per message than a saturated stream, which
 * batches. On a virtual machine it grows with the time spent idle: the
 * longer a core slept, the colder it wakes.
 */
export async function idleWakeupCpuUs(idleMs = 0): Promise<number> {
  const samples = Math.max(1, Math.floor(WAKEUP_MEASURE_MS / Math.max(1, idleMs)));
  const before = process.cpuUsage();
  for (let i = 0; i < samples; i++) await new Promise((r) => setTimeout(r, idleMs));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / samples;
}
