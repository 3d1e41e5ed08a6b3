import { AdminClient } from '../../clients/admin.js';
import type { ClientRuntime } from '../../clients/client-runtime.js';
import {
  type Entry,
  invariant,
  memberIds,
  type NodeId,
  type NodeMessage,
  Role,
  type VoteRequestMessage,
} from '../../src/core/index.js';
import { LIMITS } from '../../src/limits.js';
import type { ClusterConfig } from '../../src/node/cluster-config.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { SkippedRange } from './delivered-stream.js';
import type {
  AckRecord,
  History,
  LeaderRecord,
  LivenessRecord,
  ReadIndexRecord,
  RuleBreach,
} from './history.js';
import type { Prng } from './prng.js';
import { type SeedPlan, SUB_STEPS_PER_TICK, TICK_MS } from './seed-plan.js';
import { SimBroker } from './sim-broker.js';
import { SimClock } from './sim-clock.js';
import { SimDeliverer } from './sim-deliverer.js';
import {
  clientOfChannel,
  SIM_CLIENT_PORT,
  SimFrameDialer,
  type SimPacket,
  simEndpoint,
} from './sim-edges.js';
import { CALM_NETWORK, type Reception, SimNetwork } from './sim-network.js';
import { SimPublisherDriver } from './sim-publisher.js';
import { EventOwner, SimScheduler } from './sim-scheduler.js';
import { emptyStats, type SimStats } from './sim-stats.js';

/** Milliseconds of virtual time in one sub-step. */
const SUB_STEP_MS = TICK_MS / SUB_STEPS_PER_TICK;
/** A dead process's connections are reported closed this long after it died (a TCP reset). */
const DISCONNECT_NOTICE_MS = 1;
/** Microtask turns given to the code that just ran before the next event (see drain()). */
const MICROTASK_TURNS_PER_EVENT = 6;
/** Read indexes asked per seed, at most. */
const MAX_READ_INDEXES = 100;
/** How long one read index keeps asking through elections, in ms (simulated). */
const READ_INDEX_WAIT_MS = 2000;
/** A broken rule repeats with every message: the history keeps this many breaches. */
const MAX_RULE_BREACHES_KEPT = 10;

/** Thrown when a node's host or core fails: the run stops, and the failure names the node. */
export class NodeFailure extends Error {
  override readonly name = 'NodeFailure';
  constructor(
    readonly nodeId: NodeId,
    override readonly cause: unknown,
  ) {
    super(
      `${nodeId}: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`,
    );
  }
}

/**
 * The whole simulated world of one seed: node processes running the
 * production host and storage code, real publishers and subscribers, the
 * network between them and virtual time. `runTick` advances time by one
 * tick, in sub-steps: due timers and disk completions run, then the packets
 * due at that sub-step are handed over.
 */
export class SimWorld {
  readonly scheduler = new SimScheduler();
  readonly brokers: SimBroker[];
  readonly publishers: SimPublisherDriver[];
  readonly deliverers: SimDeliverer[];
  readonly network: SimNetwork<SimPacket>;
  readonly stats: SimStats = emptyStats();
  readonly failures: { nodeId: NodeId; tick: number; error: unknown }[] = [];
  /** Rules broken where they happen (the first few). */
  readonly ruleBreaches: RuleBreach[] = [];
  /** The forged transfer campaigns on their way, checked where they arrive. */
  private readonly forgedTransferVotes = new WeakSet<NodeMessage>();
  private readonly leaders: LeaderRecord[] = [];
  private readonly acks: AckRecord[] = [];
  private readonly readIndexes: ReadIndexRecord[] = [];
  private readIndexesAsked = 0;
  private readonly byId = new Map<NodeId, SimBroker>();
  private readonly dialers = new Map<string, SimFrameDialer>();
  private readonly admin: AdminClient;
  private subStep = 0;
  private copyPrng: Prng | null = null;
  private healed = false;
  /** The members of the seed config. */
  readonly seedIds: readonly NodeId[];
  /** The seed config's witness (n3 in witness seeds), if any: it serves no subscriber. */
  readonly witnessId: NodeId | null;
  /** Each time a witness took entries beyond its tail bound (see checkWitness). */
  readonly witnessTailBreaches: string[] = [];
  private readonly witnessLastSeq = new Map<NodeId, number>();
  /** Told whenever a node becomes sequencer (the fault injector's scenarios listen). */
  onBecameLeader: ((nodeId: NodeId, epoch: number) => void) | null = null;

