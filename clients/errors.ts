/**
 * Every error the Ordo clients raise. `retriable` says whether the same call
 * may succeed later (the cluster was electing, a node was unreachable) or
 * will fail again (bad input, a seq that retention removed).
 */
export class OrdoError extends Error {
  override readonly name: string = 'OrdoError';
  readonly retriable: boolean;
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.retriable = options.retriable ?? false;
  }
}

/** No broker answered in time. */
export class TimeoutError extends OrdoError {
  override readonly name = 'TimeoutError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retriable: true });
  }
}

/** The message or request is invalid and will never be accepted as it is. */
export class InvalidRequestError extends OrdoError {
  override readonly name = 'InvalidRequestError';
}

/** The client was closed while the call was pending. */
export class ClosedError extends OrdoError {
  override readonly name = 'ClosedError';
}

/**
 * A publish whose outcome cannot be known: it was sent without a definite
 * answer, and the cluster has since forgotten its producer (bounded dedup
 * table), so sending it again could apply it twice. It may or may not be in
 * the stream; the caller decides (for example by reading the stream).
 */
export class UncertainOutcomeError extends OrdoError {
  override readonly name = 'UncertainOutcomeError';
}

/**
 * Every broker refused the request because a budget is spent (the node
 * serves as many subscribers as it may, this connection or identity holds
 * as many subscriptions or publishes waiting as it may, or the broker
 * refused the connection itself at its handshake: it holds as many client
 * connections as it may, for its node or for this address). The message
 * names the budget. Retriable: the budget frees up as other clients leave.
 */
export class LimitError extends OrdoError {
  override readonly name = 'LimitError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retriable: true });
  }
}

/** A subscriber asked for a seq older than the log's start. */
export class SeqUnavailableError extends OrdoError {
  override readonly name = 'SeqUnavailableError';
  constructor(
    message: string,
    readonly firstAvailableSeq: number,
  ) {
    super(message);
  }
}

/**
 * Why a broker refused a request, as its error reply names it:
 * `malformed` and `too-large` (the request can never be accepted as it is),
 * `seq-unavailable` (older than the log's start), `limit` (the broker serves
 * as many subscribers as it may), `unknown-subscription`, `internal`,
 * `not-leader`, `forbidden` (see ForbiddenError), and `unspecified` (also for a request this client could not
 * send: a full send queue, too many requests waiting).
 */
export type BrokerErrorCode =
  | 'unspecified'
  | 'malformed'
  | 'too-large'
  | 'seq-unavailable'
  | 'limit'
  | 'unknown-subscription'
  | 'internal'
  | 'not-leader'
  | 'forbidden';

/** The codes in the order of the wire enum `ErrorCode` (proto/ordo.proto): index = wire value. */
export const brokerErrorCodes: readonly BrokerErrorCode[] = [
  'unspecified',
  'malformed',
  'too-large',
  'seq-unavailable',
  'limit',
  'unknown-subscription',
  'internal',
  'not-leader',
  'forbidden',
];

/** The code for a wire `ErrorCode` value (or a code already named); unknown values are `unspecified`. */
export function brokerErrorCode(code: number | BrokerErrorCode): BrokerErrorCode {
  if (typeof code === 'string') return brokerErrorCodes.includes(code) ? code : 'unspecified';
  return brokerErrorCodes[code] ?? 'unspecified';
}

/** A broker answered with an error. */
export class BrokerError extends OrdoError {
  override readonly name: string = 'BrokerError';
  readonly code: BrokerErrorCode;
  /** With `seq-unavailable`: the oldest seq the broker still holds. */
  readonly firstAvailableSeq: number;
  constructor(
    message: string,
    code: number | BrokerErrorCode,
    options: { retriable?: boolean; firstAvailableSeq?: number; cause?: unknown } = {},
  ) {
    super(message, options);
    this.code = brokerErrorCode(code);
    this.firstAvailableSeq = options.firstAvailableSeq ?? 0;
  }
}

/**
 * The cluster refused the request: the client's identity lacks a permission.
 * The message names the identity and the permission (`publish` or
 * `subscribe` on a topic, `admin`, or a producer id that belongs to another
 * identity). Never retriable: the same request is refused again.
 */
export class ForbiddenError extends BrokerError {
  override readonly name: string = 'ForbiddenError';
  constructor(message: string) {
    super(message, 'forbidden', { retriable: false });
  }
}
