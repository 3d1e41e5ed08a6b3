import type { NodeId } from '../../src/core/index.js';
import type { Prng } from './prng.js';
import type { SeedPlan } from './seed-plan.js';
import type { SimCluster } from './sim-cluster.js';
import type { SimNode } from './sim-node.js';

/**
 * An armed crash that finds no Ready writing to the log within this many
 * ticks strikes between Readies. Followers write only when entries arrive,
 * so it waits long enough for traffic to reach a quiet node.
 */
const ARMED_CRASH_PATIENCE_TICKS = 20;

/**
 * Throws the seed's faults at the cluster during the fault phase: crashes
 * (some in the middle of a Ready), restarts, pauses, symmetric and one-way
 * partitions, and planned leadership transfers. Packet loss, duplication,
 * delay and reordering live in the network itself.
 */
export class FaultInjector {
  private readonly restartAtTick = new Map<NodeId, number>();
  private readonly crashArmedAtTick = new Map<NodeId, number>();
  private partitionEndsAtTick: number | null = null;

  constructor(
    private readonly plan: SeedPlan,
    private readonly prng: Prng,
    private readonly cluster: SimCluster,
    private readonly log: (text: string) => void,
  ) {}

  beforeTick(): void {
    const tick = this.cluster.tick;
    this.restartDue(tick);
    this.crashAtRandom(tick);
    this.pauseAtRandom(tick);
    this.partitionAtRandom(tick);
    this.transferAtRandom();
  }

  private restartDue(tick: number): void {
    const [minTicks, maxTicks] = this.plan.faults.restartAfterTicks;
    for (const node of this.cluster.nodes) {
      if (!node.isCrashed) continue;
      const at = this.restartAtTick.get(node.id);
      if (at === undefined)
        this.restartAtTick.set(node.id, tick + this.prng.int(minTicks, maxTicks));
      else if (tick >= at) {
        this.restartAtTick.delete(node.id);
        node.restart();
      }
    }
    for (const [id, armedAt] of this.crashArmedAtTick) {
      const node = this.node(id);
      if (!node.isCrashArmed) this.crashArmedAtTick.delete(id);
      else if (tick - armedAt >= ARMED_CRASH_PATIENCE_TICKS) {
        this.crashArmedAtTick.delete(id);
        node.crashNow();
      }
    }
  }

  private crashAtRandom(tick: number): void {
    const f = this.plan.faults;
    if (!this.prng.chance(f.crashChancePerTick)) return;
    const down = this.cluster.nodes.filter((n) => n.isCrashed || n.isCrashArmed).length;
    if (down >= f.maxNodesDown) return;
    const candidates = this.cluster.nodes.filter((n) => !n.isCrashed && !n.isCrashArmed);
    if (candidates.length === 0) return;
    // Crashing the sequencer half the time makes failovers, and so truncations, frequent.
    const leader = candidates.find((n) => n.protocol?.isLeader === true);
    const node =
      leader !== undefined && this.prng.chance(0.5) ? leader : this.prng.pick(candidates);
    if (this.prng.chance(f.midReadyCrashShare)) {
      this.log(`t${tick} ${node.id} will crash during its next Ready`);
      node.armCrash();
      this.crashArmedAtTick.set(node.id, tick);
    } else {
      node.crashNow();
    }
  }

  private pauseAtRandom(tick: number): void {
    const f = this.plan.faults;
    if (!this.prng.chance(f.pauseChancePerTick)) return;
    const candidates = this.cluster.nodes.filter((n) => n.canRun(tick));
    if (candidates.length === 0) return;
    const node = this.prng.pick(candidates);
    const ticks = this.prng.int(f.pauseTicks[0], f.pauseTicks[1]);
    this.log(`t${tick} ${node.id} pauses for ${ticks} ticks`);
    node.pause(tick + ticks);
    this.cluster.stats.pauses++;
  }

  private partitionAtRandom(tick: number): void {
    const f = this.plan.faults;
    const network = this.cluster.network;
    if (this.partitionEndsAtTick !== null) {
      if (tick < this.partitionEndsAtTick) return;
      this.log(`t${tick} partition heals`);
      network.healLinks();
      this.partitionEndsAtTick = null;
    }
    if (!this.prng.chance(f.partitionChancePerTick)) return;
    this.partitionEndsAtTick = tick + this.prng.int(f.partitionTicks[0], f.partitionTicks[1]);
    const ids = this.cluster.nodes.map((n) => n.id);
    if (this.prng.chance(f.oneWayPartitionShare)) {
      this.cluster.stats.oneWayPartitions++;
      this.cutOneWay(ids, tick);
    } else {
      this.cluster.stats.symmetricPartitions++;
      this.cutSymmetric(ids, tick);
    }
  }

  /** Splits nodes (and publishers, each joining a side) into two groups that cannot reach each other. */
  private cutSymmetric(ids: readonly NodeId[], tick: number): void {
    const shuffled = this.prng.shuffle(ids.slice());
    const split = this.prng.int(1, shuffled.length - 1);
    const sideA = shuffled.slice(0, split);
    const sideB = shuffled.slice(split);
    for (const p of this.cluster.publishers) (this.prng.chance(0.5) ? sideA : sideB).push(p.id);
    for (const a of sideA) {
      for (const b of sideB) {
        this.cluster.network.cut(a, b);
        this.cluster.network.cut(b, a);
      }
    }
    this.log(`t${tick} partition {${sideA.join(',')}} | {${sideB.join(',')}}`);
  }

  /** Cuts links in one direction only: a deaf node, a mute node, or a few random links. */
  private cutOneWay(ids: readonly NodeId[], tick: number): void {
    const network = this.cluster.network;
    const shape = this.prng.pick(['deaf', 'mute', 'links'] as const);
    const victim = this.prng.pick(ids);
    const cuts: string[] = [];
    for (const other of ids) {
      if (other === victim) continue;
      if (shape === 'deaf' || (shape === 'links' && this.prng.chance(0.5))) {
        network.cut(other, victim);
        cuts.push(`${other}->${victim}`);
      }
      if (shape === 'mute' || (shape === 'links' && this.prng.chance(0.5))) {
        network.cut(victim, other);
        cuts.push(`${victim}->${other}`);
      }
    }
    this.log(`t${tick} one-way cut ${cuts.join(' ') || '(none)'}`);
  }

  private transferAtRandom(): void {
    if (!this.prng.chance(this.plan.faults.transferChancePerTick)) return;
    const leader = this.cluster.nodes.find(
      (n) => n.canRun(this.cluster.tick) && n.protocol?.isLeader === true,
    );
    if (leader === undefined) return;
    const target = this.prng.pick(this.cluster.nodes.filter((n) => n !== leader)).id;
    this.log(`t${this.cluster.tick} ${leader.id} hands leadership to ${target}`);
    if (leader.transferLeadership(target)) this.cluster.stats.transfersRequested++;
  }

  private node(id: NodeId): SimNode {
    const node = this.cluster.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`unknown node ${id}`);
    return node;
  }
}
