import {
  type AppendMessage,
  type DedupCheckpoint,
  type Entry,
  invariant,
  makeCoreConfig,
  type NodeId,
  PendingReplies,
  type Proposal,
  ProtocolNode,
  type Ready,
  type RecoveredState,
  Role,
} from '../../src/core/index.js';
import { LIMITS } from '../../src/limits.js';
import { DeliveredStream } from './delivered-stream.js';
import type { Prng } from './prng.js';
import { type SeedPlan, TICK_MS } from './seed-plan.js';
import { SimDisk } from './sim-disk.js';
import type { PublishReply, PublishRequest, SimMessage } from './sim-messages.js';
import type { Packet } from './sim-network.js';
import type { SimStats } from './sim-stats.js';

/** What a node host needs from the cluster around it. */
export interface NodeEnvironment {
  readonly plan: SeedPlan;
  readonly stats: SimStats;
  readonly send: (from: string, to: string, message: SimMessage) => void;
  readonly nowTick: () => number;
  readonly onBecameLeader: (nodeId: NodeId, epoch: number) => void;
  readonly log: (text: string) => void;
}

/** A publisher waiting for its message to commit on this node. */
interface ReplyToken {
  readonly publisherId: string;
  readonly producerId: string;
  readonly producerSeq: number;
}

/** Thrown when a node's core (or its host) throws: the run stops, and the failure names the node. */
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

/** Where in carrying out a Ready an armed crash strikes. */
type CrashPoint = 'midWrite' | 'afterSync' | 'afterHardState';

/**
 * A node host: it wraps one ProtocolNode core with a simulated disk and
 * carries out each Ready in the prescribed order (persist, then send, then
 * deliver), as the real node host does. It also answers publishers the way
 * the real host does: a publish is answered only once its entry commits,
 * through PendingReplies.
 */
export class SimNode {
  readonly disk = new SimDisk();
  readonly stream: DeliveredStream;
  private core: ProtocolNode | null = null;
  private pending = new PendingReplies<ReplyToken>(LIMITS.maxPendingPublishReplies);
  private readonly peers: readonly NodeId[];
  private pausedUntilTick = -1;
  private crashArmed = false;
  private clockSkewMs = 0;
  /** Most committed entries this node's disk keeps; null without retention. */
  private readonly maxRetainedEntries: number | null;
  /** Seq of the last dedup checkpoint saved (or restarted from) by this process; 0 when none. */
  private checkpointSeq = 0;
  /** A dedup checkpoint being saved, durable once `completesAtTick` is reached; a crash loses it. */
  private checkpointSave: {
    readonly checkpoint: DedupCheckpoint;
    readonly completesAtTick: number;
  } | null = null;
  private nextCheckpointTick = 0;

  constructor(
    readonly id: NodeId,
    private readonly members: readonly NodeId[],
    private readonly prng: Prng,
    private readonly env: NodeEnvironment,
    /** Decides when dedup checkpoints are saved and how long a save takes (its own stream). */
    private readonly checkpointPrng: Prng,
  ) {
    this.peers = members.filter((m) => m !== id);
    this.stream = new DeliveredStream(id);
    this.maxRetainedEntries = env.plan.retention?.maxEntriesByNode[members.indexOf(id)] ?? null;
    this.guarded(() => this.start());
  }

  get isCrashed(): boolean {
    return this.core === null;
  }

  isPaused(tick: number): boolean {
    return tick < this.pausedUntilTick;
  }

  /** Up and running: neither crashed nor paused. */
  canRun(tick: number): boolean {
    return this.core !== null && !this.isPaused(tick);
  }

  get isCrashArmed(): boolean {
    return this.crashArmed;
  }

  /** The running core, for the cluster's read-only queries (who leads, what is committed). */
  get protocol(): ProtocolNode | null {
    return this.core;
  }

  /** Builds a fresh core from what the disk holds, as a restarting process does. */
  private start(): void {
    invariant(this.core === null, `${this.id} started twice`);
    const recovered = this.disk.recover();
    const f = this.env.plan.faults;
    this.clockSkewMs =
      f.clockSkewMaxMs === 0 ? 0 : this.prng.int(-f.clockSkewMaxMs, f.clockSkewMaxMs);
    const random = this.prng.fork();
    const config = makeCoreConfig(this.id, this.members, () => random.next(), this.env.plan.core);
    const dedup = this.loadDedupCheckpoint(recovered);
    this.core = new ProtocolNode(config, { ...recovered, ...dedup });
    this.checkpointSeq = dedup.dedupCheckpoint?.seq ?? 0;
    this.checkpointSave = null;
    // Like the real host's timer, the first save is due one interval after the start.
    this.nextCheckpointTick = this.env.nowTick() + this.env.plan.dedupCheckpoint.intervalTicks;
    this.pending = new PendingReplies<ReplyToken>(LIMITS.maxPendingPublishReplies);
    // The subscriber-facing stream may be behind what the disk knows is committed: catch it up.
    this.deliverRange(this.stream.lastSeq + 1, this.core.committedSeq);
  }

