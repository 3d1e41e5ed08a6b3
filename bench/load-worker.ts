/**
 * A publisher process for the benchmarks, forked by the driver so that the
 * load (encoding, batching, ack bookkeeping) runs on its own event loop and
 * never competes with the driver's measurements. It keeps one Publisher for
 * its lifetime and runs the phases the driver asks for.
 */

import { type PublishAck, Publisher } from '../clients/publisher.js';
import { loadCredentials } from '../src/runtime/curve-keys.js';
import { LatencyHistogram } from '../src/runtime/latency-stats.js';
import { TurnClock } from '../src/runtime/turn-clock.js';
import { sleep, wallNowMs } from './children.js';
import type {
  ConnectCommand,
  FirstAckAfterQuery,
  LoadCommand,
  PhaseResult,
  RateCommand,
  SaturateCommand,
  SerialCommand,
  SerialResult,
  SteadyCommand,
} from './load-protocol.js';

const topic = 'bench';
/** Acks kept for a `firstAckAfter` query that arrives after its answer. */
const recentAcksKept = 4096;

interface Ack {
  readonly publishMs: number;
  readonly ackMs: number;
  readonly seq: number;
}

let publisher: Publisher | null = null;
let payload = new Uint8Array(100);
let windowMessages = 8192;
let stopRequested = false;
const queries: FirstAckAfterQuery[] = [];
const recentAcks: Ack[] = [];

/**
 * Wall-clock time read once per run of synchronous code and its microtasks
 * (TurnClock): three clock reads and an object per message were a tenth of
 * this process's CPU, which on a shared machine the cluster under test
 * would otherwise have had; the times differ from exact ones by at most the
 * length of one run.
 */
const turnClock = new TurnClock(wallNowMs);

/** What a publish's promise settles into. */
interface PublishHandlers {
  readonly ack: (ack: PublishAck) => void;
  readonly fail: (error: Error) => void;
}

/** Counters and the latency histogram of one phase; `measureFromMs..measureToMs` is the window (wall clock). */
class Phase {
  published = 0;
  acked = 0;
  failed = 0;
  inFlight = 0;
  windowAcks = 0;
  /** Longest time inside the window without any ack: a stall of the cluster or of this process. */
  maxAckGapMs = 0;
  private lastAckMs = Number.NaN;
  firstError: string | null = null;
  readonly latency = new LatencyHistogram();
  private wake: (() => void) | null = null;

  constructor(
    readonly measureFromMs: number,
    public measureToMs: number,
    /** Keeps recent acks to answer `firstAckAfter` queries (the failover bench's steady load). */
    private readonly keepsAcks = false,
  ) {}

  /** The ack and failure handlers of the publishes of one run, which share their publish time. */
  private handlers: PublishHandlers | null = null;
  private handlersTurn = -1;

  /**
   * Calls publish() without waiting for it, and accounts for its ack or
   * failure. The publishes of one run share one pair of handlers instead of
   * two closures each.
   */
  publishOne(): void {
    const publishMs = turnClock.nowMs();
    if (this.handlers === null || this.handlersTurn !== turnClock.turn) {
      this.handlers = this.handlersFor(publishMs);
      this.handlersTurn = turnClock.turn;
    }
    this.published++;
    this.inFlight++;
    publisher!.publish(topic, payload).then(this.handlers.ack, this.handlers.fail);
  }

  private handlersFor(publishMs: number): PublishHandlers {
    return {
      ack: (ack) => {
        const ackMs = turnClock.nowMs();
        this.acked++;
        if (publishMs >= this.measureFromMs && publishMs < this.measureToMs)
          this.latency.record(ackMs - publishMs);
        if (ackMs >= this.measureFromMs && ackMs < this.measureToMs) {
          this.windowAcks++;
          const gapMs =
            ackMs - (Number.isNaN(this.lastAckMs) ? this.measureFromMs : this.lastAckMs);
          if (gapMs > this.maxAckGapMs) this.maxAckGapMs = gapMs;
        }
        this.lastAckMs = ackMs;
        if (this.keepsAcks) onAck({ publishMs, ackMs, seq: ack.seq });
        this.settled();
      },
      fail: (error) => {
        this.failed++;
        this.firstError ??= `${error.name}: ${error.message}`;
        this.settled();
      },
    };
  }

