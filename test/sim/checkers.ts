import { type Entry, EntryKind } from '../../src/core/index.js';
import type { SkippedRange } from './delivered-stream.js';
import { describeEntry, entryDigest } from './hash-chain.js';
import { type History, payloadHex } from './history.js';

export const Property = {
  totalOrder: 'total-order',
  ackedNotLost: 'acked-not-lost',
  integrity: 'integrity',
  fifo: 'fifo-per-publisher',
  electionSafety: 'election-safety',
  liveness: 'liveness',
  logTime: 'log-time',
  coreInvariant: 'core-invariant',
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
 * delivered that very message at that seq, unless its log was reset past
 * that seq (then it skipped it); at least one node delivered it. An ack
 * without a seq: some node delivered the message, and every node delivered
 * it at that seq or skipped that seq.
 */
export function checkAckedNotLost(history: History): Violation | null {
  for (const ack of history.acks) {
    const name = `${ack.producerId}#${ack.producerSeq}`;
    let seq = ack.seq;
    if (seq === null) {
      for (const id of history.nodeIds) {
        const found = stream(history, id).find((e) =>
          isMessage(e, ack.producerId, ack.producerSeq),
        );
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
        const entries = stream(history, id);
        return violation(
          'ackedNotLost',
          `${name}, ${where}, not delivered by ${id}, which delivered up to seq ${entries.at(-1)?.seq ?? 0}`,
        );
      }
      if (!isMessage(entry, ack.producerId, ack.producerSeq)) {
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
 * Integrity: every delivered message was published, with the payload that
 * was published, and no node delivers one (producerId, producerSeq) twice.
 */
export function checkIntegrity(history: History): Violation | null {
  for (const id of history.nodeIds) {
    const seen = new Map<string, number>();
    for (const entry of stream(history, id)) {
      if (entry.kind === EntryKind.epochStart) continue;
      const name = `${entry.producerId}#${entry.producerSeq}`;
      const published = history.published.get(entry.producerId)?.get(entry.producerSeq);
      if (published === undefined)
        return violation(
          'integrity',
          `${id} delivered ${name} at seq ${entry.seq}, never published`,
        );
      if (published !== payloadHex(entry.payload)) {
        return violation(
          'integrity',
          `${id} delivered ${name} at seq ${entry.seq} with a payload that was not published`,
        );
      }
      const earlier = seen.get(name);
      if (earlier !== undefined) {
        return violation(
          'integrity',
          `${id} delivered ${name} twice, at seq ${earlier} and ${entry.seq}`,
        );
      }
      seen.set(name, entry.seq);
    }
  }
  return null;
}

/**
 * FIFO per publisher: along every node's stream, each producer's messages
 * appear as producerSeq 1, 2, 3, … (the simulated publishers send exactly
 * that sequence and never skip one, so anything else is a reordering, a
 * loss ahead of a later message, or a duplicate). Across a seq range the
 * node skipped at a log reset, a producer may jump ahead, never back.
 */
export function checkFifo(history: History): Violation | null {
  for (const id of history.nodeIds) {
    const last = new Map<string, number>();
    /** Producers whose next message may jump ahead: a skip came after their last one. */
    const mayJump = new Set<string>();
    const skips = skipped(history, id);
    let skipIndex = 0;
    for (const entry of stream(history, id)) {
      while (skipIndex < skips.length && skips[skipIndex]!.toSeq < entry.seq) {
        for (const producerId of history.published.keys()) mayJump.add(producerId);
        skipIndex++;
      }
      if (entry.kind === EntryKind.epochStart) continue;
      const previous = last.get(entry.producerId) ?? 0;
      const jumps = mayJump.delete(entry.producerId);
      const inOrder = jumps ? entry.producerSeq > previous : entry.producerSeq === previous + 1;
      if (!inOrder) {
        return violation(
          'fifo',
          `${id} delivered ${entry.producerId}#${entry.producerSeq} at seq ${entry.seq} after ${entry.producerId}#${previous}${jumps ? ' (after a log reset)' : ''}`,
        );
      }
      last.set(entry.producerId, entry.producerSeq);
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

export const CHECKERS: readonly Checker[] = [
  checkCoreInvariants,
  checkElectionSafety,
  checkTotalOrder,
  checkIntegrity,
  checkFifo,
  checkAckedNotLost,
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

function isMessage(entry: Entry, producerId: string, producerSeq: number): boolean {
  return (
    entry.kind === EntryKind.data &&
    entry.producerId === producerId &&
    entry.producerSeq === producerSeq
  );
}

function violation(key: keyof typeof Property, message: string): Violation {
  return { property: Property[key], message };
}
