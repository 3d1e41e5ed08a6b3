import type { MembershipChange, NodeId, NodeMessage } from '../../src/core/index.js';
import { SEGMENT_HEADER_BYTES } from '../../src/storage/segment.js';
import { Prng } from './prng.js';
import type { SeedPlan } from './seed-plan.js';
import { TICK_MS } from './seed-plan.js';
import type { SimBroker } from './sim-broker.js';
import type { BitFlip } from './sim-file-system.js';
import type { SimWorld } from './sim-world.js';

/**
 * An armed crash that finds no log write to strike in within this many
 * ticks strikes at once. Followers write only when entries arrive, so it
 * waits long enough for traffic to reach a quiet node.
 */
const ARMED_CRASH_PATIENCE_TICKS = 20;
/**
 * A crash armed for the next metadata save waits this long for one (saves
 * come with elections), then is called off.
 */
const METADATA_CRASH_PATIENCE_TICKS = 200;
/** Chance per tick that a client asks for a read index (a linearizable read's first step). */
const READ_INDEX_CHANCE_PER_TICK = 0.03;
/** Seeds whose number is a multiple of this ask for read indexes. */
const READ_INDEX_SEED_EVERY = 3;

/**
 * Throws the seed's faults at the cluster during the fault phase: crashes
 * (some between a log write and its sync), restarts, pauses, symmetric and
 * one-way partitions, and planned leadership transfers. Packet loss,
 * duplication, delay and reordering live in the network itself.
 */
export class FaultInjector {
  private readonly restartAtTick = new Map<NodeId, number>();
  private readonly crashArmedAtTick = new Map<NodeId, number>();
  /** Nodes armed to crash in their next metadata save, and since when. */
  private readonly metadataCrashArmedAtTick = new Map<NodeId, number>();
  private partitionEndsAtTick: number | null = null;
  /** Nodes given bit flips that have not started again since. */
  private readonly damaged = new Set<NodeId>();
  /** Sequencers the scenario will crash, and when. */
  private readonly huntAtTick = new Map<
    NodeId,
    { readonly tick: number; readonly epoch: number; readonly muted: boolean }
  >();

  /**
   * Read index requests run in a third of the seeds, from a random stream of
   * their own: the other seeds' histories stay as they were (a request adds
   * traffic, and traffic draws from the network's stream).
   */
  private readonly readIndexPrng: Prng | null;

  constructor(
    private readonly plan: SeedPlan,
    private readonly prng: Prng,
    private readonly cluster: SimWorld,
    private readonly log: (text: string) => void,
  ) {
    this.readIndexPrng =
      plan.seed % READ_INDEX_SEED_EVERY === 0 ? new Prng(plan.seed * 7919 + 17) : null;
    const hunt = plan.faults.huntLeadersAfterTicks;
    if (hunt !== null) {
      cluster.onBecameLeader = (nodeId, epoch) => {
        // Half the hunted sequencers are muted at once, so that what they append
        // (their epoch-start entry, new messages) stays on their own disk.
        const muted = prng.chance(0.5);
        if (muted) for (const other of this.otherNodes(nodeId)) cluster.network.cut(nodeId, other);
        this.huntAtTick.set(nodeId, {
          tick: cluster.tick + prng.int(hunt[0], hunt[1]),
          epoch,
          muted,
        });
      };
    }
  }

  beforeTick(): void {
    const tick = this.cluster.tick;
    this.restartDue(tick);
    this.huntDue(tick);
    this.flipBitsAtRandom(tick);
    this.crashAtRandom(tick);
    this.powerLossAtRandom(tick);
    this.forgeAtRandom(tick);
    this.pauseAtRandom(tick);
    this.partitionAtRandom(tick);
    this.transferAtRandom();
    this.changeMembershipAtRandom(tick);
    if (this.readIndexPrng?.chance(READ_INDEX_CHANCE_PER_TICK) === true)
      this.cluster.requestReadIndex();
  }

  /** A voter to remove once the sequencer has handed its role over (removing the sequencer). */
  private removeAfterTransfer: NodeId | null = null;
  /** Spare nodes not yet added (each is added at most once: a removed node is stopped for good). */
  private usedSpares = new Set<NodeId>();
  /**
   * Spares seen in a committed membership. A spare whose addition was only
   * appended (and may yet be rolled back, or committed later by a sequencer
   * whose log holds it) is not retired when a membership lacks it.
   */
  private committedSpares = new Set<NodeId>();

