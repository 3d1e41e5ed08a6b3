import * as zmq from 'zeromq';
import { LIMITS } from '../limits.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import { SocketSender } from '../runtime/socket-sender.js';
import {
  type ClientRequest,
  decodeClientRequest,
  encodeClientResponse,
} from '../wire/client-codec.js';
import { FrameError } from '../wire/frame-error.js';
import { ordo } from '../wire/schema.js';

export type ClientId = Buffer;

/**
 * The client-facing ROUTER: publishers, subscribers and admin tools. A bad
 * frame is answered with an Error naming the problem and never reaches the
 * core. Replies to a client that has gone away are dropped (`mandatory`
 * makes them fail fast instead of queueing).
 */
export class ClientServer {
  private readonly router = new zmq.Router({
    linger: 0,
    mandatory: true,
    sendTimeout: 0,
    sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    maxMessageSize: LIMITS.maxFrameBytes,
  });
  private readonly sender: SocketSender;
  private readonly badFrameLog: RateLimitedLog;
  private closed = false;
  badFrames = 0;
  unroutableReplies = 0;

  constructor(
    private readonly bindEndpoint: string,
    logger: Logger,
    private readonly onUnreachable: (client: ClientId) => void,
  ) {
    this.sender = new SocketSender(this.router, LIMITS.maxSendQueueMessages, (error, frames) => {
      this.unroutableReplies++;
      if ((error as { code?: string }).code === 'EHOSTUNREACH' && Array.isArray(frames)) {
        this.onUnreachable(Buffer.from(frames[0]!));
      }
    });
    this.badFrameLog = new RateLimitedLog(logger, 1000);
  }

  async start(onRequest: (client: ClientId, request: ClientRequest) => void): Promise<void> {
    await this.router.bind(this.bindEndpoint);
    void this.receiveLoop(onRequest);
  }

  reply(client: ClientId, response: ordo.ClientResponse.$Properties): boolean {
    return this.sender.send([client, encodeClientResponse(response)]);
  }

  replyError(client: ClientId, requestId: number, code: ordo.ErrorCode, message: string): void {
    this.reply(client, { requestId, error: { code, message } });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sender.close();
    this.router.close();
  }

  private async receiveLoop(
    onRequest: (client: ClientId, request: ClientRequest) => void,
  ): Promise<void> {
    try {
      for await (const frames of this.router) {
        const [client, body] = frames;
        if (client === undefined) continue;
        if (body === undefined || frames.length !== 2) {
          this.rejectFrame(
            client,
            new FrameError('malformed', `expected 1 body frame, got ${frames.length - 1}`),
          );
          continue;
        }
        let request: ClientRequest;
        try {
          request = decodeClientRequest(body);
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
          this.rejectFrame(client, error);
          continue;
        }
        onRequest(client, request);
      }
    } catch (error) {
      if (!this.closed) throw error;
    }
  }

  private rejectFrame(client: ClientId, error: FrameError): void {
    this.badFrames++;
    this.badFrameLog.warn(`rejected a client frame: ${error.message}`);
    const code =
      error.code === 'too-large'
        ? ordo.ErrorCode.ERROR_CODE_TOO_LARGE
        : ordo.ErrorCode.ERROR_CODE_MALFORMED;
    this.replyError(client, 0, code, error.message);
  }
}
