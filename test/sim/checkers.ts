import { type Entry, EntryKind } from '../../src/core/index.js';
import { describeEntry, hashChain } from './hash-chain.js';
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
 * Total order: every node's delivered stream has seqs 1, 2, 3, … and is a
 * prefix of the longest one. Streams are compared by hash chain, so a
 * divergence is reported at its first seq. A node that, after a restart,
 * delivers a seq again with other content, or skips one, breaks it too.
 */
export function checkTotalOrder(history: History): Violation | null {
  const anomaly = history.deliveryAnomalies[0];
  if (anomaly !== undefined) {
    return violation(
      'totalOrder',
      `${anomaly.nodeId} at seq ${anomaly.seq} (tick ${anomaly.tick}): ${anomaly.detail}`,
    );
  }
  let longestId = history.nodeIds[0]!;
  for (const id of history.nodeIds) {
    const entries = stream(history, id);
    for (let i = 0; i < entries.length; i++) {
      if (entries[i]!.seq !== i + 1) {
        return violation(
          'totalOrder',
          `${id} delivered seq ${entries[i]!.seq} in position ${i + 1}`,
        );
      }
    }
    if (entries.length > stream(history, longestId).length) longestId = id;
  }
  const longest = stream(history, longestId);
  const longestChain = hashChain(longest);
  for (const id of history.nodeIds) {
    const chain = hashChain(stream(history, id));
    for (let i = 0; i < chain.length; i++) {
      if (chain[i] !== longestChain[i]) {
        const mine = stream(history, id)[i]!;
        return violation(
          'totalOrder',
          `${id} diverges from ${longestId} at seq ${i + 1}: ${describeEntry(mine)} vs ${describeEntry(longest[i]!)}`,
        );
      }
    }
  }
  return null;
}

/**
 * No acknowledged message is lost: each ack names a seq, and every node
 * delivered that very message at that seq (acks without a seq: somewhere).
 */
export function checkAckedNotLost(history: History): Violation | null {
  for (const ack of history.acks) {
    const name = `${ack.producerId}#${ack.producerSeq}`;
    for (const id of history.nodeIds) {
      const entries = stream(history, id);
      if (ack.seq === null) {
        if (!entries.some((e) => isMessage(e, ack.producerId, ack.producerSeq))) {
          return violation(
            'ackedNotLost',
            `${name}, acked without a seq at tick ${ack.tick}, was never delivered by ${id}`,
          );
        }
        continue;
      }
      const entry = entries[ack.seq - 1];
      if (entry === undefined) {
        return violation(
          'ackedNotLost',
          `${name}, acked at seq ${ack.seq} (tick ${ack.tick}), not delivered by ${id}, which delivered ${entries.length}`,
        );
      }
      if (!isMessage(entry, ack.producerId, ack.producerSeq)) {
        return violation(
          'ackedNotLost',
          `${name} was acked at seq ${ack.seq} (tick ${ack.tick}), but ${id} delivered ${describeEntry(entry)} there`,
        );
      }
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
 * loss ahead of a later message, or a duplicate).
 */
export function checkFifo(history: History): Violation | null {
  for (const id of history.nodeIds) {
    const last = new Map<string, number>();
    for (const entry of stream(history, id)) {
      if (entry.kind === EntryKind.epochStart) continue;
      const previous = last.get(entry.producerId) ?? 0;
      if (entry.producerSeq !== previous + 1) {
        return violation(
          'fifo',
          `${id} delivered ${entry.producerId}#${entry.producerSeq} at seq ${entry.seq} after ${entry.producerId}#${previous}`,
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
