import { type Entry, EntryKind } from '../../src/core/index.js';
import type { SkippedRange } from './delivered-stream.js';
import { describeEntry, entryDigest } from './hash-chain.js';
import { type AckRecord, type History, payloadHex } from './history.js';

export const Property = {
  totalOrder: 'total-order',
  ackedNotLost: 'acked-not-lost',
  integrity: 'integrity',
  fifo: 'fifo-per-publisher',
  electionSafety: 'election-safety',
  liveness: 'liveness',
  logTime: 'log-time',
  coreInvariant: 'core-invariant',
  persistBeforeSend: 'persist-before-send',
  ownEpochCommit: 'own-epoch-commit',
  readIndex: 'read-index',
  witness: 'witness',
} as const;
export type Property = (typeof Property)[keyof typeof Property];

export interface Violation {
  readonly property: Property;
  readonly message: string;
}

export type Checker = (history: History) => Violation | null;

/**
 * Total order: every node's delivered stream has seqs 1, 2, 3, … except
 * where its log was reset past seqs it lacked (a recorded skip), and every
 * node delivered the same entry at every seq it delivered. For a node that
 * never reset, that is the old rule: its stream is a prefix of every longer
 * one. Entries are compared by digest (seq, epoch, kind, producer,
 * producerSeq, topic, timestamp, payload), so a divergence is reported at its
 * first seq. Every seq up to the highest delivered one must have been
 * delivered by some node: a reset may skip only what others delivered. A node
 * that, after a restart, delivers a seq again with other content, or skips
 * one without a reset, breaks it too.
 */
export function checkTotalOrder(history: History): Violation | null {
  const anomaly = history.deliveryAnomalies[0];
  if (anomaly !== undefined) {
    return violation(
      'totalOrder',
      `${anomaly.nodeId} at seq ${anomaly.seq} (tick ${anomaly.tick}): ${anomaly.detail}`,
    );
  }
  for (const id of history.nodeIds) {
    const skips = skipped(history, id);
    let skipIndex = 0;
    let expected = 1;
    const entries = stream(history, id);
    for (let i = 0; i < entries.length; i++) {
      // Resets may follow one another with nothing delivered in between.
      while (skipIndex < skips.length && skips[skipIndex]!.fromSeq === expected) {
        expected = skips[skipIndex]!.toSeq + 1;
        skipIndex++;
      }
      if (entries[i]!.seq !== expected) {
        return violation(
          'totalOrder',
          `${id} delivered seq ${entries[i]!.seq} in position ${i + 1}, where seq ${expected} was due`,
        );
      }
      expected++;
    }
  }
  const reference = new Map<
    number,
    { readonly nodeId: string; readonly entry: Entry; readonly digest: string }
  >();
  let highestSeq = 0;
  for (const id of history.nodeIds) {
    for (const entry of stream(history, id)) {
      const digest = entryDigest(entry);
      const first = reference.get(entry.seq);
      if (first === undefined) {
        reference.set(entry.seq, { nodeId: id, entry, digest });
        highestSeq = Math.max(highestSeq, entry.seq);
      } else if (first.digest !== digest) {
        return violation(
          'totalOrder',
          `${id} diverges from ${first.nodeId} at seq ${entry.seq}: ${describeEntry(entry)} vs ${describeEntry(first.entry)}`,
        );
      }
    }
  }
  for (let seq = 1; seq <= highestSeq; seq++) {
    if (!reference.has(seq))
      return violation('totalOrder', `no node delivered seq ${seq}, below ${highestSeq}`);
  }
  return null;
}

/**
 * No acknowledged message is lost: each ack names a seq, and every node
 * delivered that very message (its unique payload) at that seq, unless it
 * skipped that seq because it no longer held it; at least one node
 * delivered it. An ack without a seq (a duplicate whose original seq the
 * cluster forgot): some node delivered the message, and every node
 * delivered it at that seq or skipped that seq.
 */
