import type { CoreConfig, NodeId, PeerMessage, Role } from '../../src/core/index.js';
import { BrokerNode, type HostTiming } from '../../src/node/broker-node.js';
import type { ClusterConfig } from '../../src/node/cluster-config.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { Prng } from './prng.js';
import { SimClock } from './sim-clock.js';
import { SimDisk } from './sim-disk.js';
import { type SendPacket, SimClientFrameSocket, SimPeerLink } from './sim-edges.js';
import { EventOwner, type SimScheduler } from './sim-scheduler.js';
import { simNodeStorage } from './sim-storage.js';

/** What a simulated node process needs from the world around it. */
export interface BrokerWorld {
  readonly scheduler: SimScheduler;
  readonly config: ClusterConfig;
  readonly coreOverrides: Partial<CoreConfig>;
  readonly hostTiming: HostTiming;
  readonly logger: Logger;
  readonly sendPacket: SendPacket;
  /** Longest a simulated disk operation takes. */
  readonly diskLatencyMaxMs: number;
  readonly clockSkewMaxMs: number;
  readonly maxRetainedEntries: number | null;
  readonly onRoleChange: (nodeId: NodeId, role: Role, epoch: number) => void;
  readonly onFailure: (nodeId: NodeId, error: unknown) => void;
  readonly onDied: (nodeId: NodeId, lostWrites: number, midWrite: boolean) => void;
  readonly log: (text: string) => void;
}

/** One running incarnation of the node process. */
interface Incarnation {
  readonly owner: EventOwner;
  readonly peers: SimPeerLink;
  readonly clients: SimClientFrameSocket;
  node: BrokerNode | null;
}

/**
 * One simulated node process running the production `BrokerNode` over
 * simulated edges. Its disk outlives crashes; everything else is the
 * incarnation, which a crash abandons mid-flight: its timers and pending
 * disk operations never run again, and a restart builds a new node from
 * what the disk kept, as a restarted process does.
 */
export class SimBroker {
  readonly disk = new SimDisk();
  private incarnation: Incarnation | null = null;
  private crashArmed = false;
  private incarnations = 0;

  constructor(
    readonly id: NodeId,
    private readonly world: BrokerWorld,
    private readonly prng: Prng,
  ) {}

  get isCrashed(): boolean {
    return this.incarnation === null;
  }

  get isCrashArmed(): boolean {
    return this.crashArmed;
  }

  /** The running node, once it has started listening; null while down or starting. */
  get node(): BrokerNode | null {
    return this.incarnation?.node ?? null;
  }

  isPaused(): boolean {
    const owner = this.incarnation?.owner;
    return owner !== undefined && owner.pausedUntilMs > this.world.scheduler.nowMs;
  }

  start(): void {
    if (this.incarnation !== null) throw new Error(`${this.id} started twice`);
    const world = this.world;
    const owner = new EventOwner(`${this.id}.${++this.incarnations}`);
    const skewMs =
      world.clockSkewMaxMs === 0 ? 0 : this.prng.int(-world.clockSkewMaxMs, world.clockSkewMaxMs);
    const clock = new SimClock(world.scheduler, owner, skewMs);
    const others = world.config.nodes.map((n) => n.id).filter((id) => id !== this.id);
    const peers = new SimPeerLink(this.id, others, world.sendPacket);
    const clients = new SimClientFrameSocket(this.id, world.sendPacket);
    const incarnation: Incarnation = { owner, peers, clients, node: null };
    this.incarnation = incarnation;
    const storage = simNodeStorage(
      this.disk,
      () => this.diskLatency(owner),
      world.maxRetainedEntries,
    );
    const random = this.prng.fork();
    BrokerNode.start({
      config: world.config,
      nodeId: this.id,
      logger: world.logger,
      store: storage.store,
      meta: storage.meta,
      dedup: storage.dedup,
      coreOverrides: world.coreOverrides,
      hostTiming: world.hostTiming,
      edges: {
        peers,
        clientSocket: clients,
        clock,
        random: () => random.next(),
        onFatal: (error) => world.onFailure(this.id, error),
      },
      observer: {
        onRoleChange: (role, epoch) => {
          if (owner.alive) world.onRoleChange(this.id, role, epoch);
        },
      },
    }).then(
      (node) => {
        if (owner.alive) incarnation.node = node;
      },
      (error: unknown) => {
        if (owner.alive) world.onFailure(this.id, error);
      },
    );
  }

  /**
   * Kills the process at once: unsynced writes are lost (some torn), its
   * timers and pending disk operations are dropped, and its peers and
   * clients hear the connection drop.
   */
  crash(midWrite = false): number {
    const incarnation = this.incarnation;
    if (incarnation === null) return 0;
    incarnation.owner.alive = false;
    void incarnation.peers.close();
    incarnation.clients.close();
    this.incarnation = null;
    this.crashArmed = false;
    const lost = this.disk.crash(this.prng);
    this.world.log(
      `${this.id} crashes (lost ${lost} unsynced writes, disk holds ${this.disk.lastSeq})`,
    );
    this.world.onDied(this.id, lost, midWrite);
    return lost;
  }

  /** The process will crash in the middle of its next disk write, between the write and its sync. */
  armCrash(): void {
    this.crashArmed = true;
  }

  disarmCrash(): void {
    this.crashArmed = false;
  }

  pause(untilMs: number): void {
    if (this.incarnation !== null) this.incarnation.owner.pausedUntilMs = untilMs;
  }

  resume(): void {
    if (this.incarnation !== null) this.incarnation.owner.pausedUntilMs = -1;
  }

  /** Hands a peer packet to the node; false when nothing is listening. */
  deliverPeer(message: PeerMessage): boolean {
    const incarnation = this.incarnation;
    if (incarnation === null || incarnation.node === null) return false;
    return incarnation.peers.deliver(message);
  }

  deliverClientFrame(channel: string, frame: Uint8Array): boolean {
    const incarnation = this.incarnation;
    if (incarnation === null || incarnation.node === null) return false;
    return incarnation.clients.deliver(channel, frame);
  }

  peerDisconnected(peer: NodeId): void {
    this.incarnation?.peers.peerDisconnected(peer);
  }

  /**
   * Each disk operation completes after a random delay on the process's own
   * clock (so it waits while the process is paused and never completes once
   * it crashed). An armed crash strikes here, part way through a write.
   */
  private diskLatency(owner: EventOwner): Promise<void> {
    if (this.crashArmed && owner.alive && this.disk.unsyncedWriteCount > 0) {
      this.world.log(`${this.id} crashes in the middle of a write`);
      this.crash(true);
    }
    return new Promise<void>((resolve) => {
      if (!owner.alive) return;
      const delayMs = this.prng.float(0, this.world.diskLatencyMaxMs);
      this.world.scheduler.after(delayMs, owner, resolve);
    });
  }
}
