/**
 * Builders for single-node tests: deterministic random sources, entries,
 * messages, recovered states, and a node driven through an election by hand.
 */
import { type CoreConfig, makeCoreConfig } from '../../src/core/config.js';
import { ProtocolNode } from '../../src/core/protocol-node.js';
import {
  type AppendMessage,
  EMPTY_RECOVERED_STATE,
  type Entry,
  EntryKind,
  type HardState,
  makeEpochStartEntry,
  type NodeId,
  type PeerMessage,
  type Proposal,
  type Ready,
  type RecoveredState,
} from '../../src/core/types.js';

/** Small timing so that tests tick through elections quickly. */
export const TEST_TIMING = {
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 2,
  nackRetryTicks: 3,
} as const;

/** A seeded generator (mulberry32): the same seed gives the same numbers. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random source that plays back `values` in order (cycling), and counts its draws. */
export interface ScriptedRandom {
  (): number;
  draws: number;
}

export function scriptedRandom(...values: number[]): ScriptedRandom {
  const source = (() => {
    const value = values[source.draws % values.length]!;
    source.draws++;
    return value;
  }) as ScriptedRandom;
  source.draws = 0;
  return source;
}

export function proposal(producerId: string, producerSeq: number, topic = 't'): Proposal {
  return {
    producerId,
    producerSeq,
    topic,
    payload: new TextEncoder().encode(`${producerId}:${producerSeq}`),
  };
}

/** A data entry as a sequencer would have written it. */
export function dataEntry(
  seq: number,
  epoch: number,
  producerId = 'p',
  producerSeq = seq,
  timestampMs = seq,
): Entry {
  return {
    seq,
    epoch,
    kind: EntryKind.data,
    producerId,
    producerSeq,
    topic: 't',
    payload: new Uint8Array([seq & 0xff]),
    timestampMs,
  };
}

export function epochStartEntry(seq: number, epoch: number): Entry {
  return makeEpochStartEntry(seq, epoch, 0);
}

export function append(
  fields: Partial<AppendMessage> & Pick<AppendMessage, 'from' | 'epoch'>,
): AppendMessage {
  return { type: 'append', prevSeq: 0, prevEpoch: 0, entries: [], commitSeq: 0, ...fields };
}

/** Builds the state a node would recover from a log holding `entries` (contiguous from 1). */
export function recoveredFrom(
  entries: readonly Entry[],
  hardState: Partial<HardState> = {},
): RecoveredState {
  const epochStarts: { epoch: number; startSeq: number }[] = [];
  for (const entry of entries) {
    if (epochStarts.length === 0 || epochStarts[epochStarts.length - 1]!.epoch !== entry.epoch) {
      epochStarts.push({ epoch: entry.epoch, startSeq: entry.seq });
    }
  }
  const lastEpoch = entries.length === 0 ? 0 : entries[entries.length - 1]!.epoch;
  return {
    hardState: { epoch: lastEpoch, votedFor: null, commitSeq: 0, ...hardState },
    firstSeq: 1,
    lastSeq: entries.length,
    epochBeforeFirst: 0,
    epochStarts,
    lastTimestampMs: entries.reduce((max, e) => Math.max(max, e.timestampMs), 0),
    recentEntries: entries,
  };
}

/** Takes the node's Ready and tells it the Ready was carried out (as a host does). */
export function takeReady(node: ProtocolNode): Ready {
  const ready = node.ready();
  node.advance(ready);
  return ready;
}

export function newNode(
  id: NodeId,
  members: readonly NodeId[],
  overrides: Partial<CoreConfig> = {},
  recovered: RecoveredState = EMPTY_RECOVERED_STATE,
): ProtocolNode {
  const config = makeCoreConfig(id, members, overrides.random ?? scriptedRandom(0), {
    ...TEST_TIMING,
    ...overrides,
  });
  return new ProtocolNode(config, recovered);
}

/** The messages of a Ready addressed to `to` (directly or by multicast), of one type. */
export function messagesOf<T extends PeerMessage['type']>(
  ready: Ready,
  type: T,
  to?: NodeId,
): Extract<PeerMessage, { type: T }>[] {
  return ready.messages
    .filter((m) => m.message.type === type && (to === undefined || m.to === to || m.to === null))
    .map((m) => m.message as Extract<PeerMessage, { type: T }>);
}

/**
 * Drives a standalone node through an election by hand: it times out, and
 * `voters` grant its pre-vote and then its vote.
 */
export function winElection(node: ProtocolNode, voters: readonly NodeId[]): void {
  for (let i = 0; i < 1000 && node.status().role === 'follower'; i++) node.tick();
  if (node.status().role === 'pre-candidate') {
    const epoch = node.currentEpoch + 1;
    for (const from of voters)
      node.step({ type: 'voteResponse', epoch, from, granted: true, preVote: true });
  }
  for (const from of voters) {
    node.step({
      type: 'voteResponse',
      epoch: node.currentEpoch,
      from,
      granted: true,
      preVote: false,
    });
  }
  if (!node.isLeader) throw new Error(`${node.id} did not win an election`);
}
