import type { Logger } from './logger.js';

/**
 * Logs a warning at most once per interval and counts what it held back, so
 * a peer spraying bad frames cannot flood the log.
 */
export class RateLimitedLog {
  private lastMs = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  warn(message: string): void {
    const nowMs = this.now();
    if (nowMs - this.lastMs < this.intervalMs) {
      this.suppressed++;
      return;
    }
    const held = this.suppressed;
    this.lastMs = nowMs;
    this.suppressed = 0;
    this.logger.warn(held > 0 ? `${message} (and ${held} more since the last report)` : message);
  }
}
