import type { PeerMessage, Ready } from '../core/types.js';

/**
 * What a broker node tells an observer as it works, for metrics and event
 * logs. The node calls each method on its event loop and never waits for
 * it: an implementation must be quick and must not throw.
 */
export interface NodeMetrics {
  /** A Ready the node is about to carry out; `isLeader` is its role as it starts. */
  onReady(ready: Ready, isLeader: boolean): void;
  /** A peer message arrived (before the core steps it); `isLeader` is the node's role then. */
  onPeerMessage(message: PeerMessage, isLeader: boolean): void;
}

/** Feeds several observers, in order. */
export function combineNodeMetrics(...observers: readonly NodeMetrics[]): NodeMetrics {
  return {
    onReady(ready, isLeader) {
      for (const o of observers) o.onReady(ready, isLeader);
    },
    onPeerMessage(message, isLeader) {
      for (const o of observers) o.onPeerMessage(message, isLeader);
    },
  };
}
