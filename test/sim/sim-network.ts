import type { Prng } from './prng.js';

/** How badly the network behaves; each seed draws its own, and healing sets the calm values. */
export interface NetworkFaults {
  /** Chance that a packet is lost. */
  readonly lossRate: number;
  /** Chance that a packet is delivered twice (the copy with its own delay). */
  readonly duplicateRate: number;
  readonly minDelaySubSteps: number;
  readonly maxDelaySubSteps: number;
  /** Chance that a packet is held back far longer than usual, which reorders it behind later ones. */
  readonly spikeRate: number;
  readonly spikeMaxDelaySubSteps: number;
}

export const CALM_NETWORK: NetworkFaults = {
  lossRate: 0,
  duplicateRate: 0,
  minDelaySubSteps: 1,
  maxDelaySubSteps: 3,
  spikeRate: 0,
  spikeMaxDelaySubSteps: 3,
};

export interface Packet<M> {
  readonly from: string;
  readonly to: string;
  readonly message: M;
}

/** What the receiving end can do with a packet right now. */
export type Reception = 'receive' | 'hold' | 'drop';

export interface NetworkCounters {
  sent: number;
  lost: number;
  duplicated: number;
  cut: number;
  delivered: number;
  held: number;
}

/**
 * A lossy, reordering, duplicating network between named endpoints, timed in
 * sub-steps. Links can be cut one way (`cut(a, b)` stops a→b only), which
 * makes both symmetric and one-way partitions. Packets for a paused endpoint
 * wait and arrive late; packets for a crashed one are dropped.
 */
export class SimNetwork<M> {
  private readonly bySubStep = new Map<number, Packet<M>[]>();
  private readonly heldFor = new Map<string, Packet<M>[]>();
  private readonly cutLinks = new Set<string>();
  private inFlight = 0;
  faults: NetworkFaults = CALM_NETWORK;
  readonly counters: NetworkCounters = {
    sent: 0,
    lost: 0,
    duplicated: 0,
    cut: 0,
    delivered: 0,
    held: 0,
  };

  constructor(private readonly prng: Prng) {}

  get packetsInFlight(): number {
    return this.inFlight;
  }

  send(from: string, to: string, message: M, nowSubStep: number): void {
    this.counters.sent++;
    if (this.cutLinks.has(linkKey(from, to))) {
      this.counters.cut++;
      return;
    }
    if (this.prng.chance(this.faults.lossRate)) {
      this.counters.lost++;
      return;
    }
    const packet: Packet<M> = { from, to, message };
    this.schedule(packet, nowSubStep);
    if (this.prng.chance(this.faults.duplicateRate)) {
      this.counters.duplicated++;
      this.schedule(packet, nowSubStep);
    }
  }

  /** Stops packets from `from` to `to` (one way). */
  cut(from: string, to: string): void {
    this.cutLinks.add(linkKey(from, to));
  }

  /** Mends one link cut by `cut`. */
  uncut(from: string, to: string): void {
    this.cutLinks.delete(linkKey(from, to));
  }

  healLinks(): void {
    this.cutLinks.clear();
  }

  get cutLinkCount(): number {
    return this.cutLinks.size;
  }

  /**
   * The packets due at `nowSubStep` that their endpoints can take, in a
   * random order, plus those released from hold since the endpoint resumed.
   */
  takeDue(nowSubStep: number, reception: (to: string) => Reception): Packet<M>[] {
    const due = this.bySubStep.get(nowSubStep) ?? [];
    this.bySubStep.delete(nowSubStep);
    const out: Packet<M>[] = [];
    for (const [to, held] of this.heldFor) {
      const verdict = reception(to);
      if (verdict === 'hold') continue;
      this.heldFor.delete(to);
      this.inFlight -= held.length;
      if (verdict === 'receive') out.push(...held);
    }
    for (const packet of due) {
      this.inFlight--;
      const verdict = reception(packet.to);
      if (verdict === 'drop') continue;
      if (verdict === 'hold') {
        this.counters.held++;
        this.inFlight++;
        const held = this.heldFor.get(packet.to);
        if (held === undefined) this.heldFor.set(packet.to, [packet]);
        else held.push(packet);
        continue;
      }
      out.push(packet);
    }
    this.counters.delivered += out.length;
    return this.prng.shuffle(out);
  }

  private schedule(packet: Packet<M>, nowSubStep: number): void {
    const f = this.faults;
    const delaySubSteps = this.prng.chance(f.spikeRate)
      ? this.prng.int(f.maxDelaySubSteps, Math.max(f.maxDelaySubSteps, f.spikeMaxDelaySubSteps))
      : this.prng.int(f.minDelaySubSteps, f.maxDelaySubSteps);
    const at = nowSubStep + Math.max(1, delaySubSteps);
    const bucket = this.bySubStep.get(at);
    if (bucket === undefined) this.bySubStep.set(at, [packet]);
    else bucket.push(packet);
    this.inFlight++;
  }
}

function linkKey(from: string, to: string): string {
  return `${from}>${to}`;
}
