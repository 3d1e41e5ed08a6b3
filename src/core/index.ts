export { InvariantViolation, invariant } from './assert.js';
export { type CoreConfig, DEFAULT_TIMING, makeCoreConfig } from './config.js';
export { checkpointUsable, retentionLimitSeq } from './dedup-checkpoint-rules.js';
export { EpochIndex } from './epoch-index.js';
export {
  applyChange,
  decodeMembership,
  encodeMembership,
  findMember,
  MAX_MEMBERS,
  type Member,
  type Membership,
  type MembershipChange,
  MembershipFormatError,
  type MembershipState,
  memberIds,
  type PendingConfig,
  sameMembership,
  seedMembership,
  votersOf,
} from './membership.js';
export { PendingReplies, type SettledReply } from './pending-replies.js';
export { NO_DEFECTS, PlantedDefect } from './planted-defect.js';
export { type DedupVerdict, ProducerTable } from './producer-table.js';
export {
  type CoreStatus,
  type MembershipProposeResult,
  type PeerStatus,
  type ProposeResult,
  ProtocolNode,
  type RunEntryMaker,
} from './protocol-node.js';
export { type PublishOutcome, publishOutcome } from './publish-outcome.js';
export { retransmitAppend } from './retransmit.js';
export * from './types.js';