  /**
   * Calls publishMany() with `count` messages without waiting, and accounts
   * for their acks (all published at one instant), or counts all of them
   * failed when the call rejects (it does not say which went through).
   */
  publishMany(count: number): void {
    const publishMs = wallNowMs();
    this.published += count;
    this.inFlight += count;
    publisher!.publishMany(Array.from({ length: count }, () => ({ topic, payload }))).then(
      (acks) => {
        const ackMs = wallNowMs();
        this.acked += count;
        if (publishMs >= this.measureFromMs && publishMs < this.measureToMs)
          this.latency.recordTimes(ackMs - publishMs, count);
        if (ackMs >= this.measureFromMs && ackMs < this.measureToMs) {
          this.windowAcks += count;
          const gapMs =
            ackMs - (Number.isNaN(this.lastAckMs) ? this.measureFromMs : this.lastAckMs);
          if (gapMs > this.maxAckGapMs) this.maxAckGapMs = gapMs;
        }
        this.lastAckMs = ackMs;
        if (this.keepsAcks) onAck({ publishMs, ackMs, seq: acks[acks.length - 1]!.seq });
        this.settled(count);
      },
      (error: Error) => {
        this.failed += count;
        this.firstError ??= `${error.name}: ${error.message}`;
        this.settled(count);
      },
    );
  }

