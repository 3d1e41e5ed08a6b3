/**
 * Seeded runs of a small cluster over a network that loses, duplicates and
 * reorders messages, with partitions and crashes. Each run checks the
 * guarantees on what was delivered, then heals and checks that everyone
 * delivers the same stream. A failing seed replays exactly.
 */
import test from 'ava';
import type { CoreConfig } from '../../src/core/config.js';
import type { NodeId } from '../../src/core/types.js';
import { Cluster, type Envelope, partition, proposal, seededRandom } from './harness.js';

const MEMBERS = ['a', 'b', 'c', 'd', 'e'];
const PRODUCERS = ['p', 'q', 'r'];
const STEPS = 3000;
const SEEDS = 8;
/** Generous: with tiny retransmissions a follower far behind catches up a couple of entries at a time. */
const HEAL_ROUNDS = 3000;

const VARIANTS: readonly { readonly name: string; readonly overrides: Partial<CoreConfig> }[] = [
  { name: 'default timing', overrides: {} },
  { name: 'no pre-vote, no check-quorum', overrides: { preVote: false, checkQuorum: false } },
  {
    name: 'tiny batches, NACK ranges, retransmissions and buffers',
    overrides: {
      maxBatchEntries: 2,
      maxNackRangeEntries: 3,
      maxRetransmitEntries: 2,
      maxBufferedFutureEntries: 4,
    },
  },
];

interface RunResult {
  readonly cluster: Cluster;
  readonly leadersByEpoch: Map<number, Set<NodeId>>;
}

function run(seed: number, overrides: Partial<CoreConfig>): RunResult {
  const chance = seededRandom(seed * 7919);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(chance() * items.length)]!;
  const cluster = new Cluster(MEMBERS, {
    overrides,
    random: (id) => seededRandom(seed * 31 + id.charCodeAt(0)),
  });
  const nextProducerSeq = new Map(PRODUCERS.map((p) => [p, 1]));
  const leadersByEpoch = new Map<number, Set<NodeId>>();
  let cut: ((e: Envelope) => boolean) | null = null;

  for (let step = 0; step < STEPS; step++) {
    const roll = chance();
    if (roll < 0.3 && cluster.queue.length > 0) {
      // Deliver a random message: the network reorders freely.
      const index = Math.floor(chance() * cluster.queue.length);
      const [envelope] = cluster.queue.splice(index, 1);
      if (cut === null || !cut(envelope!)) cluster.handle(envelope!);
    } else if (roll < 0.35 && cluster.queue.length > 0) {
      const envelope = pick(cluster.queue);
      if (cut === null || !cut(envelope)) cluster.handle(envelope); // Duplicated: it stays queued too.
    } else if (roll < 0.45 && cluster.queue.length > 0) {
      cluster.queue.splice(Math.floor(chance() * cluster.queue.length), 1);
    } else if (roll < 0.8) {
      cluster.tick(pick(MEMBERS));
    } else if (roll < 0.95) {
      const leader = MEMBERS.find((id) => cluster.node(id).isLeader) ?? pick(MEMBERS);
      const producer = pick(PRODUCERS);
      const producerSeq = nextProducerSeq.get(producer)!;
      const [result] = cluster.propose(leader, [proposal(producer, producerSeq)]);
      if (result?.kind === 'appended' || result?.kind === 'duplicate')
        nextProducerSeq.set(producer, producerSeq + 1);
      if (result?.kind === 'outOfOrder') nextProducerSeq.set(producer, result.expectedProducerSeq);
    } else if (roll < 0.97) {
      cut = cut === null ? partition([pick(MEMBERS)]) : null;
    } else if (roll < 0.975) {
      cluster.restart(pick(MEMBERS));
    }
    for (const id of MEMBERS) {
      const node = cluster.node(id);
      if (!node.isLeader) continue;
      const leaders = leadersByEpoch.get(node.currentEpoch) ?? new Set<NodeId>();
      leaders.add(id);
      leadersByEpoch.set(node.currentEpoch, leaders);
    }
  }

  // Heal: a reliable network and time enough to elect and catch up.
  for (let round = 0; round < HEAL_ROUNDS; round++) {
    cluster.tickAll(1);
    const leader = MEMBERS.find((id) => cluster.node(id).isLeader);
    if (leader === undefined) continue;
    const target = cluster.node(leader).lastSeq;
    if (
      MEMBERS.every(
        (id) => cluster.node(id).committedSeq === target && cluster.node(id).lastSeq === target,
      )
    )
      break;
  }
  return { cluster, leadersByEpoch };
}

for (const variant of VARIANTS) {
  for (let seed = 1; seed <= SEEDS; seed++) {
    test(`${variant.name}, seed ${seed}: deliverers agree on one contiguous, duplicate-free, per-producer FIFO stream, and all catch up once healed`, (t) => {
      const { cluster, leadersByEpoch } = run(seed, variant.overrides);

      for (const [epoch, leaders] of leadersByEpoch)
        t.is(leaders.size, 1, `one sequencer in epoch ${epoch}`);

      const streams = MEMBERS.map((id) => cluster.store(id).deliveredEntries);
      const longest = streams.reduce((a, b) => (b.length > a.length ? b : a));
      for (const [i, id] of MEMBERS.entries()) {
        t.deepEqual(
          streams[i],
          longest.slice(0, streams[i]!.length),
          `${id} delivered a prefix of the same stream`,
        );
        t.deepEqual(
          cluster.store(id).delivered,
          Array.from({ length: streams[i]!.length }, (_, k) => k + 1),
          `${id} delivered seqs contiguously from 1, once each`,
        );
      }

      const lastByProducer = new Map<string, number>();
      for (const entry of longest) {
        if (entry.producerId === '') continue;
        const last = lastByProducer.get(entry.producerId) ?? 0;
        t.is(entry.producerSeq, last + 1, `${entry.producerId} at seq ${entry.seq}`);
        lastByProducer.set(entry.producerId, entry.producerSeq);
      }

      // Liveness: once healed, every node holds and delivers the whole log.
      t.true(
        longest.some((e) => e.producerId !== ''),
        'something was published',
      );
      for (const [i, id] of MEMBERS.entries()) {
        t.is(streams[i]!.length, cluster.store(id).lastSeq, `${id} delivered its whole log`);
        t.is(streams[i]!.length, longest.length, `${id} caught up`);
      }
    });
  }
}
