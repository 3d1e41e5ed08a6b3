/** What a dialled connection tells its owner. */
export interface FrameHandlers {
  /** One frame arrived from the other end (not yet decoded: the owner validates it). */
  onFrame(frame: Uint8Array): void;
  /** The connection to the other end dropped (its process died, the link broke). */
  onDisconnect(): void;
  /**
   * The other end refused the connection at its handshake (ZAP status, 400:
   * it holds its budget of connections for its node or this address, or,
   * secured, does not admit this key). The dialler keeps trying.
   */
  onRefused?(status: number): void;
}

/** One connection to one endpoint, carrying whole frames. */
export interface FrameChannel {
  /** Queues a frame; returns false when it was dropped (queue full or channel closed). */
  send(frame: Uint8Array): boolean;
  /** Stops sending and receiving; no handler runs afterwards. */
  close(): void;
}

/**
 * Opens frame connections to endpoints. This is the clients' only way onto
 * the network: production dials ZeroMQ DEALER sockets (`zmqFrameDialer`),
 * the simulator dials its simulated network, so that the very Publisher and
 * Subscriber that ship run inside the simulator, byte for byte.
 */
export interface FrameDialer {
  dial(endpoint: string, handlers: FrameHandlers): FrameChannel;
}
