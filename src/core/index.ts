export { InvariantViolation, invariant } from './assert.js';
export { type CoreConfig, DEFAULT_TIMING, makeCoreConfig } from './config.js';
export { EpochIndex } from './epoch-index.js';
export { PendingReplies, type SettledReply } from './pending-replies.js';
export { type DedupVerdict, ProducerTable } from './producer-table.js';
export {
  type CoreStatus,
  type PeerStatus,
  type ProposeResult,
  ProtocolNode,
} from './protocol-node.js';
export * from './types.js';