export function checkAckedNotLost(history: History): Violation | null {
  for (const ack of history.acks) {
    const name = `${ack.publisherId} message ${payloadText(ack.payload)}`;
    let seq = ack.seq;
    if (seq === null) {
      for (const id of history.nodeIds) {
        const found = stream(history, id).find((e) => isMessage(e, ack.payload));
        if (found !== undefined) {
          seq = found.seq;
          break;
        }
      }
      if (seq === null) {
        return violation(
          'ackedNotLost',
          `${name}, acked without a seq at tick ${ack.tick}, was never delivered by any node`,
        );
      }
    }
    const where =
      ack.seq === null
        ? `acked without a seq (tick ${ack.tick})`
        : `acked at seq ${seq} (tick ${ack.tick})`;
    let deliveredBy = 0;
    for (const id of history.nodeIds) {
      const entry = entryAt(history, id, seq);
      if (entry === undefined) {
        if (isSkipped(history, id, seq)) continue;
        if (history.retired.has(id) && seq > (stream(history, id).at(-1)?.seq ?? 0)) continue;
        const entries = stream(history, id);
        return violation(
          'ackedNotLost',
          `${name}, ${where}, not delivered by ${id}, which delivered up to seq ${entries.at(-1)?.seq ?? 0}`,
        );
      }
      if (!isMessage(entry, ack.payload)) {
        return violation(
          'ackedNotLost',
          `${name} was ${where}, but ${id} delivered ${describeEntry(entry)} at seq ${seq}`,
        );
      }
      deliveredBy++;
    }
    if (deliveredBy === 0) {
      return violation('ackedNotLost', `${name}, ${where}, was skipped by every node`);
    }
  }
  return null;
}

/**
 * Integrity: every delivered message was published (its payload is one a
 * publisher created), and no node delivers one message twice, whether its
 * publisher retried it under the same (producerId, producerSeq) or not.
 */
export function checkIntegrity(history: History): Violation | null {
  const publishedBy = publishers(history);
  for (const id of history.nodeIds) {
    const seenPayloads = new Map<string, number>();
    const seenIds = new Map<string, number>();
    for (const entry of stream(history, id)) {
      if (entry.kind === EntryKind.epochStart) continue;
      const hex = payloadHex(entry.payload);
      if (!publishedBy.has(hex))
        return violation(
          'integrity',
          `${id} delivered ${describeEntry(entry)} at seq ${entry.seq}, never published`,
        );
      const earlier = seenPayloads.get(hex) ?? seenIds.get(producerKey(entry));
      if (earlier !== undefined) {
        return violation(
          'integrity',
          `${id} delivered ${payloadText(hex)} twice, at seq ${earlier} and ${entry.seq}`,
        );
      }
      seenPayloads.set(hex, entry.seq);
      seenIds.set(producerKey(entry), entry.seq);
    }
  }
  return null;
}

/**
 * FIFO per publisher: along every node's stream, each publisher's messages
 * appear in the order it published them. Messages may be missing (a publish
 * can fail), never reordered; within one producer session, producerSeqs
 * only increase. A message whose publish failed with UncertainOutcomeError
 * is exempt: its attempt under an earlier producer session may be sequenced
 * after messages published later (the documented meaning of that error).
 */