  constructor(
    readonly plan: SeedPlan,
    prng: Prng,
    private readonly log: (text: string) => void,
    logger: Logger,
  ) {
    this.network = new SimNetwork(prng.fork());
    this.network.faults = plan.faults.network;
    const seedIds = Array.from({ length: plan.nodeCount }, (_, i) => `n${i + 1}`);
    // Spare nodes are in the config (an address book) but not in the seed membership.
    const spareCount = plan.membership?.spareNodes ?? 0;
    const nodeIds = [
      ...seedIds,
      ...Array.from({ length: spareCount }, (_, i) => `n${plan.nodeCount + i + 1}`),
    ];
    this.seedIds = seedIds;
    const witnessId = plan.witness ? seedIds[seedIds.length - 1]! : null;
    this.witnessId = witnessId;
    const config: ClusterConfig = {
      clusterId: `sim-${plan.seed}`,
      nodes: nodeIds.map((id) => ({
        ...(id === witnessId ? { witness: true } : {}),
        id,
        host: id,
        bindHost: id,
        clientPort: SIM_CLIENT_PORT,
        peerPort: SIM_CLIENT_PORT + 1,
        pubPort: SIM_CLIENT_PORT + 2,
        httpPort: null,
      })),
      tickMs: TICK_MS,
      heartbeatIntervalMs: plan.core.heartbeatIntervalTicks * TICK_MS,
      electionTimeoutMs: plan.core.electionTimeoutTicks * TICK_MS,
      nackRetryMs: plan.core.nackRetryTicks * TICK_MS,
      fsync: 'always',
      fsyncIntervalMs: LIMITS.logFsyncIntervalMs,
      segmentBytes: plan.disk.segmentBytes,
      dataDir: null,
      retentionBytes: 0,
      retentionMs: 0,
      memoryLogEntries: null,
    };
    const sendPacket = (from: string, to: string, packet: SimPacket): void => {
      if (packet.kind === 'peer' && packet.message.type === 'append' && packet.message.catchUp)
        this.stats.witnessCatchUps++;
      this.network.send(from, to, this.maybeDamageCopy(from, to, packet), this.subStep);
    };
    this.brokers = nodeIds.map(
      (id, index) =>
        new SimBroker(
          id,
          {
            scheduler: this.scheduler,
            config,
            seedMembers: (id) => (seedIds.includes(id) ? seedIds : []),
            coreOverrides: { ...plan.core, plantedDefects: plan.plantedDefects },
            hostTiming: plan.hostTiming,
            logger,
            sendPacket,
            diskLatencyMaxMs: plan.disk.latencyMaxMs,
            fsyncErrorChance: plan.disk.fsyncErrorChance,
            segmentBytes: plan.disk.segmentBytes,
            // A witness drops every closed segment its data voters hold.
            retentionBytes:
              id === witnessId
                ? 1
                : plan.retention === null
                  ? null
                  : plan.disk.segmentBytes *
                    plan.retention.segmentsByNode[index % plan.retention.segmentsByNode.length]!,
            clockSkewMaxMs: plan.faults.clockSkewMaxMs,
            onRoleChange: (nodeId, role, epoch) => {
              if (role !== Role.leader) return;
              this.stats.elections++;
              this.leaders.push({ nodeId, epoch, tick: this.tick });
              this.log(`t${this.tick} ${nodeId} is sequencer in epoch ${epoch}`);
              this.onBecameLeader?.(nodeId, epoch);
            },
            onFailure: (nodeId, error) => {
              this.failures.push({ nodeId, tick: this.tick, error });
            },
            onDied: (nodeId, midWrite) => {
              if (midWrite) this.stats.crashesMidWrite++;
              this.onNodeDied(nodeId);
            },
            onPowerLoss: (nodeId) => this.powerLoss(nodeId),
            onRuleBreach: (nodeId, property, detail) => {
              if (this.ruleBreaches.length >= MAX_RULE_BREACHES_KEPT) return;
              this.ruleBreaches.push({ property, nodeId, tick: this.tick, message: detail });
              this.log(`t${this.tick} ${detail}`);
            },
            onRefused: (nodeId, error) => {
              this.stats.refusedStarts++;
              this.log(`t${this.tick} ${nodeId} refuses to start: ${error.message}`);
            },
            log: (text) => this.log(`t${this.tick} ${text}`),
          },
          prng.fork(),
        ),
    );
    for (const broker of this.brokers) this.byId.set(broker.id, broker);
    const endpoints = nodeIds.map(simEndpoint);
    const clientRuntime = (clientId: string): ClientRuntime => {
      const dialer = new SimFrameDialer(clientId, sendPacket);
      this.dialers.set(clientId, dialer);
      const random = prng.fork();
      return {
        dialer,
        clock: new SimClock(this.scheduler, new EventOwner(clientId), 0),
        random: () => random.next(),
      };
    };
    this.publishers = Array.from(
      { length: plan.publishers.count },
      (_, i) =>
        new SimPublisherDriver(
          `p${i + 1}`,
          prng.shuffle(endpoints.slice()),
          plan.publishers,
          prng.fork(),
          clientRuntime(`p${i + 1}`),
          {
            stats: this.stats,
            onAck: (publisherId, payload, seq) =>
              this.acks.push({ publisherId, payload, seq, tick: this.tick }),
          },
        ),
    );
    this.deliverers = nodeIds
      .filter((id) => id !== witnessId)
      .map(
        (id) =>
          new SimDeliverer(id, simEndpoint(id), clientRuntime(`sub-${id}`), () => this.tick, {
            brokerTimeoutMs: 4 * plan.core.electionTimeoutTicks * TICK_MS,
            nackRetryMs: plan.core.nackRetryTicks * TICK_MS,
          }),
      );
    this.admin = new AdminClient(endpoints, 1000, clientRuntime('admin'));
    for (const broker of this.brokers) broker.start();
    for (const deliverer of this.deliverers) deliverer.start();
  }

