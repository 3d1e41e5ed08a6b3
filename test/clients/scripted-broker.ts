import type { FrameChannel, FrameDialer, FrameHandlers } from '../../src/runtime/frame-dialer.js';
import {
  type ClientRequest,
  decodeClientRequest,
  encodeClientResponse,
} from '../../src/wire/client-codec.js';
import type { ordo } from '../../src/wire/schema.js';
import type { ManualClock } from './manual-clock.js';

/** One client connection as the fake broker sees it. */
export class BrokerSide {
  closed = false;

  constructor(
    private readonly clock: ManualClock,
    private readonly handlers: FrameHandlers,
  ) {}

  /** Sends a response to the client, encoded by the real codec, delivered on the virtual clock. */
  respond(response: ordo.ClientResponse.$Properties): void {
    const frame = encodeClientResponse(response);
    this.clock.defer(() => {
      if (!this.closed) this.handlers.onFrame(frame);
    });
  }

  /** The connection drops, as when the broker process dies. */
  drop(): void {
    this.clock.defer(() => {
      if (!this.closed) this.handlers.onDisconnect();
    });
  }
}

/** What the fake broker does with each request it decodes. */
export type BrokerScript = (request: ClientRequest, from: BrokerSide) => void;

/**
 * A broker that is only a script: every frame a client sends is decoded by
 * the real client codec (so a malformed one fails the test) and recorded,
 * then handed to the script, which answers or stays silent.
 */
export class ScriptedBroker {
  readonly requests: ClientRequest[] = [];
  readonly connections: BrokerSide[] = [];

  constructor(public script: BrokerScript) {}

  receive(frame: Uint8Array, from: BrokerSide): void {
    const request = decodeClientRequest(frame);
    this.requests.push(request);
    this.script(request, from);
  }

  /** The requests of one kind, in arrival order. */
  requestsOf<Body extends ClientRequest['body']>(
    body: Body,
  ): Extract<ClientRequest, { body: Body }>[] {
    return this.requests.filter((r) => r.body === body) as Extract<ClientRequest, { body: Body }>[];
  }
}

/**
 * A FrameDialer over memory: each endpoint names a ScriptedBroker, and
 * frames travel both ways through the virtual clock's deferred work, so
 * nothing happens until the test lets the clock run.
 */
export class MemoryDialer implements FrameDialer {
  constructor(
    private readonly clock: ManualClock,
    private readonly brokers: ReadonlyMap<string, ScriptedBroker>,
  ) {}

  dial(endpoint: string, handlers: FrameHandlers): FrameChannel {
    const broker = this.brokers.get(endpoint);
    if (broker === undefined) throw new Error(`no scripted broker at ${endpoint}`);
    const side = new BrokerSide(this.clock, handlers);
    broker.connections.push(side);
    const clock = this.clock;
    return {
      send(frame) {
        if (side.closed) return false;
        const copy = Uint8Array.from(frame);
        clock.defer(() => {
          if (!side.closed) broker.receive(copy, side);
        });
        return true;
      },
      close() {
        side.closed = true;
      },
    };
  }
}
