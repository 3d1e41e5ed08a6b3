import {
  type CoreConfig,
  type NodeId,
  type NodeMessage,
  PlantedDefect,
  type Role,
} from '../../src/core/index.js';
import { BrokerNode, type HostTiming } from '../../src/node/broker-node.js';
import type { ClusterConfig } from '../../src/node/cluster-config.js';
import type { Logger } from '../../src/runtime/logger.js';
import { DedupCheckpointStore } from '../../src/storage/dedup-checkpoint-store.js';
import { FileIncarnationStore } from '../../src/storage/incarnation-store.js';
import { FileMembershipStore } from '../../src/storage/membership-store.js';
import { StorageFailedError } from '../../src/storage/storage-errors.js';
import { DurabilityWatch, WatchedLogStore, WatchedMetaStore } from './durability-watch.js';
import type { Prng } from './prng.js';
import { SimClock } from './sim-clock.js';
import { type SendPacket, SimClientFrameSocket, SimPeerLink } from './sim-edges.js';
import { type DiskOpKind, SimFileSystem } from './sim-file-system.js';

/** Longest a disk operation other than an fsync takes, in ms. */
const PAGE_CACHE_LATENCY_MAX_MS = 0.05;
/** The file holding a node's epoch, vote and commit point (and its temp copy while saved). */
const META_FILE_NAME = 'meta.json';

import { EventOwner, type SimScheduler } from './sim-scheduler.js';

/** What a simulated node process needs from the world around it. */
export interface BrokerWorld {
  readonly scheduler: SimScheduler;
  readonly config: ClusterConfig;
  /** The voters of the seed config; a spare node starts with none and joins when added. */
  readonly seedMembers: (nodeId: NodeId) => readonly NodeId[];
  readonly coreOverrides: Partial<CoreConfig>;
  readonly hostTiming: HostTiming;
  readonly logger: Logger;
  readonly sendPacket: SendPacket;
  /** Longest a simulated disk operation takes. */
  readonly diskLatencyMaxMs: number;
  /** Chance that an fsync fails with EIO. */
  readonly fsyncErrorChance: number;
  readonly segmentBytes: number;
  /** Retention by size (whole segments), null to keep the whole log. */
  readonly retentionBytes: number | null;
  readonly clockSkewMaxMs: number;
  readonly onRoleChange: (nodeId: NodeId, role: Role, epoch: number) => void;
  readonly onFailure: (nodeId: NodeId, error: unknown) => void;
  readonly onDied: (nodeId: NodeId, midWrite: boolean) => void;
  /** A power loss struck as this node was part way through a disk operation: every node goes down. */
  readonly onPowerLoss: (nodeId: NodeId) => void;
  /**
   * The node broke a rule the simulator checks where it happens: it sent an
   * ack or a vote that claims more than its storage made durable
   * (`persistBeforeSend`), or as sequencer committed an earlier epoch's
   * entry by counting (`ownEpochCommit`).
   */
  readonly onRuleBreach: (
    nodeId: NodeId,
    property: 'persistBeforeSend' | 'ownEpochCommit',
    detail: string,
  ) => void;
  /** The node's log was damaged beyond repair from its peers: it refused to start. */
  readonly onRefused: (nodeId: NodeId, error: Error) => void;
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
  /** The node's disk: it outlives every crash of the process. */
  readonly fs: SimFileSystem;
  private incarnation: Incarnation | null = null;
  private crashArmed = false;
  /** The armed crash is a power loss: when it strikes, every node goes down with this one. */
  private powerLossArmed = false;
  /** The armed crash strikes only in a save of the node's metadata (its epoch and vote). */
  private metadataOnlyArmed = false;
  /** The epoch and vote the node held at its last metadata save: a save that records a new vote is the one to strike. */
  private voteAtLastMetaSave = '';
  private incarnations = 0;
  /** The node refused to start (its damaged log could not be repaired): it stays down. */
  refused = false;
  /** The node was removed from the cluster and stopped for good. */
  retired = false;

  constructor(
    readonly id: NodeId,
    private readonly world: BrokerWorld,
    private readonly prng: Prng,
  ) {
    this.fs = new SimFileSystem({
      prng: prng.fork(),
      delay: (kind, path) => this.diskLatency(kind, path),
      fsyncErrorChance: world.fsyncErrorChance,
    });
  }

