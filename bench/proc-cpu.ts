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

/** CPU use of named processes between two instants, as a share of one core (100% = one core busy). */
export class CpuMeter {
  private readonly startMs = performance.now();
  private readonly start: Map<string, number | null>;

  constructor(private readonly pids: ReadonlyMap<string, number | undefined>) {
    this.start = new Map([...pids].map(([name, pid]) => [name, cpuTimeMs(pid)]));
  }

  /** Percent of one core each process used since construction; processes without figures are left out. */
  read(): Record<string, number> {
    const elapsedMs = performance.now() - this.startMs;
    const shares: Record<string, number> = {};
    for (const [name, pid] of this.pids) {
      const before = this.start.get(name);
      const after = cpuTimeMs(pid);
      if (before == null || after === null || elapsedMs <= 0) continue;
      shares[name] = Math.round(((after - before) * 100) / elapsedMs);
    }
    return shares;
  }
}
