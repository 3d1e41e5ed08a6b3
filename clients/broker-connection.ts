import { LIMITS } from '../src/limits.js';
import type { Clock, TimerHandle } from '../src/runtime/clock.js';
import type { FrameChannel } from '../src/runtime/frame-dialer.js';
import {
  type ClientResponse,
  decodeClientResponse,
  encodeClientRequest,
} from '../src/wire/client-codec.js';
import type { ordo } from '../src/wire/schema.js';
import { type ClientRuntime, resolveClientRuntime } from './client-runtime.js';
import {
  BrokerError,
  brokerErrorCode,
  ClosedError,
  ForbiddenError,
  TimeoutError,
} from './errors.js';

type RequestBody = Omit<ordo.ClientRequest.$Properties, 'requestId'>;

interface Waiting {
  resolve: (response: ClientResponse) => void;
  reject: (error: Error) => void;
  timer: TimerHandle;
}

export interface BrokerConnectionOptions {
  /** Anything the broker sends unasked: deliveries, errors about a frame. */
  readonly onUnsolicited?: (response: ClientResponse) => void;
  /** The connection to the broker dropped. */
  readonly onDisconnect?: () => void;
  /** The network and clock to run over (production defaults when absent). */
  readonly runtime?: ClientRuntime;
}

/**
 * One connection to one broker endpoint, dialled through the runtime's
 * FrameDialer (a DEALER socket in production). Requests are encoded by the
 * client codec and matched to responses by request id; anything the broker
 * sends unasked goes to `onUnsolicited`.
 */
export class BrokerConnection {
  /** Null after the broker refused the connection at its handshake: the next send dials again. */
  private channel: FrameChannel | null;
  private readonly dial: () => FrameChannel;
  private readonly clock: Clock;
  private readonly onUnsolicited: (response: ClientResponse) => void;
  private readonly waiting = new Map<number, Waiting>();
  private nextRequestId = 1;
  private closed = false;

  constructor(
    readonly endpoint: string,
    options: BrokerConnectionOptions = {},
  ) {
    const runtime = resolveClientRuntime(options.runtime);
    this.clock = runtime.clock;
    this.onUnsolicited = options.onUnsolicited ?? (() => {});
    const onDisconnect = options.onDisconnect;
    this.dial = () => {
      const channel: FrameChannel = runtime.dialer.dial(endpoint, {
        onFrame: (frame) => this.onFrame(frame),
        onDisconnect: () => {
          if (!this.closed && this.channel === channel) onDisconnect?.();
        },
        onRefused: (status) => {
          if (this.channel === channel) this.onRefused(status);
        },
      });
      return channel;
    };
    this.channel = this.dial();
  }

  /** Sends a request and resolves with its response; rejects on timeout or an Error response. */
  request(body: RequestBody, timeoutMs: number): Promise<ClientResponse> {
    if (this.closed)
      return Promise.reject(new ClosedError(`connection to ${this.endpoint} is closed`));
    if (this.waiting.size >= LIMITS.clientMaxPendingRequests) {
      return Promise.reject(
        new BrokerError(`too many requests waiting on ${this.endpoint}`, 0, { retriable: true }),
      );
    }
    const requestId = this.nextRequestId++;
    return new Promise<ClientResponse>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiting.delete(requestId);
        reject(new TimeoutError(`no answer from ${this.endpoint} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(requestId, { resolve, reject, timer });
      this.channel ??= this.dial();
      if (!this.channel.send(encodeClientRequest({ ...body, requestId }))) {
        timer.cancel();
        this.waiting.delete(requestId);
        reject(new BrokerError(`send queue to ${this.endpoint} is full`, 0, { retriable: true }));
      }
    });
  }

  /** Sends without waiting for an answer (acks, NACKs). */
  send(body: RequestBody): boolean {
    if (this.closed) return false;
    this.channel ??= this.dial();
    return this.channel.send(encodeClientRequest({ ...body, requestId: 0 }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiting of this.waiting.values()) {
      waiting.timer.cancel();
      waiting.reject(new ClosedError(`connection to ${this.endpoint} closed`));
    }
    this.waiting.clear();
    this.channel?.close();
  }

  /**
   * The broker refused this connection at its handshake: every request
   * waiting on it fails at once with a LIMIT error that says so (the
   * callers move to another broker or report it), instead of timing out.
   * ZeroMQ does not dial a refused connection again: the next request
   * dials a new one (the callers' backoff paces them).
   */
  private onRefused(status: number): void {
    if (this.closed) return;
    const refused = this.channel;
    this.channel = null;
    // Closed once the event that reported the refusal has finished.
    this.clock.defer(() => refused?.close());
    const error = new BrokerError(
      `${this.endpoint} refused this connection at its handshake (ZAP status ${status}): it holds as many client connections as it may, for its node or for this address (maxClientConnectionsPerNode, maxClientConnectionsPerAddress), or, on a secured cluster, it does not admit this client's key`,
      'limit',
      { retriable: true },
    );
    for (const waiting of this.waiting.values()) {
      waiting.timer.cancel();
      waiting.reject(error);
    }
    this.waiting.clear();
  }

  private onFrame(frame: Uint8Array): void {
    if (this.closed) return;
    let response: ClientResponse;
    try {
      response = decodeClientResponse(frame);
    } catch {
      return; // A broken frame from a broker is dropped; the request times out and is retried.
    }
    const waiting = response.requestId === 0 ? undefined : this.waiting.get(response.requestId);
    if (waiting === undefined) {
      this.onUnsolicited(response);
      return;
    }
    this.waiting.delete(response.requestId);
    waiting.timer.cancel();
    if (response.body === 'error') {
      const e = response.error!;
      waiting.reject(
        brokerErrorCode(e.code ?? 0) === 'forbidden'
          ? new ForbiddenError(`${this.endpoint}: ${e.message}`)
          : new BrokerError(`${this.endpoint}: ${e.message}`, e.code ?? 0, {
              firstAvailableSeq: e.firstAvailableSeq ?? 0,
            }),
      );
    } else {
      waiting.resolve(response);
    }
  }
}