  /** Where this node's files live on its simulated disk. */
  get dataDir(): string {
    return `/data/${this.id}`;
  }

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
    if (this.refused || this.retired) return;
    const world = this.world;
    const owner = new EventOwner(`${this.id}.${++this.incarnations}`);
    const skewMs =
      world.clockSkewMaxMs === 0 ? 0 : this.prng.int(-world.clockSkewMaxMs, world.clockSkewMaxMs);
    const clock = new SimClock(world.scheduler, owner, skewMs);
    const others = world.config.nodes.map((n) => n.id).filter((id) => id !== this.id);
    const watch = new DurabilityWatch();
    const peers = new SimPeerLink(this.id, others, (from, to, packet) => {
      if (packet.kind === 'peer') {
        const breach = watch.breachOf(to, packet.message);
        if (breach !== null) world.onRuleBreach(this.id, 'persistBeforeSend', breach);
      }
      world.sendPacket(from, to, packet);
    });
    const clients = new SimClientFrameSocket(this.id, world.sendPacket);
    const incarnation: Incarnation = { owner, peers, clients, node: null };
    this.incarnation = incarnation;
    const store = new WatchedLogStore(
      {
        dir: `${this.dataDir}/log`,
        fs: this.fs,
        fsync: 'always',
        segmentBytes: world.segmentBytes,
        retentionBytes: world.retentionBytes,
        verifyClosedSegments: true,
        checkRepairsAgainstChain: !world.coreOverrides.plantedDefects?.has(
          PlantedDefect.uncheckedRepair,
        ),
      },
      watch,
    );
    const meta = new WatchedMetaStore(
      { dir: this.dataDir, fileName: META_FILE_NAME, fs: this.fs },
      watch,
    );
    const membership = new FileMembershipStore(this.dataDir, this.fs);
    const incarnationStore = new FileIncarnationStore(this.dataDir, this.fs);
    const dedup = new DedupCheckpointStore(this.dataDir, 'dedup.json', this.fs);
    const random = this.prng.fork();
    BrokerNode.start({
      config: world.config,
      nodeId: this.id,
      logger: world.logger,
      store,
      meta,
      membership,
      incarnation: incarnationStore,
      dataFolder: this.dataDir,
      seedMembers: world.seedMembers(this.id),
      dedup,
      coreOverrides: world.coreOverrides,
      hostTiming: world.hostTiming,
      edges: {
        peers,
        clientSocket: clients,
        clock,
        random: () => random.next(),
        onFatal: (error) => {
          if (!owner.alive) return;
          // A failed fsync stops the node as a crash would; it restarts from its disk.
          if (isStorageFailure(error)) this.crash();
          else world.onFailure(this.id, error);
        },
      },
      observer: {
        onRoleChange: (role, epoch) => {
          if (owner.alive) world.onRoleChange(this.id, role, epoch);
        },
        onLeaderCommit: (commitSeq, entryEpoch, epoch) => {
          if (owner.alive && entryEpoch !== epoch)
            world.onRuleBreach(
              this.id,
              'ownEpochCommit',
              `${this.id}, sequencer of epoch ${epoch}, committed seq ${commitSeq} of epoch ${entryEpoch} by counting replicas`,
            );
        },
      },
    }).then(
      (node) => {
        if (owner.alive) incarnation.node = node;
      },
      (error: unknown) => {
        if (!owner.alive) return;
        if (isStorageFailure(error)) {
          this.crash();
        } else if (error instanceof Error && error.name === 'LogRepairError') {
          this.crash();
          this.refused = true;
          world.onRefused(this.id, error);
        } else {
          world.onFailure(this.id, error);
        }
      },
    );
  }

  /**
   * Kills the process at once: unsynced writes are lost (some torn), its
   * timers and pending disk operations are dropped, and its peers and
   * clients hear the connection drop.
   */
  crash(midWrite = false): void {
    const incarnation = this.incarnation;
    if (incarnation === null) return;
    incarnation.owner.alive = false;
    void incarnation.peers.close();
    incarnation.clients.close();
    this.incarnation = null;
    this.crashArmed = false;
    this.powerLossArmed = false;
    this.metadataOnlyArmed = false;
    this.fs.crash();
    this.world.log(`${this.id} crashes${midWrite ? ' part way through its disk operations' : ''}`);
    this.world.onDied(this.id, midWrite);
  }

  /** Removed from the cluster: the process stops and never starts again. */
  retire(): void {
    this.retired = true;
    this.crash();
  }

  /**
   * The process will crash at a random point of its coming disk operations;
   * with `powerLoss`, every other node crashes in the same instant; with
   * `metadataOnly`, it waits for a save of the node's epoch and vote (a
   * vote sent but not yet durable is what such a crash tests).
   */
  armCrash(options: { powerLoss?: boolean; metadataOnly?: boolean } = {}): void {
    this.crashArmed = true;
    this.powerLossArmed = options.powerLoss === true;
    this.metadataOnlyArmed = options.metadataOnly === true;
  }

  get isPowerLossArmed(): boolean {
    return this.crashArmed && this.powerLossArmed;
  }

  disarmCrash(): void {
    this.crashArmed = false;
    this.powerLossArmed = false;
    this.metadataOnlyArmed = false;
  }

  /**
   * Whether this disk operation belongs to a metadata save that records a
   * vote (or epoch) the last save did not hold. Most saves only move the
   * commit point; a vote forgotten in a crash is what lets a node vote twice
   * in one epoch, so the aimed crash waits for such a save.
   */
  private savesNewVote(path: string): boolean {
    if (!path.startsWith(`${this.dataDir}/${META_FILE_NAME}`)) return false;
    const node = this.node;
    if (node === null) return this.prng.chance(0.5);
    const vote = `${node.epoch}/${node.votedFor ?? ''}`;
    if (vote === this.voteAtLastMetaSave) return false;
    // The save's later operations (its fsync, the rename) match too.
    if (this.prng.chance(0.5)) return true;
    this.voteAtLastMetaSave = vote;
    return false;
  }

  /** Every fault of the disk stops: the heal. */
  calmDisk(): void {
    this.fs.fsyncErrorChance = 0;
  }

  pause(untilMs: number): void {
    if (this.incarnation !== null) this.incarnation.owner.pausedUntilMs = untilMs;
  }

  resume(): void {
    if (this.incarnation !== null) this.incarnation.owner.pausedUntilMs = -1;
  }

  /** Hands a peer packet to the node; false when nothing is listening. */
  deliverPeer(message: NodeMessage): boolean {
    // The peer link listens from the start: a node repairing its log hears its peers' answers.
    const incarnation = this.incarnation;
    if (incarnation === null) return false;
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
   * it crashed). An armed crash strikes at one of these operations, part way
   * through a Ready's writes.
   */
  private diskLatency(kind: DiskOpKind, path: string): Promise<void> {
    const owner = this.incarnation?.owner;
    if (owner === undefined) return new Promise<void>(() => {});
    const strikes =
      this.crashArmed && (this.metadataOnlyArmed ? this.savesNewVote(path) : this.prng.chance(0.3));
    if (strikes) {
      const powerLoss = this.powerLossArmed;
      this.crash(true);
      if (powerLoss) this.world.onPowerLoss(this.id);
      return new Promise<void>(() => {});
    }
    // An fsync waits for the device; everything else is served by the page cache.
    const maxMs = kind === 'sync' ? this.world.diskLatencyMaxMs : PAGE_CACHE_LATENCY_MAX_MS;
    const delayMs = this.prng.float(0, maxMs);
    if (this.powerLossArmed && kind === 'sync') {
      // A power loss strikes while the device is still busy with the fsync:
      // whatever the node sent meanwhile (acks, under a bug) is already out.
      this.world.scheduler.after(this.prng.float(0, delayMs), owner, () => {
        this.crash(true);
        this.world.onPowerLoss(this.id);
      });
      return new Promise<void>(() => {});
    }
    return new Promise<void>((resolve) => {
      this.world.scheduler.after(delayMs, owner, resolve);
    });
  }
}

/**
 * A failed fsync or write: the node stops as if it crashed, and restarts
 * from what its disk holds. Storage wraps these in StorageFailedError; an
 * EIO may also surface as it is.
 */
function isStorageFailure(error: unknown): boolean {
  if (error instanceof StorageFailedError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EIO';
}
