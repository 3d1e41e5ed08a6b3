import type { Entry, NodeId } from '../../src/core/index.js';
import { entryDigest } from './hash-chain.js';

/** Something a node did while delivering that no correct node does. */
export interface DeliveryAnomaly {
  readonly nodeId: NodeId;
  readonly seq: number;
  readonly tick: number;
  readonly detail: string;
}

/** Seqs [fromSeq, toSeq] that a node never delivered because its log restarted after toSeq. */
export interface SkippedRange {
  readonly fromSeq: number;
  readonly toSeq: number;
}

/**
 * What one node has delivered, in order. It models the subscriber-facing
 * output, which outlives the node's crashes: after a restart the core may
 * announce as committed a range it delivered before, and the node must then
 * deliver exactly the same entries again (any difference is recorded).
 *
 * The stream moves past seqs only by delivering them, or by a log reset
 * (`skipThrough`): a node whose log restarts after seq s can never deliver
 * what it skipped, and its subscribers resume at s + 1. Skips are recorded
 * so that the checkers can tell them from gaps.
 */
export class DeliveredStream {
  private readonly delivered: Entry[] = [];
  private readonly digests = new Map<number, string>();
  private readonly skips: SkippedRange[] = [];
  private last = 0;
  readonly anomalies: DeliveryAnomaly[] = [];

  constructor(private readonly nodeId: NodeId) {}

  /** The highest seq delivered or skipped. */
  get lastSeq(): number {
    return this.last;
  }

  get entries(): readonly Entry[] {
    return this.delivered;
  }

  get skipped(): readonly SkippedRange[] {
    return this.skips;
  }

  /** The node's log restarted after `seq`: it will never deliver the seqs up to it that it lacks. */
  skipThrough(seq: number): void {
    if (seq <= this.last) return;
    this.skips.push({ fromSeq: this.last + 1, toSeq: seq });
    this.last = seq;
  }

  deliver(seq: number, entry: Entry | undefined, tick: number): void {
    if (entry === undefined) {
      this.anomaly(seq, tick, 'committed entry is missing from storage');
      return;
    }
    if (entry.seq !== seq) {
      this.anomaly(seq, tick, `storage returned seq ${entry.seq}`);
      return;
    }
    if (seq <= this.last) {
      const earlier = this.digests.get(seq);
      if (earlier === undefined) {
        this.anomaly(seq, tick, 'delivered a seq its log reset had skipped');
        return;
      }
      if (entryDigest(entry) !== earlier) {
        const before = this.delivered.find((e) => e.seq === seq)!;
        this.anomaly(
          seq,
          tick,
          `delivered again as epoch ${entry.epoch} ${entry.producerId}#${entry.producerSeq}, first as epoch ${before.epoch} ${before.producerId}#${before.producerSeq}`,
        );
      }
      return;
    }
    if (seq !== this.last + 1) {
      this.anomaly(seq, tick, `delivered after seq ${this.last}, leaving a gap`);
      return;
    }
    this.delivered.push(entry);
    this.digests.set(seq, entryDigest(entry));
    this.last = seq;
  }

  private anomaly(seq: number, tick: number, detail: string): void {
    this.anomalies.push({ nodeId: this.nodeId, seq, tick, detail });
  }
}
