import * as zmq from 'zeromq';
import type { NodeId, NodeMessage } from '../core/types.js';
import { LIMITS } from '../limits.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { SocketSender, yieldToEventLoop } from '../runtime/socket-sender.js';
import { FrameError } from '../wire/frame-error.js';
import { decodePeerMessage, encodePeerMessage } from '../wire/peer-codec.js';
import { type NodeAddress, peerEndpoint, pubEndpoint } from './cluster-config.js';
import type { FaultInjection } from './fault-injection.js';
import { emptyPeerLinkCounters, type PeerLink, type PeerLinkCounters } from './peer-link.js';

/**
 * The node-to-node edge. The sequencer's multicast goes out on a PUB socket
 * that every other node's SUB reads (fast and lossy: ZeroMQ drops at the
 * high-water mark and before a subscription has propagated). Everything
 * point-to-point goes through one DEALER per peer into that peer's ROUTER.
 * Each socket has one receive loop and one bounded send queue.
 */
export class PeerTransport implements PeerLink {
  private readonly pub = new zmq.Publisher({
    linger: 0,
    sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    maxMessageSize: LIMITS.maxFrameBytes,
  });
  private readonly sub = new zmq.Subscriber({
    linger: 0,
    receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    maxMessageSize: LIMITS.maxReceivedFrameBytes,
  });
  // Anyone can connect to the peer port: per connection, ZeroMQ holds a
  // bounded number of messages, and frames past the limit are counted.
  private readonly router = new zmq.Router({
    linger: 0,
    receiveHighWaterMark: LIMITS.peerHighWaterMarkMessages,
    maxMessageSize: LIMITS.maxReceivedFrameBytes,
  });
  /** Bad frames per peer connection (hex routing id) on the ROUTER, oldest first. */
  private readonly badSenders = new Map<string, number>();
  private readonly pubSender: SocketSender;
  private readonly dealers = new Map<NodeId, { socket: zmq.Dealer; sender: SocketSender }>();
  private readonly badFrameLog: RateLimitedLog;
  private closed = false;
  readonly counters: PeerLinkCounters = emptyPeerLinkCounters();

  constructor(
    private readonly clusterId: string,
    private readonly self: NodeAddress,
    private readonly others: readonly NodeAddress[],
    private readonly faults: FaultInjection,
    logger: Logger,
  ) {
    this.pubSender = new SocketSender(this.pub, LIMITS.maxSendQueueMessages);
    this.badFrameLog = new RateLimitedLog(logger, LIMITS.repeatedLogIntervalMs);
  }

  async start(
    onMessage: (message: NodeMessage) => void,
    onPeerDisconnected: (peer: NodeId) => void = () => {},
  ): Promise<void> {
    await this.pub.bind(`tcp://${this.self.bindHost}:${this.self.pubPort}`);
    await this.router.bind(`tcp://${this.self.bindHost}:${this.self.peerPort}`);
    this.sub.subscribe();
    for (const peer of this.others) {
      this.sub.connect(pubEndpoint(peer));
      const socket = new zmq.Dealer({
        linger: 0,
        // Queue only on live connections and never block: a dead peer's
        // messages are dropped, and the protocol's retries cover them.
        immediate: true,
        sendTimeout: 0,
        sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
        maxMessageSize: LIMITS.maxFrameBytes,
      });
      socket.events.on('disconnect', () => {
        if (!this.closed) onPeerDisconnected(peer.id);
      });
      socket.connect(peerEndpoint(peer));
      this.dealers.set(peer.id, {
        socket,
        sender: new SocketSender(socket, LIMITS.maxSendQueueMessages),
      });
    }
    void this.receiveLoop(this.sub, (frames) => {
      if (frames.length === 1) this.receiveFrame(frames[0]!, onMessage);
      else this.counters.badFrames++;
    });
    void this.receiveLoop(this.router, (frames) => this.receiveRouterMessage(frames, onMessage));
  }

