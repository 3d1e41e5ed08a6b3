import type { HistogramData } from '../src/runtime/latency-stats.js';

/**
 * The messages between the driver and a load worker (bench/load-worker.ts).
 * Times that both sides compare are wall-clock milliseconds (`wallNowMs`),
 * so that every worker can start its phase at the same instant.
 */

export interface ConnectCommand {
  readonly type: 'connect';
  readonly brokers: readonly string[];
  readonly windowMessages: number;
  readonly payloadBytes: number;
  /** Publisher request timeout; undefined keeps the Publisher's default. */
  readonly requestTimeoutMs?: number;
  /** A secured cluster: the credentials file the publisher connects with. */
  readonly credentialsPath?: string;
}

/** Publish as fast as the in-flight window allows. */
export interface SaturateCommand {
  readonly type: 'saturate';
  readonly startAtMs: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly maxMessages: number;
  /** How long to wait, after the window closes, for the messages still in flight. */
  readonly drainTimeoutMs: number;
  /** Messages per `publishMany` call; 1: one `publish` per message. */
  readonly publishManyMessages: number;
}

/** Publish at a fixed rate (messages per second), spread evenly over time. */
export interface RateCommand {
  readonly type: 'rate';
  readonly startAtMs: number;
  readonly ratePerSecond: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly maxMessages: number;
  readonly drainTimeoutMs: number;
}

/** One publish in flight: each publish() is awaited before the next is called. */
export interface SerialCommand {
  readonly type: 'serial';
  /** Untimed publishes first (connections, JIT). */
  readonly warmupMessages: number;
  readonly messages: number;
}

export interface SerialResult {
  readonly type: 'serialDone';
  /** publish() to ack of each timed message. */
  readonly latency: HistogramData;
  /** The same, of the warm-up messages before them (the first one also connects). */
  readonly warmupLatency: HistogramData;
  readonly failed: number;
  readonly firstError: string | null;
}

/**
 * Publish at a fixed rate until told to stop, answering `firstAckAfter`
 * queries: used by the failover benchmark to time a sequencer kill.
 */
export interface SteadyCommand {
  readonly type: 'steady';
  readonly ratePerSecond: number;
  readonly maxMessages: number;
  readonly maxDurationMs: number;
}

/** Asks for the ack of the first message whose publish() was called at or after `afterMs`. */
export interface FirstAckAfterQuery {
  readonly type: 'firstAckAfter';
  readonly queryId: number;
  readonly afterMs: number;
}

export type LoadCommand =
  | ConnectCommand
  | SaturateCommand
  | RateCommand
  | SerialCommand
  | SteadyCommand
  | FirstAckAfterQuery
  | { readonly type: 'stop' }
  | { readonly type: 'exit' };

/** What a worker reports at the end of a saturate, rate or steady phase. */
export interface PhaseResult {
  readonly type: 'phaseDone';
  /** Messages whose publish() was called. */
  readonly published: number;
  readonly acked: number;
  readonly failed: number;
  /** Messages still unacknowledged when the drain timeout ran out. */
  readonly unfinished: number;
  /** Acks that arrived inside the measurement window. */
  readonly windowAcks: number;
  /** Longest time inside the window without any ack. */
  readonly maxAckGapMs: number;
  /** Length of the measurement window actually used (shorter when maxMessages ended it). */
  readonly windowMs: number;
  /** publish() to ack, for messages published inside the measurement window. */
  readonly latency: HistogramData;
  readonly firstError: string | null;
}

export interface FirstAckAnswer {
  readonly type: 'firstAck';
  readonly queryId: number;
  readonly publishMs: number;
  readonly ackMs: number;
  readonly seq: number;
}
