/**
 * The public API of Ordo: clients for publishing and subscribing, the admin
 * client, and the pieces needed to embed a broker node.
 */
export { AdminClient, type BrokerStatus, type NodeStatus } from './admin.js';
export {
  BrokerError,
  ClosedError,
  InvalidRequestError,
  OrdoError,
  SeqUnavailableError,
  TimeoutError,
} from './errors.js';
export { type AckMode, type PublishAck, Publisher, type PublisherOptions } from './publisher.js';
export { type Message, Subscriber, type SubscriberOptions } from './subscriber.js';
