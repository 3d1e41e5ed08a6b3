import { invariant } from '../core/assert.js';

/**
 * When the durable log forces its writes to stable storage. Every policy
 * writes each batch with one write syscall before `write()` resolves, so a
 * crash of the Ordo process alone (the OS keeps running) never loses an
 * acknowledged entry; the policies differ on power loss or a kernel crash.
 *
 * - `always`: `write()` resolves only after fdatasync of the batch.
 *   Loses nothing that was acknowledged. Batches that queue up while an
 *   fsync runs are written and synced together (group commit).
 * - `interval`: `write()` resolves after the write syscall; fdatasync runs
 *   at most once per `fsyncIntervalMs`, soon after a write made the file
 *   dirty. On power loss it can lose the entries of the last
 *   `fsyncIntervalMs` (plus the duration of the fsync in progress); nothing
 *   on a process crash.
 * - `never`: the store leaves write-back to the OS (typically 5 to 30 s of
 *   dirty pages). On power loss it loses whatever the OS had not written
 *   back; nothing on a process crash.
 *
 * Under every policy, the operations that change the shape of the log
 * (starting a segment, truncating a suffix, deleting segments) sync the files
 * and directory they touch, so that whatever a crash leaves is a prefix of
 * the log that was written.
 */
export type FsyncPolicy = 'always' | 'interval' | 'never';

export const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'interval', 'never'];

export function isFsyncPolicy(value: unknown): value is FsyncPolicy {
  return typeof value === 'string' && (FSYNC_POLICIES as readonly string[]).includes(value);
}

/**
 * The clock of the `interval` policy: after a write dirties the log it
 * calls `onDue` once, no sooner than `intervalMs` after the previous sync
 * started, so syncs happen at most once per interval and a write waits at
 * most about one interval for its sync. From `markDirty` until `syncDone`
 * it is armed and further writes do not schedule more syncs. The timer
 * does not keep the process alive: an exiting process loses nothing the OS
 * already holds.
 */
export class IntervalFsyncTimer {
  private timer: NodeJS.Timeout | null = null;
  private armed = false;
  private lastSyncMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly intervalMs: number,
    private readonly onDue: () => void,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    invariant(
      Number.isFinite(intervalMs) && intervalMs > 0,
      'fsync interval must be a positive number of ms',
    );
  }

  /** A write left unsynced data: make sure a sync is coming. */
  markDirty(): void {
    if (this.armed) return;
    this.armed = true;
    const delayMs = Math.max(0, this.lastSyncMs + this.intervalMs - this.nowMs());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onDue();
    }, delayMs);
    this.timer.unref();
  }

  /** A sync is starting: it covers every write so far, so the next is due one interval from now. */
  syncStarted(): void {
    this.lastSyncMs = this.nowMs();
  }

  /** The sync asked for by `onDue` has run; the next write arms the timer again. */
  syncDone(): void {
    this.armed = false;
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armed = false;
  }
}
