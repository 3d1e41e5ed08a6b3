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

/** A broker answered with an error. */
export class BrokerError extends OrdoError {
  override readonly name = 'BrokerError';
  readonly firstAvailableSeq: number;
  constructor(
    message: string,
    readonly code: number,
    options: { retriable?: boolean; firstAvailableSeq?: number } = {},
  ) {
    super(message, options);
    this.firstAvailableSeq = options.firstAvailableSeq ?? 0;
  }
}
