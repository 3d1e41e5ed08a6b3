import * as zmq from 'zeromq';
import { z85Encode } from '../runtime/curve-keys.js';

/**
 * The ZeroMQ authentication handler (ZAP, RFC 27) of this process: every
 * CurveZMQ handshake on a server socket of this process is put to it, and it
 * admits a client key only if the socket's domain lists it. A socket whose
 * domain is not registered admits nobody; NULL and PLAIN are refused (a
 * CURVE server socket never accepts them, and this handler refuses them too).
 *
 * One handler serves the whole process (ZeroMQ looks for it at one inproc
 * address of the context), so it must be bound before any secured socket
 * binds: `ZapHandler.start()` does that once and returns the same handler
 * on every call.
 */
export class ZapHandler {
  private static running: Promise<ZapHandler> | null = null;
  private readonly domains = new Map<string, ReadonlyMap<string, string>>();
  private readonly refusedByDomain = new Map<string, number>();
  private readonly socket = new zmq.Reply({ linger: 0 });

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

  /** Admits, on sockets of `domain`, the keys given (public key to the identity it stands for). */
  register(domain: string, keys: ReadonlyMap<string, string>): void {
    this.domains.set(domain, keys);
    if (!this.refusedByDomain.has(domain)) this.refusedByDomain.set(domain, 0);
  }

  unregister(domain: string): void {
    this.domains.delete(domain);
  }

  /** Handshakes refused on sockets of `domain`: unknown keys, other mechanisms. */
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
    const [version, requestId, domainFrame, , , mechanismFrame, keyFrame] = frames;
    const id = requestId ?? Buffer.alloc(0);
    const domain = domainFrame?.toString() ?? '';
    const refuse = (text: string) => {
      this.refusedByDomain.set(domain, (this.refusedByDomain.get(domain) ?? 0) + 1);
      return ['1.0', id, '400', text, '', ''];
    };
    if (version?.toString() !== '1.0') return ['1.0', id, '500', 'bad ZAP version', '', ''];
    const keys = this.domains.get(domain);
    if (keys === undefined) return refuse('unknown domain');
    if (mechanismFrame?.toString() !== 'CURVE') return refuse('CURVE required');
    if (keyFrame === undefined || keyFrame.length !== 32) return refuse('no client key');
    const identity = keys.get(z85Encode(keyFrame));
    if (identity === undefined) return refuse('unknown key');
    return ['1.0', id, '200', 'OK', identity, ''];
  }
}
