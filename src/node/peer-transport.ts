import * as zmq from 'zeromq';
import type { NodeId, NodeMessage } from '../core/types.js';
import { LIMITS } from '../limits.js';
import type { Secret } from '../runtime/curve-keys.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { SocketSender } from '../runtime/socket-sender.js';
import { FrameError } from '../wire/frame-error.js';
import { decodePeerMessage, encodePeerMessage } from '../wire/peer-codec.js';
import { type NodeAddress, peerEndpoint, pubEndpoint } from './cluster-config.js';
import type { FaultInjection } from './fault-injection.js';
import { emptyPeerLinkCounters, type PeerLink, type PeerLinkCounters } from './peer-link.js';
import { ZapHandler } from './zap-handler.js';

/** What a node of a secured cluster needs for its peer sockets. */
export interface PeerSecurity {
  readonly secretKey: Secret;
}

/**
 * The node-to-node edge. The sequencer's multicast goes out on a PUB socket;
 * each other node reads it with one SUB per peer. Point-to-point messages go
 * out through this node's ROUTER, addressed by node id, to the DEALER each
 * peer keeps connected to it: every node holds one DEALER per peer and hears
 * that peer, and only that peer, on it. So each incoming socket stands for
 * one peer, and on a secured cluster (CurveZMQ, the peer's key checked by
 * this node as the connecting side, and this node's ZAP handler admitting
 * only the cluster's node keys on its PUB and ROUTER) a message whose `from`
 * is not the node behind its socket is dropped and counted before it is
 * decoded any further. Each socket has one receive loop; the two sending
 * sockets have one bounded send queue each.
 */
export class PeerTransport implements PeerLink {
  private readonly pub: zmq.Publisher;
  private readonly router: zmq.Router;
  private readonly pubSender: SocketSender;
  private readonly routerSender: SocketSender;
  private readonly links = new Map<NodeId, { dealer: zmq.Dealer; sub: zmq.Subscriber }>();
  private readonly badFrameLog: RateLimitedLog;
  private readonly domain: string;
  private closed = false;
  private zap: ZapHandler | null = null;
  readonly counters: PeerLinkCounters = emptyPeerLinkCounters();
  /** Handshakes refused on this node's PUB and peer ROUTER (unknown keys, NULL, PLAIN). */
  handshakesRefused = 0;

  constructor(
    private readonly clusterId: string,
    private readonly self: NodeAddress,
    private readonly others: readonly NodeAddress[],
    private readonly faults: FaultInjection,
    logger: Logger,
    private readonly security: PeerSecurity | null = null,
  ) {
    this.domain = `ordo-peer/${clusterId}/${self.id}`;
    const serverCurve =
      security === null
        ? {}
        : {
            curveServer: true,
            curveSecretKey: security.secretKey.reveal(),
            zapDomain: this.domain,
            zapEnforceDomain: true,
          };
    this.pub = new zmq.Publisher({
      linger: 0,
      sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      maxMessageSize: LIMITS.maxFrameBytes,
      ...serverCurve,
    });
    this.router = new zmq.Router({
      linger: 0,
      // A restarted peer reconnects under its node id while the old
      // connection may not be gone yet: the new one takes the name over.
      handover: true,
      sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      maxMessageSize: LIMITS.maxFrameBytes,
      ...serverCurve,
    });
    for (const socket of [this.pub, this.router]) {
      for (const event of [
        'handshake:error:auth',
        'handshake:error:protocol',
        'handshake:error:other',
      ] as const) {
        socket.events.on(event, () => this.handshakesRefused++);
      }
    }
    this.pubSender = new SocketSender(this.pub, LIMITS.maxSendQueueMessages);
    this.routerSender = new SocketSender(this.router, LIMITS.maxSendQueueMessages);
    this.badFrameLog = new RateLimitedLog(logger, 1000);
  }

  async start(
    onMessage: (message: NodeMessage) => void,
    onPeerDisconnected: (peer: NodeId) => void = () => {},
  ): Promise<void> {
    if (this.security !== null) {
      const keys = new Map<string, string>();
      for (const node of this.others) keys.set(node.publicKey!, node.id);
      this.zap = await ZapHandler.start();
      this.zap.register(this.domain, keys);
    }
    await this.pub.bind(`tcp://${this.self.bindHost}:${this.self.pubPort}`);
    await this.router.bind(`tcp://${this.self.bindHost}:${this.self.peerPort}`);
    for (const peer of this.others) {
      const clientCurve =
        this.security === null
          ? {}
          : {
              curveServerKey: peer.publicKey!,
              curvePublicKey: this.self.publicKey!,
              curveSecretKey: this.security.secretKey.reveal(),
            };
      const dealer = new zmq.Dealer({
        linger: 0,
        routingId: this.self.id,
        receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
        maxMessageSize: LIMITS.maxFrameBytes,
        ...clientCurve,
      });
      dealer.events.on('disconnect', () => {
        if (!this.closed) onPeerDisconnected(peer.id);
      });
      dealer.connect(peerEndpoint(peer));
      const sub = new zmq.Subscriber({
        linger: 0,
        receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
        maxMessageSize: LIMITS.maxFrameBytes,
        ...clientCurve,
      });
      sub.subscribe();
      sub.connect(pubEndpoint(peer));
      this.links.set(peer.id, { dealer, sub });
      void this.receiveLoop(sub, peer.id, (frames) => frames[0], onMessage);
      void this.receiveLoop(dealer, peer.id, (frames) => frames[0], onMessage);
    }
    // Peers send nothing on their DEALERs; on a cluster without keys the
    // ROUTER still takes messages, as nodes of earlier versions send them.
    void this.receiveLoop(this.router, null, (frames) => frames[1], onMessage);
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
    if (!this.links.has(to)) return;
    this.counters.unicastSent++;
    this.routerSender.send([Buffer.from(to), encodePeerMessage(this.clusterId, message)]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pubSender.close();
    this.routerSender.close();
    for (const { dealer, sub } of this.links.values()) {
      dealer.close();
      sub.close();
    }
    this.pub.close();
    this.router.close();
    this.zap?.unregister(this.domain);
  }

  /**
   * Reads one socket. `peer` is the node behind it (null for the ROUTER,
   * which stands for no one peer): a message naming another sender is
   * dropped and counted.
   */
  private async receiveLoop(
    socket: zmq.Subscriber | zmq.Router | zmq.Dealer,
    peer: NodeId | null,
    pick: (frames: Buffer[]) => Buffer | undefined,
    onMessage: (message: NodeMessage) => void,
  ): Promise<void> {
    try {
      for await (const frames of socket) {
        const frame = pick(frames);
        if (frame === undefined) continue;
        if (peer === null && this.security !== null) {
          this.counters.misattributed++;
          this.badFrameLog.warn(
            'dropped a peer frame that came in on the ROUTER of a secured node',
          );
          continue;
        }
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
        if (peer !== null && this.security !== null && message.from !== peer) {
          this.counters.misattributed++;
          this.badFrameLog.warn(
            `dropped a ${message.type} that names ${message.from} as its sender but came from ${peer}`,
          );
          continue;
        }
        this.counters.received++;
        onMessage(message);
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}
