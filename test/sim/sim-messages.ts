import type { NodeId, PeerMessage } from '../../src/core/index.js';

/** A publisher's request to sequence one message, as a node host receives it. */
export interface PublishRequest {
  readonly producerId: string;
  readonly producerSeq: number;
  readonly topic: string;
  readonly payload: Uint8Array;
}

/** What a node host answers a publisher. */
export type PublishReply =
  /** Committed at `seq` (null when a duplicate's original seq is no longer known). */
  | { readonly kind: 'ack'; readonly producerSeq: number; readonly seq: number | null }
  /** Not sequenced, or sequenced and then truncated: send it again. */
  | { readonly kind: 'retry'; readonly producerSeq: number; readonly reason: string }
  | { readonly kind: 'notLeader'; readonly producerSeq: number; readonly leaderId: NodeId | null }
  | {
      readonly kind: 'outOfOrder';
      readonly producerSeq: number;
      readonly expectedProducerSeq: number;
    };

/** Everything that travels over the simulated network. */
export type SimMessage =
  | { readonly kind: 'peer'; readonly message: PeerMessage }
  | { readonly kind: 'publish'; readonly request: PublishRequest }
  /** `producerId` names the publisher's session the answer is for. */
  | { readonly kind: 'reply'; readonly producerId: string; readonly reply: PublishReply };
