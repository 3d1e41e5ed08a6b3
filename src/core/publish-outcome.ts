import type { ProposeResult } from './protocol-node.js';

/**
 * What a host tells a publisher about one proposal: either an answer now,
 * or wait for the commit of `seq` (in `epoch`: an entry replaced by a new
 * sequencer is answered with a retry instead).
 */
export type PublishOutcome =
  | { readonly kind: 'waitForCommit'; readonly seq: number; readonly epoch: number }
  | { readonly kind: 'ok'; readonly seq: number }
  | { readonly kind: 'duplicate'; readonly seq: number | null }
  | { readonly kind: 'outOfOrder'; readonly expectedProducerSeq: number }
  | { readonly kind: 'notLeader' }
  | { readonly kind: 'busy'; readonly reason: string }
  | { readonly kind: 'forbidden'; readonly owner: string };

/**
 * Maps the core's verdict on a proposal to the answer a publisher gets.
 * In quorum mode a new entry is answered at commit; in sequenced mode
 * (an explicit opt-in) as soon as it has a seq. A duplicate of a committed
 * entry is answered at once with its original seq; one still uncommitted
 * waits for that commit like the original does.
 */
export function publishOutcome(
  result: ProposeResult,
  committedSeq: number,
  sequencedOnly: boolean,
): PublishOutcome {
  switch (result.kind) {
    case 'appended':
      return sequencedOnly
        ? { kind: 'ok', seq: result.seq }
        : { kind: 'waitForCommit', seq: result.seq, epoch: result.epoch };
    case 'duplicate':
      if (result.seq === null || result.epoch === null) return { kind: 'duplicate', seq: null };
      if (result.seq <= committedSeq || sequencedOnly)
        return { kind: 'duplicate', seq: result.seq };
      return { kind: 'waitForCommit', seq: result.seq, epoch: result.epoch };
    case 'outOfOrder':
      return { kind: 'outOfOrder', expectedProducerSeq: result.expectedProducerSeq };
    case 'notLeader':
      return { kind: 'notLeader' };
    case 'busy':
      return { kind: 'busy', reason: result.reason };
    case 'forbidden':
      return { kind: 'forbidden', owner: result.owner };
  }
}