  get tick(): number {
    return Math.floor(this.scheduler.nowMs / TICK_MS);
  }

  node(id: NodeId): SimBroker {
    const broker = this.byId.get(id);
    invariant(broker !== undefined, `unknown node ${id}`);
    return broker;
  }

  /** Advances virtual time by one tick. Throws NodeFailure when a node failed. */
  async runTick(): Promise<void> {
    // After the heal a node that stopped on a disk fault still in flight is restarted at once.
    if (this.healed) {
      for (const broker of this.brokers) {
        if (!broker.isCrashed || broker.refused || broker.retired) continue;
        this.stats.restarts++;
        broker.start();
      }
    }
    for (const publisher of this.publishers) publisher.tick();
    for (let i = 0; i < SUB_STEPS_PER_TICK; i++) {
      this.subStep++;
      const untilMs = this.subStep * SUB_STEP_MS;
      while (this.scheduler.runNext(untilMs)) {
        await drain();
        this.throwOnFailure();
      }
      await this.deliverDue();
      this.throwOnFailure();
    }
    this.watchWitness();
    this.stats.ticks++;
  }

  /**
   * A witness never takes an entry beyond its tail bound: whenever its log
   * grew, its last seq is within witnessTailMaxEntries of the point every
   * data voter holds (as the witness knows it).
   */
  private watchWitness(): void {
    if (this.witnessId === null) return;
    const s = this.node(this.witnessId).node?.status();
    if (s === undefined) {
      // What a restarted witness recovers was taken before its crash, against the floor of then.
      this.witnessLastSeq.delete(this.witnessId);
      return;
    }
    if (!this.witnessLastSeq.has(this.witnessId)) {
      this.witnessLastSeq.set(this.witnessId, s.lastSeq ?? 0);
      return;
    }
    const lastSeq = s.lastSeq ?? 0;
    const previous = this.witnessLastSeq.get(this.witnessId) ?? 0;
    this.witnessLastSeq.set(this.witnessId, lastSeq);
    const bound = this.plan.core.witnessTailMaxEntries;
    const floor = s.witnessFloorSeq ?? 0;
    if (s.witness === true && lastSeq - floor >= bound) this.stats.witnessTailFullTicks++;
    if (s.witness !== true || lastSeq <= previous) return;
    if (lastSeq - floor > bound)
      this.witnessTailBreaches.push(
        `${this.witnessId} holds up to seq ${lastSeq} at tick ${this.tick}, beyond its floor ${floor} + bound ${bound}`,
      );
  }

