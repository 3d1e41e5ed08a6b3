import { invariant } from './assert.js';
import type { AppendMessage, Entry, NodeId, RetransmitAction } from './types.js';

/**
 * The append that answers a retransmission the core asked for, once the
 * host has read `entries` (a prefix of the range, possibly short: reads are
 * bounded in bytes) from its log. The first entry must be the one the
 * action starts at, or the receiver's consistency check would be wrong.
 */
export function retransmitAppend(
  from: NodeId,
  action: RetransmitAction,
  entries: readonly Entry[],
): AppendMessage {
  invariant(entries.length > 0, 'a retransmission carries at least one entry');
  invariant(
    entries[0]!.seq === action.fromSeq && entries.at(-1)!.seq <= action.toSeq,
    `retransmission [${action.fromSeq}, ${action.toSeq}] read [${entries[0]!.seq}, ${entries.at(-1)!.seq}]`,
  );
  return {
    type: 'append',
    epoch: action.epoch,
    from,
    prevSeq: action.prevSeq,
    prevEpoch: action.prevEpoch,
    entries,
    commitSeq: action.commitSeq,
    // A log start carries the committed membership: a follower whose log
    // restarts there loses the config entries before it.
    ...(action.logStart === true
      ? {
          logStart: true,
          ...(action.membership !== undefined ? { membership: action.membership } : {}),
        }
      : {}),
    ...(action.transferTo !== undefined ? { transferTo: action.transferTo } : {}),
    ...(action.catchUp === true ? { catchUp: true } : {}),
  };
}
