/**
 * The public API of Ordo: clients for publishing and subscribing, the admin
 * client, and the pieces needed to embed a broker node.
 */
export type { Clock, Random, TimerHandle } from '../src/runtime/clock.js';
export {
  type Credentials,
  CredentialsError,
  loadCredentials,
} from '../src/runtime/curve-keys.js';
export type { FrameChannel, FrameDialer, FrameHandlers } from '../src/runtime/frame-dialer.js';
export {
  AdminClient,
  type BrokerStatus,
  type MemberAddress,
  type MembersResult,
} from './admin.js';
export type { ClientRuntime } from './client-runtime.js';
export { parseEndpoint } from './endpoint.js';
export {
  BrokerError,
  type BrokerErrorCode,
  ClosedError,
  ForbiddenError,
  InvalidRequestError,
  LimitError,
  OrdoError,
  SeqUnavailableError,
  TimeoutError,
  UncertainOutcomeError,
} from './errors.js';
export type { PublishOutcome } from './many-acks.js';
export type {
  MemberInfo,
  NodeRole,
  NodeStatus,
  PeerProgress,
  ReplicaStatus,
  SubscriberStatus,
} from './node-status.js';
export { type AckMode, type PublishAck, Publisher, type PublisherOptions } from './publisher.js';
export type { DivergenceReport } from './replica/broker-channel.js';
export type { StateDigest } from './replica/digest.js';
export { loadPlugin } from './replica/plugin-loader.js';
export {
  PrimaryBackupClient,
  type PrimaryBackupClientOptions,
  RequestFailedError,
} from './replica/primary-backup/pb-client.js';
export {
  type PrimaryBackupEvent,
  PrimaryBackupReplica,
  type PrimaryBackupReplicaOptions,
  startPrimaryBackupReplica,
} from './replica/primary-backup/pb-replica.js';
export type {
  ExecuteContext,
  Execution,
  PrimaryBackupService,
  PrimaryBackupServiceFactory,
  UpdateContext,
} from './replica/primary-backup/pb-service.js';
export { DataDirLockedError, PluginError, SnapshotError } from './replica/replica-errors.js';
export { Replica, startReplica } from './replica/replica-host.js';
export type { ReplicaLogger } from './replica/replica-logger.js';
export type { ReplicaEvent, ReplicaOptions } from './replica/replica-options.js';
export type { ApplyContext, StateMachine, StateMachineFactory } from './replica/state-machine.js';
export { type Message, Subscriber, type SubscriberOptions } from './subscriber.js';