  private async deliverDue(): Promise<void> {
    const packets = this.network.takeDue(this.subStep, (to) => this.reception(to));
    for (const packet of packets) {
      const message = packet.message;
      switch (message.kind) {
        case 'peer':
          if (this.forgedTransferVotes.has(message.message))
            this.deliverForgedTransferVote(packet.to, message.message as VoteRequestMessage);
          else this.guarded(packet.to, () => this.node(packet.to).deliverPeer(message.message));
          break;
        case 'toNode':
          this.guarded(packet.to, () =>
            this.node(packet.to).deliverClientFrame(message.channel, message.frame),
          );
          break;
        case 'toClient':
          this.dialers
            .get(clientOfChannel(message.channel))
            ?.deliver(message.channel, message.frame);
          break;
      }
      await drain();
    }
  }

  /** Draws which repair copies arrive damaged: a stream of its own, forked last, so the rest of a run is as it was. */
  useCopyPrng(prng: Prng): void {
    this.copyPrng = prng;
  }

  /**
   * A repair answer may arrive with one payload bit of one entry flipped on
   * its way: the receiving node must find that it no longer matches its
   * digest, and never take it for a sign that the sender lacks the entry
   * (doing so once cut a committed entry: seed 481).
   */
  private maybeDamageCopy(from: string, to: string, packet: SimPacket): SimPacket {
    const chance = this.plan.disk.damagedCopyChance;
    const prng = this.copyPrng;
    // Like every fault, it stops at the heal.
    if (chance === 0 || prng === null || this.healed || packet.kind !== 'peer') return packet;
    const message = packet.message;
    if (message.type !== 'repairResponse') return packet;
    const withPayload = message.entries.filter((e) => e.payload.length > 0);
    if (withPayload.length === 0 || !prng.chance(chance)) return packet;
    const victim = prng.pick(withPayload);
    const payload = Uint8Array.from(victim.payload);
    const bit = prng.int(0, payload.length * 8 - 1);
    payload[bit >> 3]! ^= 1 << (bit & 7);
    this.stats.damagedCopies++;
    const entries = message.entries.map((e) => (e === victim ? { ...e, payload } : e));
    this.log(`t${this.tick} the copy of seq ${victim.seq} that ${from} sends ${to} is damaged`);
    return { kind: 'peer', message: { ...message, entries } };
  }

  private guarded(nodeId: NodeId, work: () => unknown): void {
    try {
      work();
    } catch (error) {
      this.failures.push({ nodeId, tick: this.tick, error });
    }
  }

  private throwOnFailure(): void {
    const failure = this.failures[0];
    if (failure !== undefined) throw new NodeFailure(failure.nodeId, failure.error);
  }

  private reception(to: string): Reception {
    const broker = this.byId.get(to);
    if (broker === undefined) return 'receive';
    if (broker.isCrashed) return 'drop';
    return broker.isPaused() ? 'hold' : 'receive';
  }

  /** A faulty member's message, put on the network as if `from` had sent it. */
  forgePeerMessage(from: NodeId, to: NodeId, message: NodeMessage): void {
    this.stats.forgedFrames++;
    if (message.type === 'voteRequest' && message.transfer) this.forgedTransferVotes.add(message);
    this.network.send(from, to, { kind: 'peer', message }, this.subStep);
  }

  /**
   * Delivers a forged transfer campaign and checks the fencing rule where it
   * lands: a sequencer holding its lease (check-quorum on) that did not
   * announce a hand-over to the campaigner must refuse it, count it, and stay
   * sequencer in its epoch; a vote granted there would depose a live
   * sequencer. Where it lands elsewhere (the target lost its role or its
   * lease, moved to a later epoch, or now hands over to that very node) the
   * protocol may take it as any campaign, and only the other checkers judge.
   */
  private deliverForgedTransferVote(to: NodeId, vote: VoteRequestMessage): void {
    const broker = this.node(to);
    const before = broker.node?.status() ?? null;
    this.guarded(to, () => broker.deliverPeer(vote));
    const node = broker.node;
    if (before === null || node === null || !this.plan.core.checkQuorum) return;
    if (before.role !== 'leader' || (before.transferTarget ?? '') === vote.from) return;
    if (vote.epoch <= Number(before.epoch ?? 0)) return;
    const after = node.status();
    const refused =
      Number(after.peerMessagesRefused ?? 0) > Number(before.peerMessagesRefused ?? 0);
    if (refused && after.role === 'leader' && Number(after.epoch) === Number(before.epoch)) {
      this.stats.forgedTransfersRefused++;
      return;
    }
    this.failures.push({
      nodeId: to,
      tick: this.tick,
      error: new Error(
        `sequencer ${to} (epoch ${before.epoch}) ${refused ? 'counted' : 'did not refuse'} a transfer campaign by ${vote.from} for epoch ${vote.epoch} it never announced, and is now ${after.role} in epoch ${after.epoch}`,
      ),
    });
  }

