import * as zmq from 'zeromq';
import { LIMITS } from '../limits.js';
import {
  type Credentials,
  CredentialsError,
  normalizeTcpEndpoint,
  requestTag,
  type Secret,
  sharedSecret,
} from './curve-keys.js';
import type { FrameChannel, FrameDialer, FrameHandlers } from './frame-dialer.js';
import { retryInterrupted } from './interrupted-call.js';
import { SocketSender } from './socket-sender.js';

/**
 * One DEALER socket to one endpoint, with its one receive loop and its one
 * writer (a bounded send queue), as zeromq.js requires.
 */
class ZmqFrameChannel implements FrameChannel {
  private readonly socket: zmq.Dealer;
  private readonly sender: SocketSender;
  private closed = false;
  /** On a secured cluster: the key of the tag each request carries (see requestTag). */
  private readonly tagKey: { publicKey: string; shared: Buffer } | null;

  constructor(
    endpoint: string,
    private readonly handlers: FrameHandlers,
    curve: { serverKey: string; publicKey: string; secretKey: Secret } | null = null,
  ) {
    this.socket = new zmq.Dealer({
      linger: 0,
      sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      maxMessageSize: LIMITS.maxFrameBytes,
      ...(curve === null
        ? {}
        : {
            curveServerKey: curve.serverKey,
            curvePublicKey: curve.publicKey,
            curveSecretKey: curve.secretKey.reveal(),
          }),
    });
    this.sender = new SocketSender(this.socket, LIMITS.maxSendQueueMessages);
    this.tagKey =
      curve === null
        ? null
        : {
            publicKey: curve.publicKey,
            shared: sharedSecret(curve.secretKey, curve.publicKey, curve.serverKey),
          };
    // A process that dies closes its TCP connections at once: telling the
    // owner lets it move to another endpoint without waiting for a timeout.
    this.socket.events.on('disconnect', () => {
      if (!this.closed) this.handlers.onDisconnect();
    });
    this.socket.events.on('handshake:error:auth', (event) => {
      if (!this.closed) this.handlers.onRefused?.(event.error.status);
    });
    retryInterrupted(() => this.socket.connect(endpoint));
    void this.receiveLoop();
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.tagKey === null) return this.sender.send(frame);
    return this.sender.send([frame, requestTag(this.tagKey.publicKey, this.tagKey.shared, frame)]);
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

/**
 * Dials CurveZMQ DEALER sockets under `credentials`: each broker is checked
 * against its public key in the credentials, and a broker they hold no key
 * for is refused (CredentialsError) rather than dialled in the clear.
 */
export function curveFrameDialer(credentials: Credentials): FrameDialer {
  return {
    dial: (endpoint, handlers) => {
      const serverKey = credentials.brokerKeys.get(normalizeTcpEndpoint(endpoint));
      if (serverKey === undefined) {
        throw new CredentialsError(
          `the credentials of '${credentials.identity}' hold no public key for broker ${endpoint}`,
        );
      }
      return new ZmqFrameChannel(endpoint, handlers, {
        serverKey,
        publicKey: credentials.publicKey,
        secretKey: credentials.secretKey,
      });
    },
  };
}
