import * as zmq from 'zeromq';
import { LIMITS } from '../limits.js';
import { SocketSender, yieldToEventLoop } from '../runtime/socket-sender.js';

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
  /**
   * Queues `[client, body]`; false when it was dropped (queue full or
   * closed). `onLeft`, when given, is called once the message has left the
   * node's queue, with whether it was sent (false: the client's connection
   * is gone or full), never when send returned false.
   */
  send(frames: Uint8Array[], onLeft?: (sent: boolean) => void): boolean;
  close(): void;
}

/**
 * The ZeroMQ ROUTER for publishers, subscribers and admin tools. Replies
 * to a client that has gone away fail fast (`mandatory`) instead of
 * queueing, and are reported so the node can forget that client.
 */
export class ZmqClientFrameSocket implements ClientFrameSocket {
  private readonly router = new zmq.Router({
    linger: 0,
    mandatory: true,
    sendTimeout: 0,
    // Per connection: a client that does not read loses deliveries (it
    // NACKs them) instead of growing the node's memory.
    sendHighWaterMark: LIMITS.clientHighWaterMarkMessages,
    receiveHighWaterMark: LIMITS.clientHighWaterMarkMessages,
    // Frames up to twice the limit arrive, to be counted and refused with
    // TOO_LARGE; a larger one makes ZeroMQ close that connection.
    maxMessageSize: LIMITS.maxReceivedFrameBytes,
  });
  private sender: SocketSender | null = null;
  private closed = false;
  unroutableReplies = 0;

  constructor(private readonly bindEndpoint: string) {}

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
    await this.router.bind(this.bindEndpoint);
    void this.receiveLoop(onFrames);
  }

  send(frames: Uint8Array[], onLeft?: (sent: boolean) => void): boolean {
    return this.sender?.send(frames, onLeft) ?? false;
  }

  close(): void {
    this.closed = true;
    this.sender?.close();
    this.router.close();
  }

  private async receiveLoop(onFrames: (frames: Buffer[]) => void): Promise<void> {
    try {
      // A bounded number of frames per turn: a flood of client frames must
      // not hold off timers (heartbeats, elections) or the peer sockets.
      let handled = 0;
      for await (const frames of this.router) {
        onFrames(frames);
        if (++handled >= LIMITS.clientFramesPerTurn) {
          handled = 0;
          await yieldToEventLoop();
        }
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}
