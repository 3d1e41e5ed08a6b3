import { readFileSync } from 'node:fs';

/** Resident and peak resident memory of a process in bytes, from /proc (null once it is gone). */
export function processMemory(pid: number): { rssBytes: number; peakRssBytes: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssBytes: kib('VmRSS') * 1024, peakRssBytes: kib('VmHWM') * 1024 };
}