  /**
   * The saved dedup checkpoint and the log entries after it, when it fits
   * the log as the real host requires (not older than the log's start, not
   * ahead of its end, at most LIMITS.maxDedupReplayEntries behind it);
   * otherwise no checkpoint and the whole held log (the fallback).
   */
  private loadDedupCheckpoint(recovered: RecoveredState): {
    dedupCheckpoint: DedupCheckpoint | null;
    recentEntries: readonly Entry[];
  } {
    const fallback = { dedupCheckpoint: null, recentEntries: recovered.recentEntries };
    const checkpoint = this.disk.dedupCheckpoint;
    if (checkpoint === null) {
      if (recovered.lastSeq > 0) {
        this.env.stats.restartsNoCheckpoint++;
        this.env.log(`${this.id} has no dedup checkpoint`);
      }
      return fallback;
    }
    const behind = recovered.lastSeq - checkpoint.seq;
    const olderThanLog = checkpoint.seq < recovered.firstSeq - 1;
    if (olderThanLog || behind < 0 || behind > LIMITS.maxDedupReplayEntries) {
      if (olderThanLog) this.env.stats.checkpointsOlderThanLog++;
      else this.env.stats.checkpointsAheadOfLog++;
      this.env.log(
        `${this.id} ignores its dedup checkpoint at seq ${checkpoint.seq} (log ${recovered.firstSeq}..${recovered.lastSeq})`,
      );
      return fallback;
    }
    this.env.stats.restartsFromCheckpoint++;
    this.env.log(`${this.id} restarts from its dedup checkpoint at seq ${checkpoint.seq}`);
    return {
      dedupCheckpoint: checkpoint,
      recentEntries: this.disk.read(checkpoint.seq + 1, recovered.lastSeq),
    };
  }

  /**
   * Starts saving the dedup table when the commit point moved since the
   * last checkpoint and no save is under way (as the real host's timer
   * does), and completes a save whose time has come.
   */
  private checkpointDedup(extra: boolean): void {
    const core = this.core;
    if (core === null) return;
    const tick = this.env.nowTick();
    this.completeCheckpointSave(tick);
    if (!extra && tick < this.nextCheckpointTick) return;
    if (!extra) this.nextCheckpointTick = tick + this.env.plan.dedupCheckpoint.intervalTicks;
    if (this.checkpointSave !== null || core.committedSeq <= this.checkpointSeq) return;
    this.checkpointSave = {
      checkpoint: core.dedupCheckpoint(LIMITS.dedupCheckpointPairsPerProducer),
      completesAtTick:
        tick + this.checkpointPrng.int(0, this.env.plan.dedupCheckpoint.maxSaveTicks),
    };
    this.completeCheckpointSave(tick);
  }

  private completeCheckpointSave(tick: number): void {
    const save = this.checkpointSave;
    if (save === null || tick < save.completesAtTick) return;
    this.disk.saveDedupCheckpoint(save.checkpoint);
    this.checkpointSeq = save.checkpoint.seq;
    this.checkpointSave = null;
    this.env.stats.checkpointsSaved++;
  }

  restart(): void {
    this.env.stats.restarts++;
    if (this.disk.firstSeq > 1) this.env.stats.restartsWithLogStart++;
    this.env.log(`${this.id} restarts (disk holds ${this.disk.lastSeq} entries)`);
    this.guarded(() => this.start());
  }

  pause(untilTick: number): void {
    this.pausedUntilTick = untilTick;
  }

  resume(): void {
    this.pausedUntilTick = -1;
  }

  /** The node will crash the next time it carries out a Ready, part way through it. */
  armCrash(): void {
    this.crashArmed = true;
  }

  disarmCrash(): void {
    this.crashArmed = false;
  }

  /**
   * Crashes at once. With work pending, power fails part way through
   * carrying it out; otherwise between Readies, where nothing is half
   * written because each Ready ends with a sync.
   */
  crashNow(): void {
    this.guarded(() => this.crashBetweenReadies());
  }

