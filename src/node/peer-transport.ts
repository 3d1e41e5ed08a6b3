import * as zmq from 'zeromq';
import type { NodeId, NodeMessage } from '../core/types.js';
import { LIMITS } from '../limits.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { SocketSender } from '../runtime/socket-sender.js';
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
    maxMessageSize: LIMITS.maxFrameBytes,
  });
  private readonly router = new zmq.Router({
    linger: 0,
    receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    maxMessageSize: LIMITS.maxFrameBytes,
  });
  private readonly pubSender: SocketSender;
  private readonly dealers = new Map<NodeId, { socket: zmq.Dealer; sender: SocketSender }>();
  private readonly badFrameLog: RateLimitedLog;
  private closed = false;
  private onPeerDisconnected: (peer: NodeId) => void = () => {};
  /** The peers each DEALER and the SUB are connected to, by id. */
  private readonly connected = new Map<NodeId, NodeAddress>();
  readonly counters: PeerLinkCounters = emptyPeerLinkCounters();

  constructor(
    private readonly clusterId: string,
    private readonly self: NodeAddress,
    private readonly others: readonly NodeAddress[],
    private readonly faults: FaultInjection,
    logger: Logger,
  ) {
    this.pubSender = new SocketSender(this.pub, LIMITS.maxSendQueueMessages);
    this.badFrameLog = new RateLimitedLog(logger, 1000);
  }

  async start(
    onMessage: (message: NodeMessage) => void,
    onPeerDisconnected: (peer: NodeId) => void = () => {},
  ): Promise<void> {
    await this.pub.bind(`tcp://${this.self.bindHost}:${this.self.pubPort}`);
    await this.router.bind(`tcp://${this.self.bindHost}:${this.self.peerPort}`);
    this.sub.subscribe();
    this.onPeerDisconnected = onPeerDisconnected;
    for (const peer of this.others) this.connectPeer(peer);
    void this.receiveLoop(this.sub, (frames) => frames[0], onMessage);
    void this.receiveLoop(this.router, (frames) => frames[1], onMessage);
  }

  setPeers(peers: readonly NodeAddress[]): void {
    if (this.closed) return;
    const wanted = new Map(peers.map((p) => [p.id, p]));
    for (const [id, address] of [...this.connected]) {
      const next = wanted.get(id);
      if (next !== undefined && sameEndpoints(next, address)) continue;
      this.disconnectPeer(id);
    }
    for (const peer of peers) if (!this.connected.has(peer.id)) this.connectPeer(peer);
  }

  private connectPeer(peer: NodeAddress): void {
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
      if (!this.closed && this.dealers.get(peer.id)?.socket === socket)
        this.onPeerDisconnected(peer.id);
    });
    socket.connect(peerEndpoint(peer));
    this.dealers.set(peer.id, {
      socket,
      sender: new SocketSender(socket, LIMITS.maxSendQueueMessages),
    });
    this.connected.set(peer.id, peer);
  }

  private disconnectPeer(id: NodeId): void {
    const address = this.connected.get(id);
    if (address === undefined) return;
    this.connected.delete(id);
    this.sub.disconnect(pubEndpoint(address));
    const dealer = this.dealers.get(id);
    this.dealers.delete(id);
    dealer?.sender.close();
    dealer?.socket.close();
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

  private async receiveLoop(
    socket: zmq.Subscriber | zmq.Router,
    pick: (frames: Buffer[]) => Buffer | undefined,
    onMessage: (message: NodeMessage) => void,
  ): Promise<void> {
    try {
      for await (const frames of socket) {
        const frame = pick(frames);
        if (frame === undefined) continue;
        let message: NodeMessage;
        try {
          message = decodePeerMessage(frame, this.clusterId);
        } catch (error) {
          this.counters.badFrames++;
          if (error instanceof FrameError) {
            this.badFrameLog.warn(`dropped a bad peer frame: ${error.message}`);
            continue;
          }
          throw error;
        }
        this.counters.received++;
        onMessage(message);
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}

function sameEndpoints(a: NodeAddress, b: NodeAddress): boolean {
  return a.host === b.host && a.peerPort === b.peerPort && a.pubPort === b.pubPort;
}