  /** Every node still running crashes now: what none of them had synced is lost on all at once. */
  powerLoss(firstDown: NodeId): void {
    this.stats.powerLosses++;
    const up = this.brokers.filter((b) => !b.isCrashed);
    this.log(
      `t${this.tick} power loss after ${firstDown}: ${up.map((b) => b.id).join(', ') || 'nothing else'} down too`,
    );
    for (const broker of up) broker.crash();
  }

  private onNodeDied(nodeId: NodeId): void {
    this.stats.crashes++;
    this.scheduler.after(DISCONNECT_NOTICE_MS, null, () => {
      for (const broker of this.brokers) if (broker.id !== nodeId) broker.peerDisconnected(nodeId);
      for (const dialer of this.dialers.values()) dialer.nodeDied(nodeId);
    });
  }

  /** The sequencer with the highest epoch among running nodes, if any. */
  currentLeader(): SimBroker | null {
    let best: SimBroker | null = null;
    let bestEpoch = -1;
    for (const broker of this.brokers) {
      const node = broker.node;
      if (node === null || !node.isLeader || broker.isPaused()) continue;
      if (node.epoch > bestEpoch) {
        best = broker;
        bestEpoch = node.epoch;
      }
    }
    return best;
  }

  /**
   * A node outside the membership when the run ended (a spare never added,
   * a node removed): it owes no delivery, only agreement on what it did.
   */
  isFinalMember(id: NodeId): boolean {
    const broker = this.node(id);
    if (broker.retired) return false;
    const leader = this.currentLeader();
    const membership = (leader?.node ?? broker.node)?.membership;
    if (membership === undefined) return this.seedIds.includes(id);
    return memberIds(membership).includes(id);
  }

  /** Asks the sequencer, through the real admin client, to hand its role to `target`. */
  requestTransfer(target: NodeId): void {
    this.stats.transfersRequested++;
    this.admin.transferLeader(target, 0).then(
      () => {},
      () => {},
    );
  }

  /**
   * Asks the sequencer, through the real admin client, for a read index
   * (following it through elections), and records the answer with the
   * tick it was asked at. At most MAX_READ_INDEXES per seed.
   */
  requestReadIndex(): void {
    if (this.readIndexesAsked >= MAX_READ_INDEXES) return;
    this.readIndexesAsked++;
    const startTick = this.tick;
    this.admin.readIndex(READ_INDEX_WAIT_MS).then(
      (seq) => {
        this.stats.readIndexesAnswered++;
        this.readIndexes.push({ startTick, seq });
      },
      () => {
        this.stats.readIndexesFailed++;
      },
    );
  }

  /** Turns every fault off: calm network, links mended, paused nodes resumed, crashed nodes restarted. */
  heal(): void {
    this.log(`t${this.tick} heal`);
    this.onBecameLeader = null;
    this.network.faults = CALM_NETWORK;
    this.network.healLinks();
    this.healed = true;
    for (const broker of this.brokers) {
      broker.calmDisk();
      broker.disarmCrash();
      broker.resume();
      if (broker.isCrashed && !broker.retired) {
        this.stats.restarts++;
        broker.start();
      }
    }
    for (const publisher of this.publishers)
      publisher.finishWith(this.plan.publishers.messagesAfterHeal);
  }

  /** The most entries any node must still fetch: the longest delivered stream against the shortest. */
  repairLagEntries(): number {
    const longest = Math.max(...this.deliverers.map((d) => d.stream.lastSeq));
    const shortest = Math.min(...this.deliverers.map((d) => d.stream.lastSeq));
    return Math.max(0, longest - shortest);
  }

  /** Sums what each node's simulated disk went through into the stats. */
  collectDiskStats(): void {
    for (const broker of this.brokers) {
      const c = broker.fs.counters;
      this.stats.tornWrites += c.tornWrites;
      this.stats.lostUnsyncedWrites += c.lostUnsyncedWrites;
      this.stats.lostDirectoryChanges += c.lostDirectoryChanges;
      this.stats.fsyncErrors += c.fsyncErrors;
      this.stats.bitFlips += c.bitFlips;
      this.stats.recordsRepaired += broker.node?.status().recordsRepaired ?? 0;
    }
  }