export function checkFifo(history: History): Violation | null {
  const publishedBy = publishers(history);
  for (const id of history.nodeIds) {
    const lastIndex = new Map<string, number>();
    const lastProducerSeq = new Map<string, number>();
    for (const entry of stream(history, id)) {
      if (entry.kind === EntryKind.epochStart) continue;
      const hex = payloadHex(entry.payload);
      const origin = publishedBy.get(hex);
      if (origin === undefined || history.uncertain.has(hex)) continue;
      const previous = lastIndex.get(origin.publisherId) ?? -1;
      if (origin.index <= previous) {
        return violation(
          'fifo',
          `${id} delivered ${origin.publisherId}'s message #${origin.index + 1} at seq ${entry.seq} after its message #${previous + 1}`,
        );
      }
      lastIndex.set(origin.publisherId, origin.index);
      const previousSeq = lastProducerSeq.get(entry.producerId) ?? 0;
      if (entry.producerSeq <= previousSeq) {
        return violation(
          'fifo',
          `${id} delivered ${entry.producerId}#${entry.producerSeq} at seq ${entry.seq} after ${entry.producerId}#${previousSeq}`,
        );
      }
      lastProducerSeq.set(entry.producerId, entry.producerSeq);
    }
  }
  return null;
}

/** Election safety: at most one node becomes sequencer in any epoch. */
export function checkElectionSafety(history: History): Violation | null {
  const leaderOf = new Map<number, { nodeId: string; tick: number }>();
  for (const record of history.leaders) {
    const earlier = leaderOf.get(record.epoch);
    if (earlier !== undefined && earlier.nodeId !== record.nodeId) {
      return violation(
        'electionSafety',
        `two sequencers in epoch ${record.epoch}: ${earlier.nodeId} (tick ${earlier.tick}) and ${record.nodeId} (tick ${record.tick})`,
      );
    }
    leaderOf.set(record.epoch, { nodeId: record.nodeId, tick: record.tick });
  }
  return null;
}

/**
 * Witness: a witness never becomes sequencer (it never campaigns), and never
 * takes entries beyond witnessTailMaxEntries past the point every data
 * voter holds.
 */
export function checkWitness(history: History): Violation | null {
  for (const record of history.leaders) {
    if (history.witnesses.has(record.nodeId))
      return violation(
        'witness',
        `witness ${record.nodeId} became sequencer in epoch ${record.epoch} (tick ${record.tick})`,
      );
  }
  const breach = history.witnessTailBreaches[0];
  return breach === undefined ? null : violation('witness', breach);
}

/** Liveness: after the heal, everything completes within the bound. */
export function checkLiveness(history: History): Violation | null {
  const l = history.liveness;
  if (l === null) return null;
  if (l.completedAtTick !== null && l.completedAtTick - l.healedAtTick <= l.boundTicks) return null;
  return violation(
    'liveness',
    `not drained ${l.boundTicks} ticks after the heal at tick ${l.healedAtTick}: ${l.outstanding.join('; ')}`,
  );
}

/** Log time never goes backwards along the log, whoever the sequencer was and however its clock jumped. */
export function checkLogTime(history: History): Violation | null {
  for (const id of history.nodeIds) {
    let previous: Entry | null = null;
    for (const entry of stream(history, id)) {
      if (previous !== null && entry.timestampMs < previous.timestampMs) {
        return violation(
          'logTime',
          `${id}: seq ${entry.seq} has time ${entry.timestampMs} ms, before seq ${previous.seq} at ${previous.timestampMs} ms`,
        );
      }
      previous = entry;
    }
  }
  return null;
}

/** A core that throws (an InvariantViolation or anything else) has failed. */
export function checkCoreInvariants(history: History): Violation | null {
  const failure = history.coreFailures[0];
  if (failure === undefined) return null;
  return violation(
    'coreInvariant',
    `${failure.nodeId} threw at tick ${failure.tick}: ${failure.message}`,
  );
}

/**
 * Persist before send: a node acknowledges only entries its log holds
 * durably, and grants a vote only once the vote is saved. A crash at any
 * instant then takes back nothing the node has claimed to others.
 */
export function checkPersistBeforeSend(history: History): Violation | null {
  return firstBreach(history, 'persistBeforeSend');
}

/**
 * Own-epoch commit (Raft §5.4.2): a sequencer moves its commit point by
 * counting replicas only onto an entry of its own epoch; earlier entries
 * commit with it. Checked as each sequencer's Ready is taken.
 */
