import type { NodeId, NodeMessage } from '../core/types.js';
import type { NodeAddress } from './cluster-config.js';

export interface PeerLinkCounters {
  multicastSent: number;
  unicastSent: number;
  received: number;
  badFrames: number;
  /** Frames larger than LIMITS.maxFrameBytes (also counted in badFrames). */
  oversizedFrames: number;
  droppedByFaultInjection: number;
  /** Messages dropped because their `from` is not the node whose key sent them (secured clusters). */
  misattributed: number;
  /** Frames dropped because a buffer for them could not be allocated. */
  allocationFailures: number;
}

/** Counters that start at zero, for a new peer link. */
export function emptyPeerLinkCounters(): PeerLinkCounters {
  return {
    multicastSent: 0,
    unicastSent: 0,
    received: 0,
    badFrames: 0,
    oversizedFrames: 0,
    droppedByFaultInjection: 0,
    misattributed: 0,
    allocationFailures: 0,
  };
}

/**
 * The node-to-node edge as the host sees it: multicast to every other
 * member, send to one, and hear from any. Sends never block and may be lost;
 * the protocol's NACKs and retries cover every loss. ZeroMQ implements it in
 * production (`PeerTransport`), the simulator with its own network.
 */
export interface PeerLink {
  readonly counters: PeerLinkCounters;
  /** Starts receiving; `onPeerDisconnected` reports a peer whose connection dropped. */
  start(
    onMessage: (message: NodeMessage) => void,
    onPeerDisconnected: (peer: NodeId) => void,
  ): Promise<void>;
  /** Sends to one peer, or multicasts when `to` is null. */
  send(to: NodeId | null, message: NodeMessage): void;
  /**
   * The members changed: from now on multicast reaches exactly `peers`, and
   * a send reaches any of them (connections to others are closed).
   */
  setPeers?(peers: readonly NodeAddress[]): void;
  close(): Promise<void>;
}
