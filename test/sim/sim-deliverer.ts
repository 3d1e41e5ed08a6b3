import type { ClientRuntime } from '../../clients/client-runtime.js';
import { SeqUnavailableError } from '../../clients/errors.js';
import { type Message, Subscriber } from '../../clients/subscriber.js';
import { type Entry, EntryKind, type NodeId } from '../../src/core/index.js';
import { DeliveredStream } from './delivered-stream.js';

/**
 * A real `Subscriber` reading everything one node delivers (epoch-start
 * entries included), from seq 1, over the simulated network: the node's
 * delivered stream as the checkers see it. When the node no longer holds
 * what it needs (retention, a log reset) it records the skip and resumes at
 * the oldest seq the node has.
 */
export class SimDeliverer {
  readonly stream: DeliveredStream;
  private subscriber: Subscriber | null = null;
  private stopped = false;
  /** Errors other than a skip, which a correct node never causes. */
  readonly failures: string[] = [];

  constructor(
    readonly nodeId: NodeId,
    private readonly endpoint: string,
    private readonly runtime: ClientRuntime,
    private readonly nowTick: () => number,
    private readonly timing: { brokerTimeoutMs: number; nackRetryMs: number },
  ) {
    this.stream = new DeliveredStream(nodeId);
  }

  start(): void {
    void this.run();
  }

  close(): void {
    this.stopped = true;
    void this.subscriber?.close();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const subscriber = new Subscriber({
        brokers: [this.endpoint],
        fromSeq: this.stream.lastSeq + 1,
        includeControl: true,
        runtime: this.runtime,
        brokerTimeoutMs: this.timing.brokerTimeoutMs,
        nackRetryMs: this.timing.nackRetryMs,
      });
      this.subscriber = subscriber;
      try {
        for await (const message of subscriber) {
          this.stream.deliver(message.seq, toEntry(message), this.nowTick());
        }
        return;
      } catch (error) {
        void subscriber.close();
        if (error instanceof SeqUnavailableError) {
          this.stream.skipThrough(error.firstAvailableSeq - 1);
          continue;
        }
        this.failures.push(`${this.nodeId}: ${(error as Error).name}: ${(error as Error).message}`);
        return;
      }
    }
  }
}

function toEntry(message: Message): Entry {
  return {
    seq: message.seq,
    epoch: message.epoch,
    kind: message.kind === 'data' ? EntryKind.data : EntryKind.epochStart,
    producerId: message.producerId,
    producerSeq: message.producerSeq,
    topic: message.topic,
    payload: message.payload,
    timestampMs: message.timestampMs,
  };
}