  /**
   * Membership changes, asked of the sequencer's host as an admin request
   * would: add a spare node as a learner (the sequencer promotes it once
   * caught up), remove a voter or a learner, or remove the sequencer itself
   * (leadership is handed over first). A node whose removal committed is
   * stopped for good, as an operator would stop it.
   */
  private changeMembershipAtRandom(tick: number): void {
    const plan = this.plan.membership;
    if (plan === null) return;
    const leader = this.cluster.currentLeader();
    const node = leader?.node;
    if (leader === null || node === null || node === undefined) return;
    const membership = node.membership;
    // Stop nodes whose removal has committed.
    if (!node.configPending) {
      for (const member of membership.members)
        if (this.usedSpares.has(member.id)) this.committedSpares.add(member.id);
      for (const broker of this.cluster.brokers) {
        if (broker.retired || broker === leader) continue;
        const wasMember =
          this.cluster.seedIds.includes(broker.id) || this.committedSpares.has(broker.id);
        if (wasMember && !membership.members.some((m) => m.id === broker.id)) {
          this.log(`t${tick} ${broker.id} was removed: it stops for good`);
          this.cluster.stats.nodesRetired++;
          broker.retire();
        }
      }
    }
    if (this.removeAfterTransfer !== null) {
      const victim = this.removeAfterTransfer;
      if (leader.id === victim) return;
      this.removeAfterTransfer = null;
      this.propose(leader, { kind: 'remove', id: victim }, tick);
      return;
    }
    if (!this.prng.chance(plan.changeChancePerTick)) return;
    if (node.configPending) return;
    const voters = membership.members.filter((m) => m.voter);
    const learners = membership.members.filter((m) => !m.voter);
    const spares = this.cluster.brokers.filter(
      (b) => !this.cluster.seedIds.includes(b.id) && !this.usedSpares.has(b.id) && !b.isCrashed,
    );
    // With a witness, two data voters always remain: with one, a damaged
    // record would have no other copy (the witness keeps only its tail),
    // which is the documented outcome of running one data node, not a bug.
    const withWitness = membership.members.some((m) => m.witness === true);
    const dataVoters = voters.filter((m) => m.witness !== true);
    const removable = voters.filter(
      (m) => m.id !== leader.id && (!withWitness || m.witness === true || dataVoters.length > 2),
    );
    const choices: ('add' | 'remove' | 'removeLeader' | 'removeLearner')[] = [];
    if (spares.length > 0) choices.push('add');
    // A membership of fewer than 3 voters tolerates no damaged node: shrink
    // to it only while every node's log is whole.
    const damageTolerated = voters.length - 1 >= 3 || this.damagedOrRefused() === 0;
    if (voters.length > plan.minVoters && removable.length > 0 && damageTolerated)
      choices.push('remove');
    if (
      voters.length > plan.minVoters &&
      (!withWitness || dataVoters.length > 2) &&
      damageTolerated
    )
      choices.push('removeLeader');
    if (learners.length > 0) choices.push('removeLearner');
    if (choices.length === 0) return;
    const choice = this.prng.pick(choices);
    if (choice === 'add') {
      const spare = this.prng.pick(spares);
      this.usedSpares.add(spare.id);
      this.propose(leader, { kind: 'addLearner', id: spare.id, address: '' }, tick);
    } else if (choice === 'removeLearner') {
      this.propose(leader, { kind: 'remove', id: this.prng.pick(learners).id }, tick);
    } else if (choice === 'remove') {
      this.propose(leader, { kind: 'remove', id: this.prng.pick(removable).id }, tick);
    } else {
      // A witness never leads: the role goes to a data voter.
      const target = this.prng.pick(dataVoters.filter((m) => m.id !== leader.id)).id;
      this.log(`t${tick} sequencer ${leader.id} is to be removed: it hands its role to ${target}`);
      this.removeAfterTransfer = leader.id;
      this.cluster.requestTransfer(target);
    }
  }

