import * as zmq from 'zeromq';
import { z85Encode } from '../runtime/curve-keys.js';

/** Whom the sockets of one ZAP domain admit. */
export interface ZapPolicy {
  /**
   * Admitted CurveZMQ public keys (Z85) to the identity each stands for;
   * null for an insecure socket, which admits the NULL mechanism only.
   */
  readonly keys: ReadonlyMap<string, string> | null;
  /** Null to admit a handshake from this peer IP address, or why it is refused (a connection budget). */
  readonly admit?: (address: string) => string | null;
}

/**
 * The ZeroMQ authentication handler (ZAP, RFC 27) of this process: every
 * handshake on a server socket of this process that names a ZAP domain is
 * put to it, with the peer's IP address. On a secured socket it admits a
 * client key only if the socket's domain lists it; on an insecure one it
 * admits the NULL mechanism. Either way the domain's `admit` may refuse the
 * address (connection budgets). A socket whose domain is not registered
 * admits nobody; PLAIN is always refused, and NULL on a secured socket (a
 * CURVE server socket never accepts it, and this handler refuses it too).
 * ZeroMQ tells a refused client with an ERROR command (status 400), which
 * the client reports as a refused handshake.
 *
 * One handler serves the whole process (ZeroMQ looks for it at one inproc
 * address of the context), so it must be bound before any socket with a
 * ZAP domain binds: `ZapHandler.start()` does that once and returns the
 * same handler on every call, until the last domain is unregistered: then
 * it closes (an idle process may exit) and the next start binds a new one.
 */
export class ZapHandler {
  private static running: Promise<ZapHandler> | null = null;
  private readonly domains = new Map<string, ZapPolicy>();
  private readonly refusedByDomain = new Map<string, number>();
  private readonly socket = new zmq.Reply({ linger: 0 });

  private closed = false;

  static start(): Promise<ZapHandler> {
    if (ZapHandler.running === null) {
      ZapHandler.running = (async () => {
        const handler = new ZapHandler();
        await handler.socket.bind('inproc://zeromq.zap.01');
        void handler.serve();
        return handler;
      })();
    }
    return ZapHandler.running;
  }

  /**
   * Admits, on sockets of `domain`, whom `policy` admits. False when this
   * handler has closed meanwhile (its last domain left): start() again.
   */
  register(domain: string, policy: ZapPolicy): boolean {
    if (this.closed) return false;
    this.domains.set(domain, policy);
    if (!this.refusedByDomain.has(domain)) this.refusedByDomain.set(domain, 0);
    return true;
  }

  unregister(domain: string): void {
    this.domains.delete(domain);
    if (this.domains.size > 0 || this.closed) return;
    this.closed = true;
    this.socket.close();
    ZapHandler.running = null;
  }

  /** Handshakes refused on sockets of `domain`: unknown keys, other mechanisms, connection budgets. */
  refused(domain: string): number {
    return this.refusedByDomain.get(domain) ?? 0;
  }

  private async serve(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        await this.socket.send(this.answer(frames));
      }
    } catch {
      // The socket closes with the process.
    }
  }

  private answer(frames: Buffer[]): string[] | (string | Buffer)[] {
    const [version, requestId, domainFrame, addressFrame, , mechanismFrame, keyFrame] = frames;
    const id = requestId ?? Buffer.alloc(0);
    const domain = domainFrame?.toString() ?? '';
    const refuse = (text: string) => {
      this.refusedByDomain.set(domain, (this.refusedByDomain.get(domain) ?? 0) + 1);
      return ['1.0', id, '400', text, '', ''];
    };
    if (version?.toString() !== '1.0') return ['1.0', id, '500', 'bad ZAP version', '', ''];
    const policy = this.domains.get(domain);
    if (policy === undefined) return refuse('unknown domain');
    const mechanism = mechanismFrame?.toString();
    let identity = '';
    if (policy.keys === null) {
      if (mechanism !== 'NULL') return refuse('NULL expected');
    } else {
      if (mechanism !== 'CURVE') return refuse('CURVE required');
      if (keyFrame === undefined || keyFrame.length !== 32) return refuse('no client key');
      const known = policy.keys.get(z85Encode(keyFrame));
      if (known === undefined) return refuse('unknown key');
      identity = known;
    }
    const refusal = policy.admit?.(addressFrame?.toString() ?? '') ?? null;
    if (refusal !== null) return refuse(refusal);
    return ['1.0', id, '200', 'OK', identity, ''];
  }
}
