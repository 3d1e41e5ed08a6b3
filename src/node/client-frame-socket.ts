import * as zmq from 'zeromq';
import { LIMITS } from '../limits.js';
import type { Secret } from '../runtime/curve-keys.js';
import { SocketSender } from '../runtime/socket-sender.js';
import { ZapHandler } from './zap-handler.js';

/** What the client port of a secured node needs: its key, and whom it admits. */
export interface ClientPortSecurity {
  readonly secretKey: Secret;
  /** The ZAP domain of this socket (one per node). */
  readonly domain: string;
  /** Admitted public keys, to the identity each stands for. */
  readonly keys: ReadonlyMap<string, string>;
}

/** Identifies one client connection (the ROUTER routing id). */
export type ClientId = Buffer;

/**
 * The raw client-facing edge: frames in from any client (the first frame
 * names the client), frames out to one. The ClientServer above it decodes
 * and validates; this layer only moves bytes. ZeroMQ's ROUTER implements it
 * in production, the simulator with its own network.
 */
export interface ClientFrameSocket {
  /** Starts receiving; `onUnreachable` reports a client a reply could not be routed to. */
  start(
    onFrames: (frames: Buffer[]) => void,
    onUnreachable: (client: ClientId) => void,
  ): Promise<void>;
  /** Queues `[client, body]`; false when it was dropped (queue full or closed). */
  send(frames: Uint8Array[]): boolean;
  close(): void;
}

/**
 * The ZeroMQ ROUTER for publishers, subscribers and admin tools. Replies
 * to a client that has gone away fail fast (`mandatory`) instead of
 * queueing, and are reported so the node can forget that client.
 */
export class ZmqClientFrameSocket implements ClientFrameSocket {
  private readonly router: zmq.Router;
  private sender: SocketSender | null = null;
  private closed = false;
  private zap: ZapHandler | null = null;
  unroutableReplies = 0;
  /** Handshakes refused (unknown keys, NULL, PLAIN) on a secured cluster. */
  handshakesRefused = 0;

  /**
   * With `security`, the socket is a CurveZMQ server under this node's
   * secret key, and the process's ZAP handler admits the keys given for
   * `security.domain` only.
   */
  constructor(
    private readonly bindEndpoint: string,
    private readonly security: ClientPortSecurity | null = null,
  ) {
    this.router = new zmq.Router({
      linger: 0,
      mandatory: true,
      sendTimeout: 0,
      sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      maxMessageSize: LIMITS.maxFrameBytes,
      ...(security === null
        ? {}
        : {
            curveServer: true,
            curveSecretKey: security.secretKey.reveal(),
            zapDomain: security.domain,
            zapEnforceDomain: true,
          }),
    });
    for (const event of [
      'handshake:error:auth',
      'handshake:error:protocol',
      'handshake:error:other',
    ] as const) {
      this.router.events.on(event, () => this.handshakesRefused++);
    }
  }

  async start(
    onFrames: (frames: Buffer[]) => void,
    onUnreachable: (client: ClientId) => void,
  ): Promise<void> {
    this.sender = new SocketSender(this.router, LIMITS.maxSendQueueMessages, (error, frames) => {
      this.unroutableReplies++;
      if ((error as { code?: string }).code === 'EHOSTUNREACH' && Array.isArray(frames)) {
        onUnreachable(Buffer.from(frames[0]!));
      }
    });
    if (this.security !== null) {
      this.zap = await ZapHandler.start();
      this.zap.register(this.security.domain, this.security.keys);
    }
    await this.router.bind(this.bindEndpoint);
    void this.receiveLoop(onFrames);
  }

  send(frames: Uint8Array[]): boolean {
    return this.sender?.send(frames) ?? false;
  }

  close(): void {
    this.closed = true;
    this.sender?.close();
    this.router.close();
    if (this.security !== null) this.zap?.unregister(this.security.domain);
  }

  private async receiveLoop(onFrames: (frames: Buffer[]) => void): Promise<void> {
    try {
      for await (const frames of this.router) onFrames(frames);
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}