  private crashBetweenReadies(): void {
    const core = this.core;
    invariant(core !== null, `${this.id} crashed twice`);
    if (core.hasReady()) {
      // Power fails while it carries out what is pending, at a random point.
      const ready = core.ready();
      if (ready.roleChange?.role === Role.leader)
        this.env.onBecameLeader(this.id, ready.roleChange.epoch);
      this.crashDuring(ready);
      return;
    }
    this.die(0);
  }

  tick(): void {
    this.guarded(() => {
      this.core!.tick();
      this.processReady();
      this.applyRetention();
      this.checkpointDedup(false);
    });
  }

  /**
   * Now and then, drops the oldest committed entries beyond this node's
   * limit and tells the core, as the real host does after its store deleted
   * old segments. It runs between Readies, so every write is synced, and
   * never drops an entry above the commit point.
   */
  private applyRetention(): void {
    const core = this.core;
    const retention = this.env.plan.retention;
    if (core === null || retention === null || this.maxRetainedEntries === null) return;
    if (!this.prng.chance(retention.chancePerTick)) return;
    const excess = this.disk.heldEntries - this.maxRetainedEntries;
    // As the real host: never past the last saved dedup checkpoint, so a
    // restart always finds the producers of whatever it dropped.
    const limitSeq = Math.min(core.committedSeq, this.disk.dedupCheckpoint?.seq ?? 0);
    const droppable = Math.min(excess, limitSeq - this.disk.firstSeq + 1);
    if (droppable <= 0) return;
    invariant(
      core.committedSeq <= this.stream.lastSeq,
      `${this.id} would drop committed entries it has not delivered`,
    );
    const firstSeq = this.disk.firstSeq + droppable;
    this.disk.compactBefore(firstSeq);
    core.compactBefore(firstSeq);
    this.env.stats.compactions++;
    this.env.stats.compactedEntries += droppable;
  }

  receive(packets: readonly Packet<SimMessage>[]): void {
    this.guarded(() => this.receiveAll(packets));
  }

  transferLeadership(target: NodeId): boolean {
    return this.guarded(() => {
      const core = this.core;
      if (core === null || !core.isLeader) return false;
      const result = core.transferLeadership(target);
      this.processReady();
      return result.ok;
    });
  }

