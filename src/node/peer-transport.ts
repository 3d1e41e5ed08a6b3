import * as zmq from 'zeromq';
import type { NodeId, NodeMessage } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { type Clock, systemClock, type TimerHandle } from '../runtime/clock.js';
import type { Secret } from '../runtime/curve-keys.js';
import { retryInterrupted } from '../runtime/interrupted-call.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { SocketSender, yieldToEventLoop } from '../runtime/socket-sender.js';
import { FrameError, isAllocationFailure } from '../wire/frame-error.js';
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
  /** Bad frames per peer connection (hex routing id) on the ROUTER, oldest first. */
  private readonly badSenders = new Map<string, number>();
  private readonly domain: string;
  private closed = false;
  private zap: ZapHandler | null = null;
  private onPeerDisconnected: (peer: NodeId) => void = () => {};
  private onMessage: ((message: NodeMessage) => void) | null = null;
  /** The peers this node has a DEALER and a SUB connected to, by id. */
  private readonly connected = new Map<NodeId, NodeAddress>();
  /** On a secured cluster: the peers' public keys the ZAP handler admits, to their ids. */
  private readonly zapKeys = new Map<string, string>();
  readonly counters: PeerLinkCounters = emptyPeerLinkCounters();
  /** Handshakes refused on this node's PUB and peer ROUTER (unknown keys, NULL, PLAIN). */
  handshakesRefused = 0;
  /** Dials again after a peer refused this node's key (see LIMITS.peerHandshakeRetryMs). */
  private readonly redials = new Set<TimerHandle>();

  constructor(
    private readonly clusterId: string,
    private readonly self: NodeAddress,
    private readonly others: readonly NodeAddress[],
    private readonly faults: FaultInjection,
    logger: Logger,
    private readonly security: PeerSecurity | null = null,
    private readonly clock: Clock = systemClock,
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
    // Anyone can connect to the peer port: per connection, ZeroMQ holds a
    // bounded number of messages, and frames past the limit are counted.
    this.router = new zmq.Router({
      linger: 0,
      // A restarted peer reconnects under its node id while the old
      // connection may not be gone yet: the new one takes the name over.
      handover: true,
      sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      receiveHighWaterMark: LIMITS.peerHighWaterMarkMessages,
      maxMessageSize: LIMITS.maxReceivedFrameBytes,
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
    this.badFrameLog = new RateLimitedLog(logger, LIMITS.repeatedLogIntervalMs);
  }

  async start(
    onMessage: (message: NodeMessage) => void,
    onPeerDisconnected: (peer: NodeId) => void = () => {},
  ): Promise<void> {
    this.onMessage = onMessage;
    this.onPeerDisconnected = onPeerDisconnected;
    if (this.security !== null) {
      do this.zap = await ZapHandler.start();
      while (!this.zap.register(this.domain, { keys: this.zapKeys }));
    }
    await this.pub.bind(`tcp://${this.self.bindHost}:${this.self.pubPort}`);
    await this.router.bind(`tcp://${this.self.bindHost}:${this.self.peerPort}`);
    for (const peer of this.others) this.connectPeer(peer);
    // Peers send nothing on their DEALERs; on a cluster without keys the
    // ROUTER still takes messages, as nodes of earlier versions send them.
    void this.receiveLoop(this.router, (frames) => this.receiveRouterMessage(frames, onMessage));
  }

  /**
   * Follows the membership: connects to new peers, drops removed or moved
   * ones. On a secured cluster the ZAP handler admits exactly the keys of the
   * peers connected, so a member added through the log (its key in its config
   * entry) is admitted from then on, and a removed one's key no longer is.
   */
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

  /** One DEALER (to hear the peer's unicasts) and one SUB (its multicast) per peer. */
  private connectPeer(peer: NodeAddress): void {
    const onMessage = this.onMessage;
    if (onMessage === null) return;
    let clientCurve = {};
    if (this.security !== null) {
      if (peer.publicKey === undefined) {
        this.badFrameLog.warn(
          `cannot connect to ${peer.id}: the config gives no public key for it on this secured cluster`,
        );
        return;
      }
      this.zapKeys.set(peer.publicKey, peer.id);
      this.zap?.register(this.domain, { keys: this.zapKeys });
      clientCurve = {
        curveServerKey: peer.publicKey,
        curvePublicKey: this.self.publicKey!,
        curveSecretKey: this.security.secretKey.reveal(),
      };
    }
    const dealer = new zmq.Dealer({
      linger: 0,
      routingId: this.self.id,
      receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      maxMessageSize: LIMITS.maxReceivedFrameBytes,
      ...clientCurve,
    });
    dealer.events.on('disconnect', () => {
      if (!this.closed && this.links.get(peer.id)?.dealer === dealer)
        this.onPeerDisconnected(peer.id);
    });
    retryInterrupted(() => dealer.connect(peerEndpoint(peer)));
    const sub = new zmq.Subscriber({
      linger: 0,
      receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
      maxMessageSize: LIMITS.maxReceivedFrameBytes,
      ...clientCurve,
    });
    sub.subscribe();
    retryInterrupted(() => sub.connect(pubEndpoint(peer)));
    this.links.set(peer.id, { dealer, sub });
    if (this.security !== null) {
      this.redialWhenRefused(peer.id, dealer, dealer, peerEndpoint(peer));
      this.redialWhenRefused(peer.id, dealer, sub, pubEndpoint(peer));
    }
    this.connected.set(peer.id, peer);
    const fromPeer = (frames: Buffer[]): void => {
      if (frames.length === 1) this.receiveFrame(frames[0]!, onMessage, peer.id);
      else this.counters.badFrames++;
    };
    void this.receiveLoop(sub, fromPeer);
    void this.receiveLoop(dealer, fromPeer);
  }

  /**
   * ZeroMQ gives a connection up for good once the peer refused its key. A
   * peer that does not know this node's key yet (this node joins, and its
   * membership change has not reached that peer) will know it soon: so the
   * socket dials again, at most once per LIMITS.peerHandshakeRetryMs, for as
   * long as it is this peer's link.
   */
  private redialWhenRefused(
    peer: NodeId,
    dealer: zmq.Dealer,
    socket: zmq.Dealer | zmq.Subscriber,
    endpoint: string,
  ): void {
    socket.events.on('handshake:error:auth', () => {
      const timer = this.clock.setTimeout(() => {
        this.redials.delete(timer);
        if (this.closed || this.links.get(peer)?.dealer !== dealer) return;
        try {
          retryInterrupted(() => socket.disconnect(endpoint));
        } catch {
          // Already given up by ZeroMQ: nothing to disconnect.
        }
        retryInterrupted(() => socket.connect(endpoint));
      }, LIMITS.peerHandshakeRetryMs);
      this.redials.add(timer);
    });
  }

  private disconnectPeer(id: NodeId): void {
    const address = this.connected.get(id);
    if (address === undefined) return;
    this.connected.delete(id);
    const link = this.links.get(id);
    this.links.delete(id);
    link?.dealer.close();
    link?.sub.close();
    if (address.publicKey !== undefined && this.zapKeys.delete(address.publicKey))
      this.zap?.register(this.domain, { keys: this.zapKeys });
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
    for (const timer of this.redials) timer.cancel();
    this.redials.clear();
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
   * Decodes one peer frame and hands it on; a bad frame is counted, logged
   * (rate-limited) and dropped. `peer` is the node behind the socket it came
   * on (null for the ROUTER, which stands for no one peer): on a secured
   * cluster a message naming another sender is dropped and counted. Returns
   * false for a bad frame. Public for the fuzzer, which drives this path
   * without sockets.
   */
  receiveFrame(
    frame: Buffer,
    onMessage: (message: NodeMessage) => void,
    peer: NodeId | null = null,
  ): boolean {
    let message: NodeMessage;
    try {
      message = decodePeerMessage(frame, this.clusterId);
    } catch (error) {
      if (isAllocationFailure(error)) {
        // The sender retries (NACKs, heartbeats): the node carries on.
        this.counters.allocationFailures++;
        this.badFrameLog.warn(`dropped a peer frame: ${(error as Error).message}`);
        return true; // Not the sender's fault: its connection is not held against it.
      }
      if (!(error instanceof FrameError)) throw error;
      this.counters.badFrames++;
      if (error.code === 'too-large' && frame.length > LIMITS.maxFrameBytes)
        this.counters.oversizedFrames++;
      this.badFrameLog.warn(`dropped a bad peer frame: ${error.message}`);
      return false;
    }
    if (peer !== null && this.security !== null && message.from !== peer) {
      this.counters.misattributed++;
      this.badFrameLog.warn(
        `dropped a ${message.type} that names ${message.from} as its sender but came from ${peer}`,
      );
      return true;
    }
    this.counters.received++;
    onMessage(message);
    return true;
  }

  /**
   * One message from the ROUTER (the sender's routing id, then its body).
   * On a secured node nothing may arrive there. A member never sends a bad
   * frame, so a connection that sent LIMITS.maxBadFramesPerPeerConnection of
   * them is ignored from then on (its frames are not even decoded). Public
   * for the fuzzer.
   */
  receiveRouterMessage(frames: Buffer[], onMessage: (message: NodeMessage) => void): void {
    if (this.security !== null) {
      this.counters.misattributed++;
      this.badFrameLog.warn('dropped a peer frame that came in on the ROUTER of a secured node');
      return;
    }
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

  /** Reads one socket, yielding to the event loop after a bounded number of frames. */
  private async receiveLoop(
    socket: zmq.Subscriber | zmq.Router | zmq.Dealer,
    onFrames: (frames: Buffer[]) => void,
  ): Promise<void> {
    try {
      // A bounded number of frames per turn: a flood on one socket must not
      // hold off timers (heartbeats, elections) or the other sockets.
      let handled = 0;
      for await (const frames of socket) {
        onFrames(frames);
        if (++handled >= LIMITS.peerFramesPerTurn) {
          handled = 0;
          await yieldToEventLoop();
        }
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}

/** Same sockets to connect to, with the same key to expect there. */
function sameEndpoints(a: NodeAddress, b: NodeAddress): boolean {
  return (
    a.host === b.host &&
    a.peerPort === b.peerPort &&
    a.pubPort === b.pubPort &&
    a.publicKey === b.publicKey
  );
}