  /** Sends to one peer, or multicasts when `to` is null. */
  send(to: NodeId | null, message: NodeMessage): void {
    if (this.closed) return;
    if (to === null) {
      if (message.type === 'append' && this.faults.dropMulticast()) {
        this.counters.droppedByFaultInjection++;
        return;
      }
      this.counters.multicastSent++;
      this.pubSender.send(encodePeerMessage(this.clusterId, message));
      return;
    }
    if (message.type === 'nack' && this.faults.dropNack()) {
      this.counters.droppedByFaultInjection++;
      return;
    }
    const dealer = this.dealers.get(to);
    if (dealer === undefined) return;
    this.counters.unicastSent++;
    dealer.sender.send(encodePeerMessage(this.clusterId, message));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pubSender.close();
    for (const { socket, sender } of this.dealers.values()) {
      sender.close();
      socket.close();
    }
    this.pub.close();
    this.sub.close();
    this.router.close();
  }

  /**
   * Decodes one peer frame and hands it on; a bad frame is counted, logged
   * (rate-limited) and dropped. Returns false for a bad frame. Public for
   * the fuzzer, which drives this path without sockets.
   */
  receiveFrame(frame: Buffer, onMessage: (message: NodeMessage) => void): boolean {
    let message: NodeMessage;
    try {
      message = decodePeerMessage(frame, this.clusterId);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.counters.badFrames++;
      if (error.code === 'too-large' && frame.length > LIMITS.maxFrameBytes)
        this.counters.oversizedFrames++;
      this.badFrameLog.warn(`dropped a bad peer frame: ${error.message}`);
      return false;
    }
    this.counters.received++;
    onMessage(message);
    return true;
  }

  /**
   * One message from the ROUTER (the sender's routing id, then its body).
   * A member never sends a bad frame, so a connection that sent
   * LIMITS.maxBadFramesPerPeerConnection of them is ignored from then on
   * (its frames are not even decoded). Public for the fuzzer.
   */
  receiveRouterMessage(frames: Buffer[], onMessage: (message: NodeMessage) => void): void {
    const sender = frames[0]?.toString('hex') ?? '';
    if ((this.badSenders.get(sender) ?? 0) >= LIMITS.maxBadFramesPerPeerConnection) {
      this.counters.badFrames++;
      return;
    }
    if (frames.length !== 2) {
      this.counters.badFrames++;
      this.badFrameLog.warn(
        `dropped a bad peer frame: expected 1 body frame, got ${frames.length - 1}`,
      );
      this.noteBadSender(sender);
      return;
    }
    if (!this.receiveFrame(frames[1]!, onMessage)) this.noteBadSender(sender);
  }

  private noteBadSender(sender: string): void {
    const bad = (this.badSenders.get(sender) ?? 0) + 1;
    this.badSenders.delete(sender);
    this.badSenders.set(sender, bad);
    if (bad === LIMITS.maxBadFramesPerPeerConnection)
      this.badFrameLog.warn(
        `ignoring a peer connection from now on: it sent ${bad} bad frames (maxBadFramesPerPeerConnection)`,
      );
    if (this.badSenders.size > LIMITS.maxIgnoredPeerConnections) {
      const oldest = this.badSenders.keys().next().value;
      if (oldest !== undefined) this.badSenders.delete(oldest);
    }
  }

  private async receiveLoop(
    socket: zmq.Subscriber | zmq.Router,
    onFrames: (frames: Buffer[]) => void,
  ): Promise<void> {
    try {
      // A bounded number of frames per turn, so that a flood on one socket
      // leaves room for timers (heartbeats, elections) and the other sockets.
      let handled = 0;
      for await (const frames of socket) {
        if (++handled >= LIMITS.peerFramesPerTurn) {
          handled = 0;
          await yieldToEventLoop();
        }
        onFrames(frames);
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}