  isDrained(): boolean {
    return this.outstanding().length === 0;
  }

  /** What keeps the run from being drained, for the liveness report. */
  outstanding(): string[] {
    const waiting: string[] = [];
    for (const p of this.publishers) if (!p.done) waiting.push(p.describeOutstanding());
    let leader: {
      id: NodeId;
      epoch: number;
      commitSeq: number;
      lastSeq: number;
      members: readonly NodeId[];
    } | null = null;
    for (const broker of this.brokers) {
      if (broker.refused || broker.retired) continue;
      const node = broker.node;
      if (node === null) {
        waiting.push(`${broker.id} is down`);
        continue;
      }
      const s = node.status();
      if (s.role === Role.leader && (leader === null || (s.epoch ?? 0) > leader.epoch))
        leader = {
          id: broker.id,
          epoch: s.epoch ?? 0,
          commitSeq: s.commitSeq ?? 0,
          lastSeq: s.lastSeq ?? 0,
          members: memberIds(node.membership),
        };
    }
    if (leader === null) {
      const states = this.brokers
        .map((b) => {
          const s = b.node?.status();
          return s === undefined
            ? `${b.id} down`
            : `${b.id} ${s.role} epoch ${s.epoch} last ${s.lastSeq} commit ${s.commitSeq}`;
        })
        .join(', ');
      waiting.push(`no sequencer (${states})`);
      return waiting;
    }
    if (leader.commitSeq < leader.lastSeq)
      waiting.push(`sequencer ${leader.id} committed ${leader.commitSeq} of ${leader.lastSeq}`);
    for (const d of this.deliverers) {
      // Nodes outside the membership (spares never added) owe nothing.
      if (this.node(d.nodeId).refused || !leader.members.includes(d.nodeId)) continue;
      if (d.stream.lastSeq !== leader.commitSeq) {
        const s = this.node(d.nodeId).node?.status();
        const state =
          s === undefined
            ? 'down'
            : `${s.role} epoch ${s.epoch} leader ${s.leaderId || '-'} last ${s.lastSeq} commit ${s.commitSeq}`;
        waiting.push(`${d.nodeId} delivered ${d.stream.lastSeq} of ${leader.commitSeq} (${state})`);
      }
    }
    return waiting;
  }

  close(): void {
    for (const p of this.publishers) p.close();
    for (const d of this.deliverers) d.close();
    void this.admin.close();
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
    const published = new Map<string, readonly string[]>();
    const uncertain = new Set<string>();
    for (const p of this.publishers) {
      published.set(p.id, p.published);
      for (const payload of p.uncertain) uncertain.add(payload);
    }
    const delivered = new Map<NodeId, readonly Entry[]>();
    const skipped = new Map<NodeId, readonly SkippedRange[]>();
    for (const d of this.deliverers) {
      delivered.set(d.nodeId, d.stream.entries);
      skipped.set(d.nodeId, d.stream.skipped);
    }
    return {
      // A witness delivers nothing: only the data nodes' streams are judged.
      nodeIds: this.brokers.map((b) => b.id).filter((id) => id !== this.witnessId),
      witnesses: new Set(this.witnessId === null ? [] : [this.witnessId]),
      witnessTailBreaches: this.witnessTailBreaches,
      delivered,
      skipped,
      deliveryAnomalies: [
        ...this.deliverers.flatMap((d) => d.stream.anomalies),
        ...this.deliverers.flatMap((d) =>
          d.failures.map((detail) => ({ nodeId: d.nodeId, seq: 0, tick: this.tick, detail })),
        ),
      ],
      published,
      uncertain,
      acks: this.acks,
      readIndexes: this.readIndexes,
      leaders: this.leaders,
      liveness,
      coreFailures,
      ruleBreaches: this.ruleBreaches,
      retired: new Set(
        this.brokers.filter((b) => b.refused || !this.isFinalMember(b.id)).map((b) => b.id),
      ),
    };
  }
}

/**
 * Lets the code that an event started run on before the next event: a few
 * turns of the microtask queue. Nothing in the simulated world waits on
 * real I/O, so what runs, and in which order, depends on the seed alone.
 */
async function drain(): Promise<void> {
  for (let i = 0; i < MICROTASK_TURNS_PER_EVENT; i++) await null;
}
