import type { NodeId, NodeMessage } from '../../src/core/index.js';
import type { ClientFrameSocket, ClientId } from '../../src/node/client-frame-socket.js';
import type { NodeAddress } from '../../src/node/cluster-config.js';
import {
  emptyPeerLinkCounters,
  type PeerLink,
  type PeerLinkCounters,
} from '../../src/node/peer-link.js';
import type { FrameChannel, FrameDialer, FrameHandlers } from '../../src/runtime/frame-dialer.js';

/** Everything that travels over the simulated network. */
export type SimPacket =
  | { readonly kind: 'peer'; readonly message: NodeMessage }
  /** A client's frame to a node, on the client's channel `channel`. */
  | { readonly kind: 'toNode'; readonly channel: string; readonly frame: Uint8Array }
  /** A node's frame back to one client channel. */
  | { readonly kind: 'toClient'; readonly channel: string; readonly frame: Uint8Array };

/** How an edge puts a packet on the simulated network. */
export type SendPacket = (from: string, to: string, packet: SimPacket) => void;

/**
 * A node process's peer network in the simulator: multicast is one packet
 * to each other member, each lost, delayed or duplicated on its own, as on
 * a lossy PUB/SUB path. A closed link (its process crashed) sends nothing.
 */
export class SimPeerLink implements PeerLink {
  readonly counters: PeerLinkCounters = emptyPeerLinkCounters();
  private onMessage: ((message: NodeMessage) => void) | null = null;
  private onPeerDisconnected: ((peer: NodeId) => void) | null = null;
  private closed = false;

  constructor(
    private readonly self: NodeId,
    private others: readonly NodeId[],
    private readonly sendPacket: SendPacket,
  ) {}

  setPeers(peers: readonly NodeAddress[]): void {
    this.others = peers.map((p) => p.id);
  }

  async start(
    onMessage: (message: NodeMessage) => void,
    onPeerDisconnected: (peer: NodeId) => void,
  ): Promise<void> {
    this.onMessage = onMessage;
    this.onPeerDisconnected = onPeerDisconnected;
  }

  send(to: NodeId | null, message: NodeMessage): void {
    if (this.closed) return;
    const packet: SimPacket = { kind: 'peer', message };
    if (to === null) {
      this.counters.multicastSent++;
      for (const peer of this.others) this.sendPacket(this.self, peer, packet);
    } else {
      this.counters.unicastSent++;
      this.sendPacket(this.self, to, packet);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** A packet arrived for this node; false when the node is not listening yet. */
  deliver(message: NodeMessage): boolean {
    if (this.closed || this.onMessage === null) return false;
    this.counters.received++;
    this.onMessage(message);
    return true;
  }

  /** The connection to `peer` dropped (its process died): what ZeroMQ reports as a disconnect. */
  peerDisconnected(peer: NodeId): void {
    if (!this.closed) this.onPeerDisconnected?.(peer);
  }
}

/**
 * A node process's client socket in the simulator. A client is named by its
 * channel (`client#n`), which is also its routing id, as a ROUTER names each
 * connected DEALER.
 */
export class SimClientFrameSocket implements ClientFrameSocket {
  private onFrames: ((frames: Buffer[]) => void) | null = null;
  private closed = false;

  constructor(
    private readonly self: NodeId,
    private readonly sendPacket: SendPacket,
  ) {}

  async start(onFrames: (frames: Buffer[]) => void): Promise<void> {
    this.onFrames = onFrames;
  }

  send(frames: Uint8Array[], onLeft?: (sent: boolean) => void): boolean {
    if (this.closed) return false;
    const [client, body] = frames;
    if (client === undefined || body === undefined) return false;
    const channel = Buffer.from(client).toString('utf8');
    this.sendPacket(this.self, clientOfChannel(channel), {
      kind: 'toClient',
      channel,
      frame: body,
    });
    // The simulated network takes a packet at once: nothing waits in a queue.
    onLeft?.(true);
    return true;
  }

  close(): void {
    this.closed = true;
  }

  deliver(channel: string, frame: Uint8Array): boolean {
    if (this.closed || this.onFrames === null) return false;
    this.onFrames([Buffer.from(channel, 'utf8'), Buffer.from(frame)] as ClientId[]);
    return true;
  }
}

/** The client that owns a channel named `client#n`. */
export function clientOfChannel(channel: string): string {
  return channel.slice(0, channel.lastIndexOf('#'));
}

/**
 * How a simulated client reaches nodes: each dial opens a channel from this
 * client to one node (endpoint `tcp://<node id>:7000`). Frames travel as packets
 * on the simulated network; when the node's process dies the channel hears
 * a disconnect, as a DEALER does when the TCP connection resets.
 */
export class SimFrameDialer implements FrameDialer {
  private nextChannel = 1;
  private readonly channels = new Map<
    string,
    { readonly nodeId: NodeId; readonly handlers: FrameHandlers; closed: boolean }
  >();

  constructor(
    readonly clientId: string,
    private readonly sendPacket: SendPacket,
  ) {}

  dial(endpoint: string, handlers: FrameHandlers): FrameChannel {
    const nodeId = nodeOfEndpoint(endpoint);
    const name = `${this.clientId}#${this.nextChannel++}`;
    const state = { nodeId, handlers, closed: false };
    this.channels.set(name, state);
    return {
      send: (frame) => {
        if (state.closed) return false;
        this.sendPacket(this.clientId, nodeId, { kind: 'toNode', channel: name, frame });
        return true;
      },
      close: () => {
        state.closed = true;
        this.channels.delete(name);
      },
    };
  }

  deliver(channel: string, frame: Uint8Array): void {
    const state = this.channels.get(channel);
    if (state === undefined || state.closed) return;
    state.handlers.onFrame(frame);
  }

  /** The process of `nodeId` died: every open channel to it hears a disconnect. */
  nodeDied(nodeId: NodeId): void {
    for (const state of [...this.channels.values()]) {
      if (state.nodeId === nodeId && !state.closed) state.handlers.onDisconnect();
    }
  }
}

/** Every simulated node listens for clients on this port of its own host name. */
export const SIM_CLIENT_PORT = 7000;

/** A simulated node's client endpoint: its id as the host name, as the node announces it in hints. */
export function simEndpoint(nodeId: NodeId): string {
  return `tcp://${nodeId}:${SIM_CLIENT_PORT}`;
}

function nodeOfEndpoint(endpoint: string): NodeId {
  const match = /^tcp:\/\/([^:]+):(\d+)$/.exec(endpoint);
  if (match === null) throw new Error(`not a simulated endpoint: ${endpoint}`);
  return match[1]!;
}
