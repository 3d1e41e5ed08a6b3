import { type Entry, invariant, type NodeId } from '../../src/core/index.js';
import type { SkippedRange } from './delivered-stream.js';
import type { AckRecord, History, LeaderRecord, LivenessRecord } from './history.js';
import type { Prng } from './prng.js';
import { type SeedPlan, SUB_STEPS_PER_TICK } from './seed-plan.js';
import type { SimMessage } from './sim-messages.js';
import { CALM_NETWORK, type Packet, type Reception, SimNetwork } from './sim-network.js';
import { SimNode } from './sim-node.js';
import { SimPublisher } from './sim-publisher.js';
import { emptyStats, type SimStats } from './sim-stats.js';

/**
 * The whole simulated world of one seed: the nodes, the publishers, the
 * network between them and the clock. One `runTick` advances time by one
 * tick: every running node ticks, every publisher acts, then the tick's
 * sub-steps deliver the packets that are due.
 */
export class SimCluster {
  readonly nodes: SimNode[];
  readonly publishers: SimPublisher[];
  readonly network: SimNetwork<SimMessage>;
  readonly stats: SimStats = emptyStats();
  private readonly leaders: LeaderRecord[] = [];
  private readonly acks: AckRecord[] = [];
  private currentTick = 0;
  private subStep = 0;
  private readonly byId = new Map<string, SimNode>();
  private readonly publishersById = new Map<string, SimPublisher>();
  /** Decides the order in which nodes tick, so that no node always goes first. */
  private readonly tickOrderPrng: Prng;

  constructor(
    readonly plan: SeedPlan,
    prng: Prng,
    private readonly log: (text: string) => void,
    /** Decides when each node saves a dedup checkpoint and how long the save takes. */
    checkpointPrng: Prng,
  ) {
    this.network = new SimNetwork(prng.fork());
    this.tickOrderPrng = prng.fork();
    this.network.faults = plan.faults.network;
    const nodeIds = Array.from({ length: plan.nodeCount }, (_, i) => `n${i + 1}`);
    const nodeEnv = {
      plan,
      stats: this.stats,
      send: (from: string, to: string, message: SimMessage) =>
        this.network.send(from, to, message, this.subStep),
      nowTick: () => this.currentTick,
      onBecameLeader: (nodeId: NodeId, epoch: number) => {
        this.stats.elections++;
        this.leaders.push({ nodeId, epoch, tick: this.currentTick });
      },
      log: (text: string) => this.log(`t${this.currentTick} ${text}`),
    };
    this.nodes = nodeIds.map(
      (id) => new SimNode(id, nodeIds, prng.fork(), nodeEnv, checkpointPrng.fork()),
    );
    for (const node of this.nodes) this.byId.set(node.id, node);
    this.publishers = Array.from(
      { length: plan.publishers.count },
      (_, i) =>
        new SimPublisher(`p${i + 1}`, nodeIds, plan.publishers, prng.fork(), {
          stats: this.stats,
          send: (from, to, request) =>
            this.network.send(from, to, { kind: 'publish', request }, this.subStep),
          onAck: (producerId, producerSeq, seq) => {
            this.acks.push({ producerId, producerSeq, seq, tick: this.currentTick });
          },
        }),
    );
    for (const p of this.publishers) this.publishersById.set(p.id, p);
  }

  get tick(): number {
    return this.currentTick;
  }

  runTick(): void {
    this.subStep = this.currentTick * SUB_STEPS_PER_TICK;
    for (const node of this.tickOrderPrng.shuffle(this.nodes.slice())) {
      if (node.canRun(this.currentTick)) node.tick();
    }
    for (const publisher of this.publishers) publisher.tick(this.currentTick);
    for (let i = 0; i < SUB_STEPS_PER_TICK; i++) {
      this.subStep = this.currentTick * SUB_STEPS_PER_TICK + i;
      this.deliverDue();
    }
    this.currentTick++;
    this.stats.ticks++;
  }