  private propose(leader: SimBroker, change: MembershipChange, tick: number): void {
    const result = leader.node!.proposeMembership(change);
    this.log(
      `t${tick} ${leader.id} is asked to ${change.kind} ${change.id}: ${result.ok ? `config entry at seq ${result.seq}` : `refused (${result.reason})`}`,
    );
    if (result.ok) this.cluster.stats.membershipChanges++;
    else if (change.kind === 'remove' && result.retriable) this.removeAfterTransfer = change.id;
  }

  private restartDue(tick: number): void {
    const [minTicks, maxTicks] = this.plan.faults.restartAfterTicks;
    for (const node of this.cluster.brokers) {
      if (!node.isCrashed || node.retired) continue;
      const at = this.restartAtTick.get(node.id);
      if (at === undefined)
        this.restartAtTick.set(node.id, tick + this.prng.int(minTicks, maxTicks));
      else if (tick >= at) {
        this.restartAtTick.delete(node.id);
        if (node.refused) continue;
        this.log(`t${tick} ${node.id} restarts`);
        this.cluster.stats.restarts++;
        node.start();
      }
    }
    for (const [id, armedAt] of this.crashArmedAtTick) {
      const node = this.node(id);
      if (!node.isCrashArmed) this.crashArmedAtTick.delete(id);
      else if (tick - armedAt >= ARMED_CRASH_PATIENCE_TICKS) {
        this.crashArmedAtTick.delete(id);
        const powerLoss = node.isPowerLossArmed;
        node.crash();
        if (powerLoss) this.cluster.powerLoss(id);
      }
    }
    for (const [id, armedAt] of this.metadataCrashArmedAtTick) {
      const node = this.node(id);
      if (!node.isCrashArmed) this.metadataCrashArmedAtTick.delete(id);
      else if (tick - armedAt >= METADATA_CRASH_PATIENCE_TICKS) {
        this.metadataCrashArmedAtTick.delete(id);
        node.disarmCrash();
      }
    }
  }

  /**
   * Flips one stored bit in a closed log segment of a node that is down
   * (past the segment header), so that it finds the damage when it restarts
   * and repairs it from its peers. At most a minority of nodes may hold
   * unrepaired damage at once: the majority must still have good copies.
   */
  private flipBitsAtRandom(tick: number): void {
    // A node that started again has repaired its log (or refused to start).
    for (const id of this.damaged) {
      const node = this.node(id);
      if (node.node !== null || node.refused) this.damaged.delete(id);
    }
    if (!this.prng.chance(this.plan.disk.bitFlipChancePerTick)) return;
    const down = this.cluster.brokers.filter((n) => n.isCrashed && !n.refused && !n.retired);
    if (down.length === 0) return;
    const node = this.prng.pick(down);
    this.damaged.add(node.id);
    // A node that refused to start is out for good: it counts against the minority too.
    const damagedCount = this.damagedOrRefused();
    // The data voters are those of the sequencer's membership (the fewest
    // the plan allows when there is none). Two data voters tolerate no
    // damaged node: with a witness, a data node that refuses to start leaves
    // commits waiting on the witness's tail until an operator replaces it.
    const size = this.dataVoterCount();
    if (damagedCount > Math.floor((size - 1) / 2)) {
      this.damaged.delete(node.id);
      return;
    }
    const flip = flipInClosedSegment(node, this.prng);
    if (flip === null) {
      this.damaged.delete(node.id);
      return;
    }
    this.log(`t${tick} bit ${flip.bit} flipped at byte ${flip.position} of ${flip.path}`);
  }

  private damagedOrRefused(): number {
    return this.cluster.brokers.filter((n) => this.damaged.has(n.id) || n.refused).length;
  }

  /** Voters of the sequencer's membership, or the fewest the plan allows when no node leads. */
  /**
   * Data voters of the sequencer's membership (a witness keeps only the log's
   * tail, so it holds no copy a damaged node could be repaired from), or the
   * fewest the plan allows when no node leads.
   */
  private dataVoterCount(): number {
    const membership = this.cluster.currentLeader()?.node?.membership;
    const fewest =
      (this.plan.membership?.minVoters ?? this.cluster.brokers.length) -
      (this.plan.witness ? 1 : 0);
    if (membership === undefined) return fewest;
    return membership.members.filter((m) => m.voter && m.witness !== true).length;
  }

