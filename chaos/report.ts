import { VIOLATION_KINDS } from './checker.js';
import type { ChaosResult } from './harness.js';

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const seconds = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);

/** The summary table printed after a run: outcomes, violations by kind, availability, memory. */
export function formatResult(r: ChaosResult): string {
  const c = r.check;
  const heals = r.availability.healToCommitMs.filter((h) => h.ms !== null).map((h) => h.ms!);
  const neverRecovered = r.availability.healToCommitMs.filter((h) => h.ms === null).length;
  const failed = Object.entries(r.availability.failedByError)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  const rows: [string, string][] = [
    ['schedule', `${r.schedule} (${r.nodes} nodes, ${r.durationMs / 1000} s, seed ${r.seed})`],
    ['faults injected', String(r.faults.length)],
    ['publishes attempted', String(c.publishes.attempted)],
    ['acknowledged', String(c.publishes.acknowledged)],
    ['not acknowledged', failed === '' ? '0' : failed],
    ['delivered (longest stream)', String(r.delivered)],
    ['drained', r.drained ? 'yes' : 'NO'],
    ...VIOLATION_KINDS.map((k): [string, string] => [`violations: ${k}`, String(c.counts[k])]),
    ['longest time with no commit', seconds(r.availability.longestNoCommitMs)],
    ['heal to first commit (max)', heals.length === 0 ? '-' : seconds(Math.max(...heals))],
    ['faults with no commit after heal', String(neverRecovered)],
    [
      'peak RSS per node',
      Object.entries(r.peakRssBytes)
        .map(([id, b]) => `${id} ${mib(b)}`)
        .join(', '),
    ],
    ['result', c.ok ? 'PASS' : 'FAIL'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
  for (const v of c.violations) lines.push(`  ! ${v.kind} at ${v.where || 'cluster'}: ${v.detail}`);
  lines.push(`  report: ${r.reportPath}`);
  return lines.join('\n');
}
