/**
 * A scripted network for the pure core's unit tests: a cluster of
 * ProtocolNodes, an in-memory log per node, and a network that holds every
 * message until the test delivers or drops it, one by one if it wants.
 * Nothing here reads a clock or Math.random, so every run is the same run.
 *
 * It is not a host: each Ready is carried out at once and whole, the one
 * order in which nothing can interleave, with the core's own
 * `retransmitAppend` and `advance`. Every choice a host makes (what is sent
 * before a write, when hard state is saved, caps, retention) lives in
 * `src/node/broker-node.ts`, which the simulator runs.
 */

import type { CoreConfig } from '../../src/core/config.js';
import type { ProtocolNode } from '../../src/core/protocol-node.js';
import { retransmitAppend } from '../../src/core/retransmit.js';
import type {
  Entry,
  HardState,
  NodeId,
  PeerMessage,
  Proposal,
  Ready,
  RecoveredState,
} from '../../src/core/types.js';
import { EMPTY_RECOVERED_STATE } from '../../src/core/types.js';
import { newNode, recoveredFrom, seededRandom, TEST_TIMING } from './fixtures.js';

export * from './fixtures.js';

export interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: PeerMessage;
  /** True when it was sent to every node at once (the lossy multicast path). */
  readonly multicast: boolean;
}

/** What one node has durably: its log and hard state, as the host would keep them. */
export class TestStore {
  entries: Entry[] = [];
  hardState: HardState = { epoch: 0, votedFor: null, commitSeq: 0 };
  /** Every seq the host delivered, in delivery order. */
  delivered: number[] = [];
  /** The entries delivered, as the log held them when they were delivered. */
  deliveredEntries: Entry[] = [];
  readies: Ready[] = [];

  get lastSeq(): number {
    return this.entries.length;
  }

  read(fromSeq: number, toSeq: number): Entry[] {
    return this.entries.slice(fromSeq - 1, toSeq);
  }

  recovered(): RecoveredState {
    return { ...recoveredFrom(this.entries), hardState: this.hardState };
  }
}

export type Predicate = (envelope: Envelope) => boolean;

export interface ClusterOptions {
  readonly overrides?: Partial<CoreConfig>;
  /** Per-node random source; by default each node gets its own seeded one. */
  readonly random?: (id: NodeId) => () => number;
  /** The seed voters (default: every id); the others start knowing no membership, to be added. */
  readonly seed?: readonly NodeId[];
}

/**
 * A cluster driven by hand. Each node's Readies are carried out at once
 * (persist, then queue the messages, then record the deliveries); messages
 * wait in `queue` until the test delivers or drops them.
 */
export class Cluster {
  readonly nodes = new Map<NodeId, ProtocolNode>();
  readonly stores = new Map<NodeId, TestStore>();
  queue: Envelope[] = [];
  /** Every envelope ever queued, for assertions about what was sent. */
  readonly sent: Envelope[] = [];
  private nowMs = 1000;

  constructor(
    readonly ids: readonly NodeId[],
    private readonly options: ClusterOptions = {},
  ) {
    ids.forEach((id, i) => {
      this.stores.set(id, new TestStore());
      this.nodes.set(id, this.build(id, EMPTY_RECOVERED_STATE, i));
    });
  }

  private build(id: NodeId, recovered: RecoveredState, index: number): ProtocolNode {
    const random = this.options.random?.(id) ?? seededRandom(index + 1);
    const seed = this.options.seed ?? this.ids;
    const members = seed.includes(id) ? seed : [];
    return newNode(id, members, { random, ...this.options.overrides }, recovered);
  }

  node(id: NodeId): ProtocolNode {
    return this.nodes.get(id)!;
  }

  store(id: NodeId): TestStore {
    return this.stores.get(id)!;
  }

  /** Carries out every Ready the node has, until it has none. */
  process(id: NodeId): void {
    const node = this.node(id);
    const store = this.store(id);
    while (node.hasReady()) {
      const ready = node.ready();
      store.readies.push(ready);
      if (ready.truncateAfter !== null)
        store.entries.length = Math.min(store.entries.length, ready.truncateAfter);
      for (const entry of ready.entries) {
        if (entry.seq !== store.lastSeq + 1)
          throw new Error(`${id} stored seq ${entry.seq} after ${store.lastSeq}`);
        store.entries.push(entry);
      }
      if (ready.hardState !== null) store.hardState = ready.hardState;
      for (const out of ready.messages) {
        const targets = out.to === null ? this.ids.filter((peer) => peer !== id) : [out.to];
        for (const to of targets)
          this.enqueue({ from: id, to, message: out.message, multicast: out.to === null });
      }
      for (const r of ready.retransmits) {
        const entries = store.read(r.fromSeq, r.toSeq);
        if (entries.length === 0) continue;
        const message = retransmitAppend(id, r, entries);
        this.enqueue({ from: id, to: r.to, message, multicast: false });
      }
      if (ready.committed !== null) {
        for (let seq = ready.committed.fromSeq; seq <= ready.committed.toSeq; seq++) {
          store.delivered.push(seq);
          const entry = store.entries[seq - 1];
          if (entry === undefined)
            throw new Error(`${id} delivered seq ${seq} that it does not hold`);
          store.deliveredEntries.push(entry);
        }
      }
      node.advance(ready);
    }
  }

