import type { Entry, NodeId } from '../../src/core/index.js';
import { entryDigest } from './hash-chain.js';

/** Something a node did while delivering that no correct node does. */
export interface DeliveryAnomaly {
  readonly nodeId: NodeId;
  readonly seq: number;
  readonly tick: number;
  readonly detail: string;
}

/**
 * What one node has delivered, in order. It models the subscriber-facing
 * output, which outlives the node's crashes: after a restart the core may
 * announce as committed a range it delivered before, and the node must then
 * deliver exactly the same entries again (any difference is recorded).
 */
export class DeliveredStream {
  private readonly delivered: Entry[] = [];
  private readonly digests: string[] = [];
  readonly anomalies: DeliveryAnomaly[] = [];

  constructor(private readonly nodeId: NodeId) {}

  get length(): number {
    return this.delivered.length;
  }

  get entries(): readonly Entry[] {
    return this.delivered;
  }

  deliver(seq: number, entry: Entry | undefined, tick: number): void {
    if (entry === undefined) {
      this.anomalies.push({
        nodeId: this.nodeId,
        seq,
        tick,
        detail: 'committed entry is missing from storage',
      });
      return;
    }
    if (entry.seq !== seq) {
      this.anomalies.push({
        nodeId: this.nodeId,
        seq,
        tick,
        detail: `storage returned seq ${entry.seq}`,
      });
      return;
    }
    if (seq <= this.delivered.length) {
      const digest = entryDigest(entry);
      if (digest !== this.digests[seq - 1]) {
        const before = this.delivered[seq - 1]!;
        this.anomalies.push({
          nodeId: this.nodeId,
          seq,
          tick,
          detail: `delivered again as epoch ${entry.epoch} ${entry.producerId}#${entry.producerSeq}, first as epoch ${before.epoch} ${before.producerId}#${before.producerSeq}`,
        });
      }
      return;
    }
    if (seq !== this.delivered.length + 1) {
      this.anomalies.push({
        nodeId: this.nodeId,
        seq,
        tick,
        detail: `delivered after seq ${this.delivered.length}, leaving a gap`,
      });
      return;
    }
    this.delivered.push(entry);
    this.digests.push(entryDigest(entry));
  }
}