  /** Crashes a sequencer whose time has come, if it still leads that epoch and a crash is allowed. */
  private huntDue(tick: number): void {
    for (const [id, due] of this.huntAtTick) {
      if (tick < due.tick) continue;
      this.huntAtTick.delete(id);
      if (due.muted) for (const other of this.otherNodes(id)) this.cluster.network.uncut(id, other);
      const node = this.node(id);
      const running = node.node;
      if (running === null || !running.isLeader || running.epoch !== due.epoch) continue;
      const down = this.cluster.brokers.filter(
        (n) => (n.isCrashed && !n.retired) || n.isCrashArmed,
      ).length;
      if (down >= this.plan.faults.maxNodesDown) continue;
      this.log(
        `t${tick} the scenario crashes sequencer ${id} of epoch ${due.epoch}${due.muted ? ' (muted)' : ''}`,
      );
      this.cluster.stats.sequencersHunted++;
      node.crash();
    }
  }

  private crashAtRandom(tick: number): void {
    const f = this.plan.faults;
    if (!this.prng.chance(f.crashChancePerTick)) return;
    const down = this.cluster.brokers.filter(
      (n) => (n.isCrashed && !n.retired) || n.isCrashArmed,
    ).length;
    if (down >= f.maxNodesDown) return;
    const candidates = this.cluster.brokers.filter((n) => !n.isCrashed && !n.isCrashArmed);
    if (candidates.length === 0) return;
    // Crashing the sequencer half the time makes failovers, and so truncations, frequent.
    const leader = candidates.find((n) => isLeader(n));
    const node =
      leader !== undefined && this.prng.chance(0.5) ? leader : this.prng.pick(candidates);
    if (this.prng.chance(f.midReadyCrashShare)) {
      // A third of them wait for a save of the epoch and vote: a node that
      // voted must never forget it, and such a crash tests exactly that.
      if (this.prng.chance(1 / 3)) {
        this.log(`t${tick} ${node.id} will crash during its next metadata save`);
        node.armCrash({ metadataOnly: true });
        this.metadataCrashArmedAtTick.set(node.id, tick);
      } else {
        this.log(`t${tick} ${node.id} will crash during its next disk operation`);
        node.armCrash();
        this.crashArmedAtTick.set(node.id, tick);
      }
    } else {
      node.crash();
    }
  }

  /**
   * A power loss: one running node is armed, and when its crash strikes,
   * part way through one of its disk operations, every node goes down in
   * the same instant. An entry that nodes acknowledged before syncing it is
   * then gone from all of them together; they come back one by one, in an
   * order the restart delays decide.
   */
  private powerLossAtRandom(tick: number): void {
    const chance = this.plan.faults.powerLossChancePerTick;
    // Seeds without power losses draw nothing here, so that their runs are as they were.
    if (chance === 0 || !this.prng.chance(chance)) return;
    const candidates = this.cluster.brokers.filter((n) => !n.isCrashed && !n.isCrashArmed);
    if (candidates.length === 0) return;
    const node = this.prng.pick(candidates);
    this.log(`t${tick} a power loss will strike during a disk operation of ${node.id}`);
    node.armCrash({ powerLoss: true });
    this.crashArmedAtTick.set(node.id, tick);
  }