  /** Resolves when at least one message in flight has settled (room in the window). */
  room(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  async drain(timeoutMs: number): Promise<void> {
    const deadlineMs = wallNowMs() + timeoutMs;
    while (this.inFlight > 0 && wallNowMs() < deadlineMs)
      await Promise.race([this.room(), sleep(50)]);
  }

  result(windowMs: number): PhaseResult {
    return {
      type: 'phaseDone',
      published: this.published,
      acked: this.acked,
      failed: this.failed,
      unfinished: this.inFlight,
      windowAcks: this.windowAcks,
      maxAckGapMs: this.maxAckGapMs,
      windowMs,
      latency: this.latency.toData(),
      firstError: this.firstError,
    };
  }

  private settled(count = 1): void {
    this.inFlight -= count;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

function onAck(ack: Ack): void {
  recentAcks.push(ack);
  if (recentAcks.length > 2 * recentAcksKept)
    recentAcks.splice(0, recentAcks.length - recentAcksKept);
  for (let i = queries.length - 1; i >= 0; i--) {
    const query = queries[i]!;
    if (ack.publishMs < query.afterMs) continue;
    queries.splice(i, 1);
    process.send!({ type: 'firstAck', queryId: query.queryId, ...ack });
  }
}

function onQuery(query: FirstAckAfterQuery): void {
  const answered = recentAcks.find((a) => a.publishMs >= query.afterMs);
  if (answered === undefined) queries.push(query);
  else process.send!({ type: 'firstAck', queryId: query.queryId, ...answered });
}

async function sleepUntil(wallMs: number): Promise<void> {
  const waitMs = wallMs - wallNowMs();
  if (waitMs > 0) await sleep(waitMs);
}

async function connect(command: ConnectCommand): Promise<void> {
  windowMessages = command.windowMessages;
  payload = new Uint8Array(command.payloadBytes).fill(0x61);
  publisher = new Publisher({
    brokers: command.brokers,
    maxInFlightMessages: windowMessages,
    ...(command.credentialsPath === undefined
      ? {}
      : { runtime: { credentials: loadCredentials(command.credentialsPath) } }),
    ...(command.requestTimeoutMs === undefined
      ? {}
      : { requestTimeoutMs: command.requestTimeoutMs }),
  });
  // One acknowledged message proves the sequencer is found before any timing
  // starts; the Publisher retries it through an election on its own.
  await publisher.publish(topic, payload);
  process.send!({ type: 'connected' });
}

async function saturate(command: SaturateCommand): Promise<void> {
  await sleepUntil(command.startAtMs);
  const measureFromMs = command.startAtMs + command.warmupMs;
  const phase = new Phase(measureFromMs, measureFromMs + command.durationMs);
  const perCall = Math.min(command.publishManyMessages, windowMessages);
  while (turnClock.nowMs() < phase.measureToMs && phase.published < command.maxMessages) {
    if (phase.inFlight + perCall > windowMessages) await phase.room();
    else if (perCall === 1) phase.publishOne();
    else phase.publishMany(perCall);
  }
  const stoppedEarly = wallNowMs() < phase.measureToMs;
  await phase.drain(command.drainTimeoutMs);
  // When the count bound ended the phase, the window ends with the last ack instead.
  if (stoppedEarly) phase.measureToMs = Math.min(phase.measureToMs, wallNowMs());
  process.send!(phase.result(Math.max(0, phase.measureToMs - measureFromMs)));
}

/** Publishes `ratePerSecond` evenly from `startMs` until `endMs`, `stopRequested` or `maxMessages`. */
async function paced(
  phase: Phase,
  startMs: number,
  endMs: number,
  ratePerSecond: number,
  maxMessages: number,
): Promise<void> {
  while (!stopRequested && wallNowMs() < endMs && phase.published < maxMessages) {
    const dueMessages = Math.min(
      maxMessages,
      Math.floor(((wallNowMs() - startMs) * ratePerSecond) / 1000) + 1,
    );
    while (phase.published < dueMessages && phase.inFlight < windowMessages) phase.publishOne();
    await sleep(1);
  }
}

async function rate(command: RateCommand): Promise<void> {
  await sleepUntil(command.startAtMs);
  const measureFromMs = command.startAtMs + command.warmupMs;
  const phase = new Phase(measureFromMs, measureFromMs + command.durationMs);
  await paced(
    phase,
    command.startAtMs,
    phase.measureToMs,
    command.ratePerSecond,
    command.maxMessages,
  );
  await phase.drain(command.drainTimeoutMs);
  process.send!(phase.result(command.durationMs));
}

async function serial(command: SerialCommand): Promise<void> {
  const latency = new LatencyHistogram();
  const warmupLatency = new LatencyHistogram();
  let failed = 0;
  let firstError: string | null = null;
  for (let i = 0; i < command.warmupMessages + command.messages; i++) {
    const startMs = performance.now();
    try {
      await publisher!.publish(topic, payload);
      (i >= command.warmupMessages ? latency : warmupLatency).record(performance.now() - startMs);
    } catch (error) {
      failed++;
      firstError ??= `${(error as Error).name}: ${(error as Error).message}`;
    }
  }
  const result: SerialResult = {
    type: 'serialDone',
    latency: latency.toData(),
    warmupLatency: warmupLatency.toData(),
    failed,
    firstError,
  };
  process.send!(result);
}

async function steady(command: SteadyCommand): Promise<void> {
  stopRequested = false;
  const startMs = wallNowMs();
  const phase = new Phase(startMs, startMs + command.maxDurationMs, true);
  await paced(phase, startMs, phase.measureToMs, command.ratePerSecond, command.maxMessages);
  await phase.drain(5000);
  process.send!(phase.result(wallNowMs() - startMs));
}

function exit(): void {
  publisher?.close();
  process.exit(0);
}

function run(task: Promise<void>): void {
  task.catch((error: Error) => {
    process.send!({ type: 'error', message: `${error.name}: ${error.message}` });
  });
}

process.on('message', (raw) => {
  const command = raw as LoadCommand;
  switch (command.type) {
    case 'connect':
      return run(connect(command));
    case 'saturate':
      return run(saturate(command));
    case 'rate':
      return run(rate(command));
    case 'serial':
      return run(serial(command));
    case 'steady':
      return run(steady(command));
    case 'firstAckAfter':
      return onQuery(command);
    case 'stop':
      stopRequested = true;
      return;
    case 'exit':
      return exit();
  }
});
// The driver is gone (crashed or killed): nobody will read our results.
process.on('disconnect', exit);
