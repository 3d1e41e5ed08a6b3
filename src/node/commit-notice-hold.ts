import type { AppendMessage, PeerMessage } from '../core/types.js';
import type { Clock, TimerHandle } from '../runtime/clock.js';

/**
 * Holds the sequencer's commit notices for a moment. Once a message
 * commits, the sequencer multicasts the new commit point in an append with
 * no entries; under light load that is one wake-up of every follower, and
 * of the ZeroMQ threads on both sides, per publish request, and on a busy
 * machine each wake-up costs more than the message. Every append carries
 * the commit point, so a notice held until the next multicast goes out
 * tells the followers nothing that one does not: the notice is then left
 * out. Only when nothing else goes out within `holdMs` does it go itself.
 *
 * What waits is only the followers' knowledge of the commit point: their
 * own subscribers see a message up to `holdMs` later when the stream is
 * idle. The publisher's acknowledgement comes from the sequencer and never
 * waits for this.
 */
export class CommitNoticeHold {
  private held: AppendMessage | null = null;
  private timer: TimerHandle | null = null;
  private leftOut = 0;

  constructor(
    private readonly clock: Clock,
    private readonly holdMs: number,
    private readonly multicast: (message: AppendMessage) => void,
    /** Whether a held notice of `epoch` may still go: the node still leads in it. */
    private readonly stillLeads: (epoch: number) => boolean,
  ) {}

  /** Takes a commit notice: holds it in place of an older one, or sends it at once when holding is off. */
  hold(notice: AppendMessage): void {
    if (this.holdMs <= 0) {
      this.multicast(notice);
      return;
    }
    if (this.held !== null) this.leftOut++;
    this.held = notice;
    this.timer ??= this.clock.setTimeout(() => this.release(), this.holdMs);
  }

  /**
   * `message` is about to be multicast. An append of the same epoch with a
   * commit point at least as new says all the held notice would: it is left out.
   */
  passing(message: PeerMessage): void {
    const held = this.held;
    if (
      held === null ||
      message.type !== 'append' ||
      message.epoch !== held.epoch ||
      message.commitSeq < held.commitSeq
    )
      return;
    this.leftOut++;
    this.clear();
  }

  /** Notices not sent: replaced by a newer one, made redundant by another multicast, or of an epoch no longer led. */
  get noticesLeftOut(): number {
    return this.leftOut;
  }

  stop(): void {
    this.clear();
  }

  private release(): void {
    this.timer = null;
    const held = this.held;
    this.held = null;
    if (held === null) return;
    if (!this.stillLeads(held.epoch)) {
      this.leftOut++;
      return;
    }
    this.multicast(held);
  }

  private clear(): void {
    this.held = null;
    this.timer?.cancel();
    this.timer = null;
  }
}
