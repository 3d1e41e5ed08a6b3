import * as zmq from 'zeromq';
import { LIMITS } from '../limits.js';
import type { FrameChannel, FrameDialer, FrameHandlers } from './frame-dialer.js';
import { SocketSender } from './socket-sender.js';

/**
 * One DEALER socket to one endpoint, with its one receive loop and its one
 * writer (a bounded send queue), as zeromq.js requires.
 */
class ZmqFrameChannel implements FrameChannel {
  private readonly socket = new zmq.Dealer({
    linger: 0,
    sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    maxMessageSize: LIMITS.maxFrameBytes,
  });
  private readonly sender = new SocketSender(this.socket, LIMITS.maxSendQueueMessages);
  private closed = false;

  constructor(
    endpoint: string,
    private readonly handlers: FrameHandlers,
  ) {
    // A process that dies closes its TCP connections at once: telling the
    // owner lets it move to another endpoint without waiting for a timeout.
    this.socket.events.on('disconnect', () => {
      if (!this.closed) this.handlers.onDisconnect();
    });
    this.socket.connect(endpoint);
    void this.receiveLoop();
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    return this.sender.send(frame);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sender.close();
    this.socket.close();
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        if (this.closed) return;
        if (frame !== undefined) this.handlers.onFrame(frame);
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}

/** Dials a ZeroMQ DEALER socket per connection. */
export const zmqFrameDialer: FrameDialer = {
  dial: (endpoint, handlers) => new ZmqFrameChannel(endpoint, handlers),
};
