import type * as zmq from 'zeromq';
import type { Socket } from 'zeromq';

type Frames = Uint8Array | Uint8Array[];
type Sendable = Socket & { send(message: zmq.MessageLike[] | zmq.MessageLike): Promise<void> };

/**
 * The one writer of a ZeroMQ socket. zeromq.js allows one pending send per
 * socket, so every message goes through this bounded queue and one loop.
 * When the queue is full the message is dropped and counted: every path in
 * Ordo tolerates loss (NACKs, retries), and memory must not grow.
 */
export class SocketSender {
  private queue: Frames[] = [];
  /** Called once a queued message has left (sent or failed), keyed by the message itself. */
  private readonly whenLeft = new Map<Frames, (sent: boolean) => void>();
  private head = 0;
  private running = false;
  private closed = false;
  droppedMessages = 0;
  failedMessages = 0;

  constructor(
    private readonly socket: Sendable,
    private readonly maxQueueMessages: number,
    private readonly onSendError: (error: Error, frames: Frames) => void = () => {},
  ) {}

  get queuedMessages(): number {
    return this.queue.length - this.head;
  }

  /**
   * Queues a message; returns false when it was dropped because the queue is
   * full or closed. `onLeft` is called once the message has left the queue,
   * with whether ZeroMQ took it (false: the send failed), never when send
   * returns false.
   */
  send(frames: Frames, onLeft?: (sent: boolean) => void): boolean {
    if (this.closed) return false;
    if (this.queuedMessages >= this.maxQueueMessages) {
      this.droppedMessages++;
      return false;
    }
    this.queue.push(frames);
    if (onLeft !== undefined) this.whenLeft.set(frames, onLeft);
    if (!this.running) void this.run();
    return true;
  }

  close(): void {
    this.closed = true;
    this.whenLeft.clear();
    this.queue = [];
    this.head = 0;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.head < this.queue.length) {
        const frames = this.queue[this.head]!;
        this.queue[this.head] = undefined as unknown as Frames;
        this.head++;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        let sent = true;
        try {
          await this.socket.send(frames);
        } catch (error) {
          if (this.closed) return;
          sent = false;
          this.failedMessages++;
          this.onSendError(error as Error, frames);
        } finally {
          const onLeft = this.whenLeft.get(frames);
          if (onLeft !== undefined) {
            this.whenLeft.delete(frames);
            onLeft(sent);
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** Resolves after the event loop has run its timers and I/O callbacks once. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