  private deliverDue(): void {
    const packets = this.network.takeDue(this.subStep, (to) => this.reception(to));
    const byDestination = new Map<string, Packet<SimMessage>[]>();
    for (const packet of packets) {
      const list = byDestination.get(packet.to);
      if (list === undefined) byDestination.set(packet.to, [packet]);
      else list.push(packet);
    }
    for (const [to, list] of byDestination) {
      const node = this.byId.get(to);
      if (node !== undefined) {
        if (node.canRun(this.currentTick)) node.receive(list);
        continue;
      }
      const publisher = this.publishersById.get(to);
      invariant(publisher !== undefined, `packet for unknown endpoint ${to}`);
      for (const packet of list) {
        invariant(packet.message.kind === 'reply', `publisher ${to} got a ${packet.message.kind}`);
        publisher.onReply(
          packet.from,
          packet.message.producerId,
          packet.message.reply,
          this.currentTick,
        );
      }
    }
  }

  private reception(to: string): Reception {
    const node = this.byId.get(to);
    if (node === undefined) return 'receive';
    if (node.isCrashed) return 'drop';
    return node.isPaused(this.currentTick) ? 'hold' : 'receive';
  }

  /** Turns every fault off: calm network, links mended, paused nodes resumed, crashed nodes restarted. */
  heal(): void {
    this.log(`t${this.currentTick} heal`);
    this.network.faults = CALM_NETWORK;
    this.network.healLinks();
    for (const node of this.nodes) {
      node.disarmCrash();
      node.resume();
      if (node.isCrashed) node.restart();
    }
    for (const publisher of this.publishers)
      publisher.finishWith(this.plan.publishers.messagesAfterHeal);
  }

  /** The most entries any node must still fetch: the longest log against the shortest delivered stream. */
  repairLagEntries(): number {
    const longest = Math.max(...this.nodes.map((n) => n.disk.lastSeq));
    const shortest = Math.min(...this.nodes.map((n) => n.stream.lastSeq));
    return Math.max(0, longest - shortest);
  }

  /**
   * True when every publish has completed and every node has delivered the
   * whole log of the newest sequencer, all of it committed.
   */
  isDrained(): boolean {
    return this.outstanding().length === 0;
  }

  /** What keeps the run from being drained, for the liveness report. */
  outstanding(): string[] {
    const waiting: string[] = [];
    for (const p of this.publishers) if (!p.done) waiting.push(p.describeOutstanding());
    let leader: SimNode | null = null;
    for (const node of this.nodes) {
      const core = node.protocol;
      if (core === null) {
        waiting.push(`${node.id} is down`);
        continue;
      }
      if (core.isLeader && (leader === null || core.currentEpoch > leader.protocol!.currentEpoch))
        leader = node;
    }
    if (leader === null) {
      waiting.push('no sequencer');
      return waiting;
    }
    const core = leader.protocol!;
    if (core.committedSeq < core.lastSeq) {
      waiting.push(`sequencer ${leader.id} committed ${core.committedSeq} of ${core.lastSeq}`);
    }
    for (const node of this.nodes) {
      if (node.stream.lastSeq !== core.committedSeq) {
        const s = node.protocol?.status();
        const state =
          s === undefined
            ? 'down'
            : `${s.role} epoch ${s.epoch} leader ${s.leaderId ?? '-'} last ${s.lastSeq}/${s.lastEpoch} commit ${s.commitSeq} knownLeaderLast ${s.knownLeaderLastSeq}`;
        waiting.push(
          `${node.id} delivered ${node.stream.lastSeq} of ${core.committedSeq} (${state})`,
        );
      }
    }
    return waiting;
  }

  snapshotNetworkStats(): void {
    const c = this.network.counters;
    this.stats.packetsSent = c.sent;
    this.stats.packetsLost = c.lost;
    this.stats.packetsDuplicated = c.duplicated;
    this.stats.packetsCut = c.cut;
    this.stats.packetsHeld = c.held;
  }

  history(liveness: LivenessRecord | null, coreFailures: History['coreFailures']): History {
    const published = new Map<string, ReadonlyMap<number, string>>();
    for (const p of this.publishers)
      for (const [producerId, messages] of p.sessions) published.set(producerId, messages);
    const delivered = new Map<NodeId, readonly Entry[]>();
    const skipped = new Map<NodeId, readonly SkippedRange[]>();
    for (const node of this.nodes) {
      delivered.set(node.id, node.stream.entries);
      skipped.set(node.id, node.stream.skipped);
    }
    return {
      nodeIds: this.nodes.map((n) => n.id),
      delivered,
      skipped,
      deliveryAnomalies: this.nodes.flatMap((n) => n.stream.anomalies),
      published,
      acks: this.acks,
      leaders: this.leaders,
      liveness,
      coreFailures,
    };
  }
}
