import * as zmq from 'zeromq';
import { LIMITS } from '../limits.js';
import {
  REQUEST_TAG_BYTES,
  type Secret,
  sharedSecret,
  tagMatches,
  z85Encode,
} from '../runtime/curve-keys.js';
import { SocketSender, yieldToEventLoop } from '../runtime/socket-sender.js';
import { ConnectionBudget } from './connection-budget.js';
import { ZapHandler } from './zap-handler.js';

/** What the client port of a secured node needs: its key, and whom it admits. */
export interface ClientPortSecurity {
  readonly secretKey: Secret;
  /** The ZAP domain of this socket (one per node). */
  readonly domain: string;
  /** This node's public key (for the secrets it shares with clients). */
  readonly publicKey: string;
  /** Admitted public keys, to the identity each stands for. */
  readonly keys: ReadonlyMap<string, string>;
}

/** The connection budgets of a client port (LIMITS and the process's descriptor limit by default). */
export interface ClientPortOptions {
  /** Most client connections the node holds open at once. */
  readonly maxConnectionsPerNode?: number;
  /** Most client connections one source address may hold. */
  readonly maxConnectionsPerAddress?: number;
}

/**
 * How many client connections a node may hold at once: at most
 * LIMITS.maxClientConnectionsPerNode, and at most half the process's
 * descriptor limit, so that the log, the state saves, the peer links and
 * the connections being refused always find descriptors (ZeroMQ spins
 * when accept fails with EMFILE).
 */
export function clientConnectionBudget(openFilesLimit: number | null): number {
  if (openFilesLimit === null) return LIMITS.maxClientConnectionsPerNode;
  return Math.max(1, Math.min(LIMITS.maxClientConnectionsPerNode, Math.floor(openFilesLimit / 2)));
}

let insecureDomains = 0;

/** Identifies one client connection (the ROUTER routing id). */
export type ClientId = Buffer;

/**
 * The raw client-facing edge: frames in from any client (the first frame
 * names the client), frames out to one. The ClientServer above it decodes
 * and validates; this layer only moves bytes. ZeroMQ's ROUTER implements it
 * in production, the simulator with its own network.
 */
export interface ClientFrameSocket {
  /**
   * Starts receiving; `onUnreachable` reports a client a reply could not be
   * routed to. `identity` names who sent the frames on a secured cluster
   * (null, or absent, on an insecure one: everyone may do everything).
   */
  start(
    onFrames: (frames: Buffer[], identity?: string | null) => void,
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
  private readonly router: zmq.Router;
  private sender: SocketSender | null = null;
  private closed = false;
  private zap: ZapHandler | null = null;
  private readonly domain: string;
  readonly budget: ConnectionBudget;
  unroutableReplies = 0;
  /** Handshakes refused: unknown keys, NULL and PLAIN on a secured cluster; connection budgets. */
  handshakesRefused = 0;
  /** Requests dropped on a secured cluster because their tag named no admitted key or did not match. */
  untaggedRequests = 0;
  /** Secrets shared with admitted clients, by their Z85 public key (bounded by the config). */
  private readonly shared = new Map<string, { identity: string; secret: Buffer }>();

  /**
   * With `security`, the socket is a CurveZMQ server under this node's
   * secret key, and the process's ZAP handler admits the keys given for
   * `security.domain` only. Secured or not, every handshake goes through
   * the ZAP handler, which refuses it past the connection budgets.
   */
  constructor(
    private readonly bindEndpoint: string,
    private readonly security: ClientPortSecurity | null = null,
    options: ClientPortOptions = {},
  ) {
    this.domain = security?.domain ?? `ordo-client/insecure/${process.pid}/${++insecureDomains}`;
    this.budget = new ConnectionBudget(
      options.maxConnectionsPerNode ?? LIMITS.maxClientConnectionsPerNode,
      options.maxConnectionsPerAddress ?? LIMITS.maxClientConnectionsPerAddress,
      LIMITS.clientAddressMemoryMs,
      () => Date.now(),
    );
    this.router = new zmq.Router({
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
      // A connection that does not finish its handshake in time is closed.
      handshakeInterval: LIMITS.clientHandshakeTimeoutMs,
      zapDomain: this.domain,
      zapEnforceDomain: true,
      ...(security === null
        ? {}
        : { curveServer: true, curveSecretKey: security.secretKey.reveal() }),
    });
    // Exact count of open connections (ZeroMQ reports every accepted
    // connection closed once), for the budget per node.
    this.router.events.on('accept', () => this.budget.onAccepted());
    this.router.events.on('disconnect', () => this.budget.onClosed());
    for (const event of [
      'handshake:error:auth',
      'handshake:error:protocol',
      'handshake:error:other',
    ] as const) {
      this.router.events.on(event, () => this.handshakesRefused++);
    }
  }

  async start(
    onFrames: (frames: Buffer[], identity?: string | null) => void,
    onUnreachable: (client: ClientId) => void,
  ): Promise<void> {
    this.sender = new SocketSender(this.router, LIMITS.maxSendQueueMessages, (error, frames) => {
      this.unroutableReplies++;
      if ((error as { code?: string }).code === 'EHOSTUNREACH' && Array.isArray(frames)) {
        onUnreachable(Buffer.from(frames[0]!));
      }
    });
    const policy = {
      keys: this.security?.keys ?? null,
      admit: (address: string) => this.budget.admit(address),
    };
    do this.zap = await ZapHandler.start();
    while (!this.zap.register(this.domain, policy));
    await this.router.bind(this.bindEndpoint);
    void this.receiveLoop(onFrames);
  }

  send(frames: Uint8Array[], onLeft?: (sent: boolean) => void): boolean {
    return this.sender?.send(frames, onLeft) ?? false;
  }

  /** The identity whose tag the request `[client, body, tag]` carries, or null. */
  private identityOf(frames: Buffer[]): string | null {
    const [, body, tag] = frames;
    if (frames.length !== 3 || body === undefined || tag?.length !== REQUEST_TAG_BYTES) return null;
    const key = z85Encode(tag.subarray(0, 32));
    let known = this.shared.get(key);
    if (known === undefined) {
      const identity = this.security!.keys.get(key);
      if (identity === undefined) return null;
      known = {
        identity,
        secret: sharedSecret(this.security!.secretKey, this.security!.publicKey, key),
      };
      this.shared.set(key, known);
    }
    return tagMatches(tag, known.secret, body) ? known.identity : null;
  }

  /**
   * The admitted keys changed (the map given as `security.keys` was
   * updated): a key no longer in it must not keep its identity through the
   * cache of shared secrets. The ZAP handler reads the same map.
   */
  keysChanged(): void {
    this.shared.clear();
  }

  close(): void {
    this.closed = true;
    this.sender?.close();
    this.router.close();
    this.zap?.unregister(this.domain);
  }

  private async receiveLoop(
    onFrames: (frames: Buffer[], identity?: string | null) => void,
  ): Promise<void> {
    try {
      // A bounded number of frames per turn: a flood of client frames must
      // not hold off timers (heartbeats, elections) or the peer sockets.
      let handled = 0;
      for await (const frames of this.router) {
        if (++handled >= LIMITS.clientFramesPerTurn) {
          handled = 0;
          await yieldToEventLoop();
        }
        if (this.security === null) {
          onFrames(frames, null);
          continue;
        }
        const identity = this.identityOf(frames);
        if (identity === null) {
          this.untaggedRequests++;
          continue;
        }
        onFrames(frames.slice(0, 2), identity);
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }
}
