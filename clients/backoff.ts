import { type Random, systemRandom } from '../src/runtime/clock.js';

/**
 * Exponential backoff with full jitter: the n-th retry waits a random time
 * up to min(maxMs, baseMs * 2^n), so that clients retrying after the same
 * failure do not come back in lockstep.
 */
export function backoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: Random = systemRandom,
): number {
  const ceilingMs = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.floor(random() * ceilingMs) + 1;
}
