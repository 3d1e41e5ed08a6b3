import { cpus, platform, release, totalmem } from 'node:os';

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
