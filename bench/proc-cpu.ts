import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux this runs on. */
const ticksPerSecond = 100;

/**
 * CPU time (user + system, all threads, so including ZeroMQ's I/O thread)
 * a process has used so far, in milliseconds; null where /proc is not
 * available or the process is gone. On a machine with few cores this shows
 * where the cores go: nodes, publishers or something else.
 */
export function cpuTimeMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after it are plain numbers.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const userTicks = Number(fields[11]);
    const systemTicks = Number(fields[12]);
    return ((userTicks + systemTicks) * 1000) / ticksPerSecond;
  } catch {
    return null;
  }
}

/**
 * The peak resident set size of a process since it started (VmHWM), in
 * MiB; null where /proc is not available or the process is gone.
 */
export function peakRssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Math.round(Number(match[1]) / 1024);
  } catch {
    return null;
  }
}

/** Busy CPU time of the whole machine (all cores, every process) so far, in milliseconds; null without /proc. */
export function machineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.slice(0, 8).reduce((sum, t) => sum + t, 0);
    const idle = ticks[3]! + ticks[4]!;
    return ((total - idle) * 1000) / ticksPerSecond;
  } catch {
    return null;
  }
}

/** CPU use of named processes between two instants, as a share of one core (100% = one core busy). */
export class CpuMeter {
  private readonly startMs = performance.now();
  private readonly start: Map<string, number | null>;
  private readonly machineStartMs = machineBusyMs();

  constructor(private readonly pids: ReadonlyMap<string, number | undefined>) {
    this.start = new Map([...pids].map(([name, pid]) => [name, cpuTimeMs(pid)]));
  }

  /**
   * Percent of one core each process used since construction, and under
   * 'other processes' what the rest of the machine used meanwhile (work
   * that competed with the benchmark); processes without figures are left out.
   */
  read(): Record<string, number> {
    const elapsedMs = performance.now() - this.startMs;
    const shares: Record<string, number> = {};
    for (const [name, pid] of this.pids) {
      const before = this.start.get(name);
      const after = cpuTimeMs(pid);
      if (before == null || after === null || elapsedMs <= 0) continue;
      shares[name] = Math.round(((after - before) * 100) / elapsedMs);
    }
    const machineNowMs = machineBusyMs();
    if (this.machineStartMs !== null && machineNowMs !== null && elapsedMs > 0) {
      const machinePercent = ((machineNowMs - this.machineStartMs) * 100) / elapsedMs;
      const ours = Object.values(shares).reduce((sum, percent) => sum + percent, 0);
      shares['other processes'] = Math.max(0, Math.round(machinePercent - ours));
    }
    return shares;
  }
}
