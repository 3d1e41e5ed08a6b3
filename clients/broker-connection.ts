import * as zmq from 'zeromq';
import { LIMITS } from '../src/limits.js';
import { SocketSender } from '../src/runtime/socket-sender.js';
import {
  type ClientResponse,
  decodeClientResponse,
  encodeClientRequest,
} from '../src/wire/client-codec.js';
import type { ordo } from '../src/wire/schema.js';
import { BrokerError, ClosedError, TimeoutError } from './errors.js';

/** Most requests one connection keeps waiting for an answer. */
const maxPendingRequests = 100_000;

type RequestBody = Omit<ordo.ClientRequest.$Properties, 'requestId'>;

interface Waiting {
  resolve: (response: ClientResponse) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One DEALER socket to one broker endpoint, with its receive loop and its
 * bounded send queue. Requests are matched to responses by request id;
 * anything the broker sends unasked (deliveries, errors about a frame) goes
 * to `onUnsolicited`.
 */
export class BrokerConnection {
  private readonly socket = new zmq.Dealer({
    linger: 0,
    sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    maxMessageSize: LIMITS.maxFrameBytes,
  });
  private readonly sender: SocketSender;
  private readonly waiting = new Map<number, Waiting>();
  private nextRequestId = 1;
  private closed = false;

  constructor(
    readonly endpoint: string,
    private readonly onUnsolicited: (response: ClientResponse) => void = () => {},
    onDisconnect?: () => void,
  ) {
    this.sender = new SocketSender(this.socket, LIMITS.maxSendQueueMessages);
    // A broker process that dies closes its TCP connections at once: telling
    // the owner lets it move to another broker without waiting for a timeout.
    if (onDisconnect !== undefined) {
      this.socket.events.on('disconnect', () => {
        if (!this.closed) onDisconnect();
      });
    }
    this.socket.connect(endpoint);
    void this.receiveLoop();
  }

  /** Sends a request and resolves with its response; rejects on timeout or an Error response. */
  request(body: RequestBody, timeoutMs: number): Promise<ClientResponse> {
    if (this.closed)
      return Promise.reject(new ClosedError(`connection to ${this.endpoint} is closed`));
    if (this.waiting.size >= maxPendingRequests) {
      return Promise.reject(
        new BrokerError(`too many requests waiting on ${this.endpoint}`, 0, { retriable: true }),
      );
    }
    const requestId = this.nextRequestId++;
    return new Promise<ClientResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId);
        reject(new TimeoutError(`no answer from ${this.endpoint} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(requestId, { resolve, reject, timer });
      if (!this.sender.send(encodeClientRequest({ ...body, requestId }))) {
        clearTimeout(timer);
        this.waiting.delete(requestId);
        reject(new BrokerError(`send queue to ${this.endpoint} is full`, 0, { retriable: true }));
      }
    });
  }

  /** Sends without waiting for an answer (acks, NACKs). */
  send(body: RequestBody): boolean {
    if (this.closed) return false;
    return this.sender.send(encodeClientRequest({ ...body, requestId: 0 }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiting of this.waiting.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(new ClosedError(`connection to ${this.endpoint} closed`));
    }
    this.waiting.clear();
    this.sender.close();
    this.socket.close();
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        if (frame === undefined) continue;
        let response: ClientResponse;
        try {
          response = decodeClientResponse(frame);
        } catch {
          continue; // A broken frame from a broker is dropped; the request times out and is retried.
        }
        const waiting = response.requestId === 0 ? undefined : this.waiting.get(response.requestId);
        if (waiting === undefined) {
          this.onUnsolicited(response);
          continue;
        }
        this.waiting.delete(response.requestId);
        clearTimeout(waiting.timer);
        if (response.body === 'error') {
          const e = response.error!;
          waiting.reject(
            new BrokerError(`${this.endpoint}: ${e.message}`, e.code ?? 0, {
              firstAvailableSeq: e.firstAvailableSeq ?? 0,
            }),
          );
        } else {
          waiting.resolve(response);
        }
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}