  private guarded<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof NodeFailure) throw error;
      throw new NodeFailure(this.id, error);
    }
  }

  private receiveAll(packets: readonly Packet<SimMessage>[]): void {
    let publishes: Packet<SimMessage>[] = [];
    for (const packet of packets) {
      if (this.core === null) return;
      const message = packet.message;
      if (message.kind === 'publish') {
        publishes.push(packet);
        continue;
      }
      if (publishes.length > 0) {
        this.propose(publishes);
        publishes = [];
        if (this.core === null) return;
      }
      if (message.kind !== 'peer') continue;
      this.core.step(message.message);
      // The real host's timer may fire before this message's Ready is carried out.
      const extraSave = this.env.plan.dedupCheckpoint.extraSaveChance;
      if (extraSave > 0 && this.checkpointPrng.chance(extraSave)) this.checkpointDedup(true);
      if (this.prng.chance(this.env.plan.eagerReadyChance)) this.processReady();
    }
    if (publishes.length > 0 && this.core !== null) this.propose(publishes);
    if (this.core !== null) this.processReady();
  }

  // ------------------------------------------------------------- publishes

  private propose(packets: readonly Packet<SimMessage>[]): void {
    // Carry out what is pending first, so that every seq a publisher waits on
    // is in storage before anything can truncate it (truncations of stored
    // entries reach the host as truncateAfter, which fails their waiters).
    this.processReady();
    const core = this.core;
    if (core === null) return;
    const requests = packets.map((p) => ({
      from: p.from,
      request: (p.message as { request: PublishRequest }).request,
    }));
    const proposals: Proposal[] = requests.map((r) => r.request);
    const nowMs = this.env.nowTick() * TICK_MS + this.clockSkewMs;
    const results = core.propose(proposals, nowMs);
    invariant(results.length === proposals.length, 'propose must answer each proposal');
    for (let i = 0; i < results.length; i++) {
      const result = results[i]!;
      const { from, request } = requests[i]!;
      const token: ReplyToken = {
        publisherId: from,
        producerId: request.producerId,
        producerSeq: request.producerSeq,
      };
      switch (result.kind) {
        case 'appended':
          this.env.stats.publishes++;
          this.wait(result.seq, result.epoch, token);
          break;
        case 'duplicate':
          this.env.stats.duplicateProposals++;
          if (result.seq !== null && result.epoch !== null) {
            this.wait(result.seq, result.epoch, token);
          } else {
            this.env.stats.acksWithoutSeq++;
            this.reply(token, { kind: 'ack', producerSeq: request.producerSeq, seq: result.seq });
          }
          break;
        case 'outOfOrder':
          this.env.stats.outOfOrderReplies++;
          this.reply(token, {
            kind: 'outOfOrder',
            producerSeq: request.producerSeq,
            expectedProducerSeq: result.expectedProducerSeq,
          });
          break;
        case 'notLeader':
          this.env.stats.notLeaderReplies++;
          this.reply(token, {
            kind: 'notLeader',
            producerSeq: request.producerSeq,
            leaderId: result.leaderId,
          });
          break;
        case 'busy':
          this.env.stats.busyReplies++;
          this.reply(token, {
            kind: 'retry',
            producerSeq: request.producerSeq,
            reason: result.reason,
          });
          break;
      }
    }
    this.processReady();
    // A duplicate of a message committed long ago is answered at once.
    this.settle(null);
  }

  private wait(seq: number, epoch: number, token: ReplyToken): void {
    if (!this.pending.add(seq, epoch, token)) {
      this.reply(token, {
        kind: 'retry',
        producerSeq: token.producerSeq,
        reason: 'too many pending replies',
      });
    }
  }

  private settle(truncateAfter: number | null): void {
    const core = this.core;
    if (core === null) return;
    const settled = truncateAfter === null ? [] : this.pending.settleTruncated(truncateAfter);
    settled.push(...this.pending.settleCommitted(core.committedSeq, (seq) => core.epochAt(seq)));
    for (const s of settled) {
      if (s.committed)
        this.reply(s.token, { kind: 'ack', producerSeq: s.token.producerSeq, seq: s.seq });
      else {
        this.env.stats.truncatedPublishes++;
        this.reply(s.token, {
          kind: 'retry',
          producerSeq: s.token.producerSeq,
          reason: `seq ${s.seq} truncated`,
        });
      }
    }
  }

  private reply(token: ReplyToken, reply: PublishReply): void {
    this.env.send(this.id, token.publisherId, {
      kind: 'reply',
      producerId: token.producerId,
      reply,
    });
  }

  // ------------------------------------------------------------------ Ready

  private processReady(): void {
    for (let rounds = 0; ; rounds++) {
      const core = this.core;
      if (core === null || !core.hasReady()) return;
      invariant(rounds < 10, `${this.id} keeps producing Readies`);
      const ready = core.ready();
      if (ready.roleChange !== null) {
        const change = ready.roleChange;
        this.env.log(
          `${this.id} is ${change.role} in epoch ${change.epoch} (leader ${change.leaderId ?? '-'})`,
        );
        if (change.role === Role.leader) this.env.onBecameLeader(this.id, change.epoch);
      }
      // An armed crash waits for a Ready that writes to the log, where losing power hurts
      // most; one that saves only the hard state is struck now and then too.
      const writesLog =
        ready.entries.length > 0 || ready.truncateAfter !== null || ready.resetLogAfter !== null;
      if (this.crashArmed && (writesLog || (ready.hardState !== null && this.prng.chance(0.2)))) {
        this.crashDuring(ready);
        return;
      }
      this.persist(ready);
      this.sendAll(ready);
      this.deliver(ready);
      this.settle(ready.truncateAfter);
      core.advance(ready);
    }
  }

  private persist(ready: Ready): void {
    if (ready.resetLogAfter !== null) {
      // Whatever this node waited on is gone with its log: the publishers
      // retry, as the real host answers them.
      for (const s of this.pending.settleTruncated(0)) {
        this.env.stats.truncatedPublishes++;
        this.reply(s.token, {
          kind: 'retry',
          producerSeq: s.token.producerSeq,
          reason: 'this node restarted its log',
        });
      }
      this.resetLog(ready.resetLogAfter.seq, ready.resetLogAfter.epoch);
    }
    if (ready.truncateAfter !== null && ready.truncateAfter < this.disk.lastSeq) {
      this.env.stats.truncations++;
      this.env.stats.truncatedEntries += this.disk.lastSeq - ready.truncateAfter;
      this.env.log(
        `${this.id} truncates after seq ${ready.truncateAfter} (held ${this.disk.lastSeq})`,
      );
    }
    this.disk.write(ready.truncateAfter, ready.entries);
    this.disk.sync();
    if (ready.hardState !== null) this.disk.saveHardState(ready.hardState);
  }

  /**
   * Forgets the whole log and starts it empty after `seq`, durably (the
   * real store syncs the directory before the Ready goes on), and moves the
   * subscriber-facing stream past the seqs this node will never hold.
   */
  private resetLog(seq: number, epoch: number): void {
    this.env.stats.logResets++;
    this.env.stats.resetSkippedEntries += Math.max(0, seq - this.stream.lastSeq);
    this.env.log(
      `${this.id} resets its log after seq ${seq} (held ${this.disk.firstSeq}..${this.disk.lastSeq}, delivered ${this.stream.lastSeq})`,
    );
    this.disk.resetAfter(seq, epoch);
    this.stream.skipThrough(seq);
  }

  private sendAll(ready: Ready): void {
    for (const outgoing of ready.messages) {
      const message: SimMessage = { kind: 'peer', message: outgoing.message };
      if (outgoing.to === null)
        for (const peer of this.peers) this.env.send(this.id, peer, message);
      else this.env.send(this.id, outgoing.to, message);
    }
    for (const r of ready.retransmits) {
      const entries = this.disk.read(r.fromSeq, r.toSeq);
      if (entries.length < r.toSeq - r.fromSeq + 1) this.env.stats.retransmitsShortRead++;
      if (entries.length === 0) continue;
      const append: AppendMessage = {
        type: 'append',
        epoch: r.epoch,
        from: this.id,
        prevSeq: r.prevSeq,
        prevEpoch: r.prevEpoch,
        entries,
        commitSeq: r.commitSeq,
        ...(r.logStart === true ? { logStart: true } : {}),
      };
      this.env.send(this.id, r.to, { kind: 'peer', message: append });
    }
  }

  private deliver(ready: Ready): void {
    if (ready.committed === null) return;
    const { fromSeq, toSeq } = ready.committed;
    invariant(fromSeq <= toSeq, `empty committed range [${fromSeq}, ${toSeq}]`);
    this.deliverRange(fromSeq, toSeq);
  }

  private deliverRange(fromSeq: number, toSeq: number): void {
    const tick = this.env.nowTick();
    for (let seq = fromSeq; seq <= toSeq; seq++) {
      if (seq > this.stream.lastSeq) this.env.stats.committedEntries++;
      this.stream.deliver(seq, this.disk.entryAt(seq), tick);
    }
  }

  // ---------------------------------------------------------------- crashes

  /**
   * Loses power part way through a Ready: after some of its writes, before
   * they were synced, and always before any of its messages left. What was
   * synced before survives; the unsynced writes survive only as a prefix.
   */
  private crashDuring(ready: Ready): void {
    const point: CrashPoint = this.prng.pick(['midWrite', 'afterSync', 'afterHardState'] as const);
    const reset = ready.resetLogAfter;
    if (point === 'midWrite') {
      const resets = reset !== null ? 1 : 0;
      const writes = resets + ready.entries.length + (ready.truncateAfter !== null ? 1 : 0);
      let done = this.prng.int(0, writes);
      if (reset !== null) {
        if (done === 0) {
          // Power failed while the reset deleted the old log, newest segment first.
          this.env.stats.tornResets++;
          this.disk.tornResetAfter(this.prng);
        } else {
          this.resetLog(reset.seq, reset.epoch);
          done--;
        }
      }
      this.disk.writePartially(ready.truncateAfter, ready.entries, done);
    } else {
      if (reset !== null) this.resetLog(reset.seq, reset.epoch);
      this.disk.write(ready.truncateAfter, ready.entries);
      this.disk.sync();
      if (point === 'afterHardState' && ready.hardState !== null)
        this.disk.saveHardState(ready.hardState);
    }
    this.env.stats.crashesMidReady++;
    this.die(this.disk.unsyncedWriteCount);
  }

  private die(unsyncedWrites: number): void {
    const lost = this.disk.crash(this.prng);
    invariant(lost <= unsyncedWrites, 'a crash lost more than was unsynced');
    this.env.stats.crashes++;
    this.env.stats.lostUnsyncedWrites += lost;
    this.env.log(
      `${this.id} crashes (lost ${lost} unsynced writes, disk holds ${this.disk.lastSeq})`,
    );
    this.core = null;
    if (this.checkpointSave !== null) {
      // The save had not completed: the previous checkpoint stays.
      this.env.stats.checkpointsLost++;
      this.checkpointSave = null;
    }
    this.crashArmed = false;
    this.pausedUntilTick = -1;
    // Publishers waiting on this node never hear back; they time out and retry.
    this.pending.drain();
  }
}
