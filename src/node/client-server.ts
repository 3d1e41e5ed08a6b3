import { LIMITS } from '../limits.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import {
  type ClientRequest,
  decodeClientRequest,
  encodeClientResponse,
} from '../wire/client-codec.js';
import { FrameError, isAllocationFailure } from '../wire/frame-error.js';
import { ordo } from '../wire/schema.js';
import type { ClientFrameSocket, ClientId } from './client-frame-socket.js';

export type { ClientId } from './client-frame-socket.js';

/**
 * Publishers, subscribers and admin tools, over a client frame socket. A
 * bad frame is answered with an Error naming the problem and never reaches
 * the core. Replies to a client that has gone away are dropped.
 */
export class ClientServer {
  private readonly badFrameLog: RateLimitedLog;
  badFrames = 0;
  /** Frames larger than LIMITS.maxFrameBytes (also counted in badFrames). */
  oversizedFrames = 0;
  /** Requests refused because a buffer for them could not be allocated. */
  allocationFailures = 0;
  private readonly allocationLog: RateLimitedLog;

  constructor(
    private readonly socket: ClientFrameSocket,
    logger: Logger,
    clock: Clock,
    private readonly onUnreachable: (client: ClientId) => void,
  ) {
    this.badFrameLog = new RateLimitedLog(logger, LIMITS.repeatedLogIntervalMs, () =>
      clock.nowMs(),
    );
    this.allocationLog = new RateLimitedLog(logger, LIMITS.repeatedLogIntervalMs, () =>
      clock.nowMs(),
    );
  }

  /** `onRequest` hears each request with the identity that sent it (null on an insecure cluster). */
  async start(
    onRequest: (client: ClientId, request: ClientRequest, identity: string | null) => void,
  ): Promise<void> {
    await this.socket.start(
      (frames, identity) => this.onFrames(frames, identity ?? null, onRequest),
      (client) => this.onUnreachable(client),
    );
  }

  /** `onLeft`: called once the reply has left the node's send queue (see ClientFrameSocket.send). */
  reply(
    client: ClientId,
    response: ordo.ClientResponse.$Properties,
    onLeft?: (sent: boolean) => void,
  ): boolean {
    return this.socket.send([client, encodeClientResponse(response)], onLeft);
  }

  replyError(client: ClientId, requestId: number, code: ordo.ErrorCode, message: string): void {
    this.reply(client, { requestId, error: { code, message } });
  }

  async close(): Promise<void> {
    this.socket.close();
  }

  private onFrames(
    frames: Buffer[],
    identity: string | null,
    onRequest: (client: ClientId, request: ClientRequest, identity: string | null) => void,
  ): void {
    const [client, body] = frames;
    if (client === undefined) return;
    if (body === undefined || frames.length !== 2) {
      this.rejectFrame(
        client,
        new FrameError('malformed', `expected 1 body frame, got ${frames.length - 1}`),
      );
      return;
    }
    let request: ClientRequest;
    try {
      request = decodeClientRequest(body);
    } catch (error) {
      if (isAllocationFailure(error)) {
        this.refuseUnallocated(client, 0, error as Error);
        return;
      }
      if (!(error instanceof FrameError)) throw error;
      this.rejectFrame(client, error, body);
      return;
    }
    try {
      onRequest(client, request, identity);
    } catch (error) {
      // Copying a payload out of its frame allocates: out of memory, that
      // request is refused (before the core took it) and the node carries on.
      if (!isAllocationFailure(error)) throw error;
      this.refuseUnallocated(client, request.requestId, error as Error);
    }
  }

  private refuseUnallocated(client: ClientId, requestId: number, error: Error): void {
    this.allocationFailures++;
    this.allocationLog.warn(`refused a client request: ${error.message}`);
    this.replyError(
      client,
      requestId,
      ordo.ErrorCode.ERROR_CODE_INTERNAL,
      `the node could not allocate memory for this request (${error.message}); try again later`,
    );
  }

  private rejectFrame(client: ClientId, error: FrameError, body?: Buffer): void {
    this.badFrames++;
    if (error.code === 'too-large' && body !== undefined && body.length > LIMITS.maxFrameBytes)
      this.oversizedFrames++;
    this.badFrameLog.warn(`rejected a client frame: ${error.message}`);
    const code =
      error.code === 'too-large'
        ? ordo.ErrorCode.ERROR_CODE_TOO_LARGE
        : ordo.ErrorCode.ERROR_CODE_MALFORMED;
    this.replyError(client, 0, code, error.message);
  }
}