export function checkOwnEpochCommit(history: History): Violation | null {
  return firstBreach(history, 'ownEpochCommit');
}

function firstBreach(
  history: History,
  property: 'persistBeforeSend' | 'ownEpochCommit',
): Violation | null {
  const breach = history.ruleBreaches.find((b) => b.property === property);
  if (breach === undefined) return null;
  return violation(property, `at tick ${breach.tick}: ${breach.message}`);
}

/**
 * Read index: a read index asked at tick t is at least the seq of every
 * publish acknowledged before tick t (a linearizable read waiting for it
 * sees them all), and at most what some node delivered (it names a
 * committed seq).
 */
export function checkReadIndex(history: History): Violation | null {
  let highestDelivered = 0;
  for (const stream of history.delivered.values())
    highestDelivered = Math.max(highestDelivered, stream.at(-1)?.seq ?? 0);
  const acks = [...history.acks].filter((a) => a.seq !== null).sort((a, b) => a.tick - b.tick);
  for (const read of history.readIndexes) {
    let newest: AckRecord | null = null;
    for (const ack of acks) {
      if (ack.tick >= read.startTick) break;
      if (newest === null || (ack.seq ?? 0) > (newest.seq ?? 0)) newest = ack;
    }
    if (newest !== null && read.seq < (newest.seq ?? 0))
      return violation(
        'readIndex',
        `a read index asked at tick ${read.startTick} is seq ${read.seq}, below seq ${newest.seq} acknowledged at tick ${newest.tick}`,
      );
    if (read.seq > highestDelivered)
      return violation(
        'readIndex',
        `a read index asked at tick ${read.startTick} is seq ${read.seq}, beyond everything delivered (${highestDelivered})`,
      );
  }
  return null;
}

export const CHECKERS: readonly Checker[] = [
  checkCoreInvariants,
  checkPersistBeforeSend,
  checkOwnEpochCommit,
  checkElectionSafety,
  checkWitness,
  checkTotalOrder,
  checkIntegrity,
  checkFifo,
  checkAckedNotLost,
  checkReadIndex,
  checkLogTime,
  checkLiveness,
];

export function checkHistory(history: History): Violation[] {
  const violations: Violation[] = [];
  for (const checker of CHECKERS) {
    const found = checker(history);
    if (found !== null) violations.push(found);
  }
  return violations;
}

function stream(history: History, id: string): readonly Entry[] {
  return history.delivered.get(id) ?? [];
}

function skipped(history: History, id: string): readonly SkippedRange[] {
  return history.skipped.get(id) ?? [];
}

function isSkipped(history: History, id: string, seq: number): boolean {
  return skipped(history, id).some((r) => r.fromSeq <= seq && seq <= r.toSeq);
}

/** The entry `id` delivered at `seq` (streams ascend by seq, so a binary search finds it). */
function entryAt(history: History, id: string, seq: number): Entry | undefined {
  const entries = stream(history, id);
  let low = 0;
  let high = entries.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const found = entries[middle]!.seq;
    if (found === seq) return entries[middle];
    if (found < seq) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}

function isMessage(entry: Entry, payload: string): boolean {
  return entry.kind === EntryKind.data && payloadHex(entry.payload) === payload;
}

function producerKey(entry: Entry): string {
  return `${entry.producerId}#${entry.producerSeq}`;
}

/** Each published payload (hex) to its publisher and its place in that publisher's order. */
function publishers(
  history: History,
): Map<string, { readonly publisherId: string; readonly index: number }> {
  const byPayload = new Map<string, { publisherId: string; index: number }>();
  for (const [publisherId, payloads] of history.published) {
    for (const [index, payload] of payloads.entries())
      byPayload.set(payload, { publisherId, index });
  }
  return byPayload;
}

function payloadText(hex: string): string {
  return Buffer.from(hex, 'hex').toString('utf8');
}

function violation(key: keyof typeof Property, message: string): Violation {
  return { property: Property[key], message };
}