  processAll(): void {
    for (const id of this.ids) this.process(id);
  }

  private enqueue(envelope: Envelope): void {
    this.queue.push(envelope);
    this.sent.push(envelope);
  }

  /** Removes and returns the queued envelopes that match. */
  take(match: Predicate = () => true): Envelope[] {
    const taken = this.queue.filter(match);
    this.queue = this.queue.filter((e) => !match(e));
    return taken;
  }

  drop(match: Predicate): number {
    return this.take(match).length;
  }

  /** Hands one envelope to its destination and carries out the resulting Ready. */
  handle(envelope: Envelope): void {
    this.node(envelope.to).step(envelope.message);
    this.process(envelope.to);
  }

  /** Delivers the queued envelopes that match (only those queued now), in order. */
  deliver(match: Predicate = () => true): number {
    const taken = this.take(match);
    for (const envelope of taken) this.handle(envelope);
    return taken.length;
  }

  /** Delivers until the network is quiet; `lose` picks envelopes to drop instead. */
  settle(lose: Predicate = () => false, maxRounds = 100_000): void {
    this.processAll();
    for (let round = 0; this.queue.length > 0; round++) {
      if (round >= maxRounds) throw new Error('cluster did not settle');
      const envelope = this.queue.shift()!;
      if (!lose(envelope)) this.handle(envelope);
    }
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.node(id).tick();
      this.process(id);
    }
  }

  tickAll(times = 1, lose: Predicate = () => false): void {
    for (let i = 0; i < times; i++) {
      for (const id of this.ids) this.tick(id);
      this.settle(lose);
    }
  }

  /** Makes `id` sequencer: it times out first, then the network settles. */
  elect(id: NodeId, lose: Predicate = () => false): void {
    const node = this.node(id);
    for (let i = 0; i < 1000 && !node.isLeader; i++) {
      this.tick(id);
      this.settle(lose);
    }
    if (!node.isLeader) throw new Error(`${id} did not win an election`);
  }

  /** Proposes on `id` at a clock that moves 1 ms per call (unless given), then carries out the Ready. */
  propose(id: NodeId, proposals: readonly Proposal[], nowMs?: number) {
    this.nowMs = nowMs ?? this.nowMs + 1;
    const results = this.node(id).propose(proposals, this.nowMs);
    this.process(id);
    return results;
  }

  /** Restarts `id` from what its store holds (a crash loses nothing the host persisted). */
  restart(id: NodeId): void {
    this.nodes.set(id, this.build(id, this.store(id).recovered(), this.ids.indexOf(id)));
    this.queue = this.queue.filter((e) => e.to !== id);
  }
}

/** Envelope filters, to read like the sentence they stand for. */
export const to =
  (...ids: NodeId[]): Predicate =>
  (e) =>
    ids.includes(e.to);
export const from =
  (...ids: NodeId[]): Predicate =>
  (e) =>
    ids.includes(e.from);
export const ofType =
  (...types: PeerMessage['type'][]): Predicate =>
  (e) =>
    types.includes(e.message.type);
export const between =
  (a: NodeId, b: NodeId): Predicate =>
  (e) =>
    (e.from === a && e.to === b) || (e.from === b && e.to === a);
/** True for envelopes that cross between the two sides of a partition. */
export const partition =
  (side: readonly NodeId[]): Predicate =>
  (e) =>
    side.includes(e.from) !== side.includes(e.to);
export const both =
  (...predicates: Predicate[]): Predicate =>
  (e) =>
    predicates.every((p) => p(e));

/** A cluster of `ids` in which the first one has been elected and its epoch-start entry committed everywhere. */
export function electedCluster(
  ids: readonly NodeId[] = ['a', 'b', 'c'],
  options: ClusterOptions = {},
): Cluster {
  const cluster = new Cluster(ids, options);
  cluster.elect(ids[0]!);
  cluster.tickAll(TEST_TIMING.heartbeatIntervalTicks);
  return cluster;
}
