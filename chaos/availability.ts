import type { History } from './history.js';

export interface Availability {
  /** Longest stretch of the fault window in which no publish was acknowledged. */
  readonly longestNoCommitMs: number;
  /** When that stretch began, in ms after the start of the run. */
  readonly longestNoCommitFromMs: number;
  /** Publishes that did not end acknowledged, by error class. */
  readonly failedByError: Readonly<Record<string, number>>;
  /** For each healed fault: how long after its heal the next publish was acknowledged (null: none was). */
  readonly healToCommitMs: readonly { fault: string; ms: number | null }[];
  /** Acknowledged publishes per second over the whole run. */
  readonly acknowledgedPerSecond: number;
}

/**
 * Availability figures from a history: acknowledgements are the commits a
 * client sees, so a stretch without one is a stretch in which the cluster
 * could not take writes (or the publishers had nothing outstanding, which
 * the chaos workload never lets happen).
 */
export function availabilityOf(history: History): Availability {
  const ackTimes = history.publishes
    .filter((p) => p.outcome === 'ok')
    .map((p) => p.endMs)
    .sort((a, b) => a - b);
  let longest = 0;
  let longestFrom = history.startMs;
  let previous = history.startMs;
  for (const t of [...ackTimes.filter((t) => t <= history.healedMs), history.healedMs]) {
    if (t - previous > longest) {
      longest = t - previous;
      longestFrom = previous;
    }
    previous = Math.max(previous, t);
  }
  const failedByError: Record<string, number> = {};
  for (const p of history.publishes) {
    if (p.outcome === 'ok') continue;
    const name = p.error ?? p.outcome;
    failedByError[name] = (failedByError[name] ?? 0) + 1;
  }
  const healToCommitMs = history.faults.map((f) => {
    const next = ackTimes.find((t) => t >= f.endMs);
    return { fault: `${f.kind} ${f.detail}`, ms: next === undefined ? null : next - f.endMs };
  });
  const seconds = Math.max(0.001, (history.endMs - history.startMs) / 1000);
  return {
    longestNoCommitMs: longest,
    longestNoCommitFromMs: longestFrom - history.startMs,
    failedByError,
    healToCommitMs,
    acknowledgedPerSecond: ackTimes.length / seconds,
  };
}
