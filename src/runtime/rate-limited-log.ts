import type { Logger } from './logger.js';

/**
 * Writes a repeated log line at most once per interval and counts what it
 * held back, so that a peer or client spraying bad input (bad frames,
 * subscribers that go silent, failing reads) cannot flood the log. Every
 * log line that input from the network can repeat goes through one of these.
 */
export class RateLimitedLog {
  private lastMs = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Lines held back since the last one written. */
  get heldBack(): number {
    return this.suppressed;
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  info(message: string): void {
    this.write('info', message);
  }

  private write(level: 'warn' | 'info', message: string): void {
    const nowMs = this.now();
    if (nowMs - this.lastMs < this.intervalMs) {
      this.suppressed++;
      return;
    }
    const held = this.suppressed;
    this.lastMs = nowMs;
    this.suppressed = 0;
    this.logger.log(
      level,
      held > 0 ? `${message} (and ${held} more since the last report)` : message,
    );
  }
}