  /**
   * A faulty member sends a message that no member following the protocol
   * could send, given what its target knows: the target must refuse it
   * (counted, logged), never act on it and never stop. Each is chosen from
   * the target's status, so that it is impossible there and then.
   */
  private forgeAtRandom(tick: number): void {
    const chance = this.plan.faults.forgedFrameChancePerTick;
    // Seeds without forged frames draw nothing here, so that their runs are as they were.
    if (chance === 0 || !this.prng.chance(chance)) return;
    const running = this.cluster.brokers.filter((n) => n.node !== null);
    if (running.length === 0) return;
    const target = this.prng.pick(running);
    const status = target.node!.status();
    const epoch = Number(status.epoch ?? 0);
    const leader = status.leaderId ?? '';
    const others = this.otherNodes(target.id).filter((id) => id !== leader);
    if (others.length === 0 || epoch === 0) return;
    const forger = this.prng.pick(others);
    const isSequencer = status.role === 'leader';
    const transferTarget = status.transferTarget ?? '';
    // Campaigners the sequencer's membership knows (a non-member's campaign is refused on that ground alone).
    const campaigners = others.filter(
      (id) => id !== transferTarget && (status.members ?? []).some((m) => m.id === id),
    );
    let message: NodeMessage;
    if (
      isSequencer &&
      this.plan.core.checkQuorum &&
      campaigners.length > 0 &&
      this.prng.chance(0.3)
    ) {
      // A transfer campaign the sequencer never announced, from a node with
      // the longest log, aimed at the sequencer itself: granted, it would
      // depose a live sequencer (see SimWorld.deliverForgedTransferVote).
      message = {
        type: 'voteRequest',
        epoch: epoch + 1,
        from: this.prng.pick(campaigners),
        lastSeq: Number(status.lastSeq ?? 0) + 1000,
        lastEpoch: epoch,
        preVote: false,
        transfer: true,
      };
    } else if ((isSequencer || leader !== '') && this.prng.chance(0.5)) {
      // A second sequencer in the epoch, or one that is not the known one.
      message = {
        type: 'append',
        epoch,
        from: forger,
        prevSeq: Number(status.lastSeq ?? 0),
        prevEpoch: epoch,
        entries: [],
        commitSeq: 0,
      };
    } else if (leader !== '' && !isSequencer && this.prng.chance(0.5)) {
      // A hand-over from a node that is not the target's sequencer.
      message = { type: 'timeoutNow', epoch, from: forger };
    } else {
      // A hand-over from an epoch the target has not reached.
      message = { type: 'timeoutNow', epoch: epoch + 1, from: forger };
    }
    this.log(
      `t${tick} a faulty ${message.from} sends ${target.id} a forged ${message.type} in epoch ${message.epoch}`,
    );
    this.cluster.forgePeerMessage(message.from, target.id, message);
  }

  private pauseAtRandom(tick: number): void {
    const f = this.plan.faults;
    if (!this.prng.chance(f.pauseChancePerTick)) return;
    const candidates = this.cluster.brokers.filter((n) => !n.isCrashed && !n.isPaused());
    if (candidates.length === 0) return;
    const node = this.prng.pick(candidates);
    const ticks = this.prng.int(f.pauseTicks[0], f.pauseTicks[1]);
    this.log(`t${tick} ${node.id} pauses for ${ticks} ticks`);
    node.pause((tick + ticks) * TICK_MS);
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
    const ids = this.cluster.brokers.map((n) => n.id);
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
    // Clients join a side too; each node's own subscriber stays with its node.
    for (const p of this.cluster.publishers) (this.prng.chance(0.5) ? sideA : sideB).push(p.id);
    for (const side of [sideA, sideB])
      for (const id of side.slice()) if (id.startsWith('n')) side.push(`sub-${id}`);
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
    const leader = this.cluster.brokers.find((n) => !n.isPaused() && isLeader(n));
    if (leader === undefined) return;
    const target = this.prng.pick(this.cluster.brokers.filter((n) => n !== leader)).id;
    this.log(`t${this.cluster.tick} ${leader.id} is asked to hand leadership to ${target}`);
    this.cluster.requestTransfer(target);
  }

  private otherNodes(id: NodeId): NodeId[] {
    return this.cluster.brokers.map((b) => b.id).filter((other) => other !== id);
  }

  private node(id: NodeId): SimBroker {
    return this.cluster.node(id);
  }
}

/** Flips a bit in one of the node's closed segments, never in the segment that takes appends. */
function flipInClosedSegment(node: SimBroker, prng: Prng): BitFlip | null {
  const logDir = `${node.dataDir}/log/`;
  const segments = node.fs
    .listFiles(logDir)
    .filter((name) => name.endsWith('.log'))
    .sort();
  if (segments.length < 2) return null;
  // Half the flips strike the newest closed segment: its entries are often
  // not yet delivered, or uncommitted and replaced on the peers, where only
  // the check against the hash chain tells a good copy from a wrong one.
  const closedNames = prng.chance(0.5) ? segments.slice(-2, -1) : segments.slice(0, -1);
  const closed = new Set(closedNames.map((name) => logDir + name));
  return node.fs.flipRandomBit(
    prng,
    (path) => closed.has(path),
    (_path, bytes) =>
      bytes > SEGMENT_HEADER_BYTES ? { from: SEGMENT_HEADER_BYTES, to: bytes } : null,
  );
}

function isLeader(broker: SimBroker): boolean {
  return broker.node?.isLeader === true;
}
