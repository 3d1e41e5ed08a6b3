import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import createKvStore, {
  encodeKvCommand,
  kvTopic,
  pluginName,
} from '../clients/examples/kv-store.js';
import {
  ClosedError,
  InvalidRequestError,
  type Message,
  Publisher,
  type Replica,
  Subscriber,
  startReplica,
} from '../clients/index.js';
import type { DeliveredMessage, DelivererRecord, PublishRecord, ReplicaRecord } from './history.js';

export interface WorkloadOptions {
  /** Client endpoints of every node. */
  readonly endpoints: readonly string[];
  readonly publishers: number;
  /** Publish calls each publisher keeps outstanding at once. */
  readonly concurrency: number;
  /** Target publishes per second over all publishers. */
  readonly ratePerSecond: number;
  readonly replicas: number;
  /** Where the replicas keep their snapshots. */
  readonly dataDir: string;
  readonly log: (line: string) => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Errors after which the message was never sent: the only publishes that failed for sure. */
const surelyNotSent = (error: unknown) => error instanceof InvalidRequestError;

/**
 * What runs against the cluster during a chaos run: publishers with retries
 * (the client's own, with the same producerSeq), one subscriber pinned to
 * each node, one that fails over between all of them, one that can be
 * stalled, and replicas of the key-value example. Everything they see is
 * recorded for the checker.
 */
export class Workload {
  readonly publishes: PublishRecord[] = [];
  private readonly publishers: Publisher[] = [];
  private readonly subscribers = new Map<
    string,
    { record: DelivererRecord & { messages: DeliveredMessage[] }; subscriber: Subscriber }
  >();
  private readonly replicas: Replica[] = [];
  private readonly publishLoops: Promise<void>[] = [];
  private readonly readLoops: Promise<void>[] = [];
  private publishing = true;
  private closed = false;
  private stallGate: Promise<void> | null = null;
  private releaseStall: (() => void) | null = null;

  constructor(private readonly options: WorkloadOptions) {}

  async start(): Promise<void> {
    const { endpoints } = this.options;
    for (const [i, endpoint] of endpoints.entries()) {
      this.subscribe(`subscriber@n${i + 1}`, [endpoint], false);
    }
    this.subscribe('subscriber-any', endpoints, false);
    this.subscribe('stalled-subscriber', endpoints, true);
    for (let i = 0; i < this.options.replicas; i++) {
      const dataDir = join(this.options.dataDir, `replica-${i + 1}`);
      mkdirSync(dataDir, { recursive: true });
      this.replicas.push(
        await startReplica({
          brokers: endpoints,
          stateMachine: createKvStore,
          plugin: pluginName,
          dataDir,
          replicaId: `kv-${i + 1}`,
          topics: [kvTopic],
          digestIntervalSeqs: 200,
          snapshotEveryMessages: 2000,
        }),
      );
    }
    const pauseMs =
      (1000 * this.options.publishers * this.options.concurrency) / this.options.ratePerSecond;
    for (let p = 0; p < this.options.publishers; p++) {
      const publisher = new Publisher({
        brokers: endpoints,
        requestTimeoutMs: 500,
        publishTimeoutMs: 10_000,
        maxInFlightMessages: this.options.concurrency * 2,
      });
      this.publishers.push(publisher);
      for (let w = 0; w < this.options.concurrency; w++) {
        this.publishLoops.push(this.publishLoop(publisher, `p${p + 1}`, w, pauseMs));
      }
    }
  }

  /** Stops the stalled subscriber from reading until `resumeStalled`; what it holds unread stays bounded by its window. */
  stall(): void {
    if (this.stallGate !== null) return;
    this.stallGate = new Promise((resolve) => {
      this.releaseStall = resolve;
    });
  }

  resumeStalled(): void {
    this.releaseStall?.();
    this.stallGate = null;
    this.releaseStall = null;
  }

  /** Stops publishing and waits for every outstanding publish to end. */
  async stopPublishing(): Promise<void> {
    this.publishing = false;
    await Promise.all(this.publishLoops);
  }

  /**
   * Whether every subscriber read through `lastSeq` and every replica applied
   * the last data entry up to it (replicas never see control entries).
   */
  reached(lastSeq: number): boolean {
    const streams = [...this.subscribers.values()].map((s) => s.record.messages);
    if (!streams.every((m) => (m.at(-1)?.seq ?? 0) >= lastSeq)) return false;
    const lastData = streams[0]!.findLast((m) => m.kind === 'data' && m.seq <= lastSeq)?.seq ?? 0;
    return this.replicas.every((r) => r.appliedSeq >= lastData);
  }

  deliverers(): DelivererRecord[] {
    return [...this.subscribers.values()].map((s) => s.record);
  }

  replicaRecords(): ReplicaRecord[] {
    return this.replicas.map((r) => {
      const current = r.currentDigest();
      const digests = r.digests.map((d) => ({ seq: d.seq, digest: d.digest }));
      if (!digests.some((d) => d.seq === current.seq))
        digests.push({ seq: current.seq, digest: current.digest });
      return { id: r.replicaId, appliedSeq: r.appliedSeq, digests };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.publishing = false;
    this.resumeStalled();
    for (const p of this.publishers) p.close();
    for (const s of this.subscribers.values()) s.subscriber.close();
    await Promise.all(this.readLoops);
    await Promise.all(this.replicas.map((r) => r.close().catch(() => undefined)));
  }

  private async publishLoop(
    publisher: Publisher,
    name: string,
    worker: number,
    pauseMs: number,
  ): Promise<void> {
    let n = 0;
    while (this.publishing) {
      const payload = encodeKvCommand({
        op: 'put',
        key: `${name}/${worker}/${n % 20}`,
        value: `${name}-${worker}-${n}`,
      });
      const text = new TextDecoder().decode(payload);
      n++;
      const startMs = Date.now();
      try {
        const ack = await publisher.publish(kvTopic, payload);
        this.publishes.push({
          publisher: name,
          producerId: ack.producerId,
          producerSeq: ack.producerSeq,
          payload: text,
          startMs,
          endMs: Date.now(),
          outcome: 'ok',
          seq: ack.seq,
        });
      } catch (error) {
        if (error instanceof ClosedError && this.closed) return;
        this.publishes.push({
          publisher: name,
          producerId: publisher.producerId,
          producerSeq: 0,
          payload: text,
          startMs,
          endMs: Date.now(),
          outcome: surelyNotSent(error) ? 'failed' : 'uncertain',
          error: (error as Error).name,
        });
        await sleep(100);
      }
      const spentMs = Date.now() - startMs;
      if (spentMs < pauseMs) await sleep(pauseMs - spentMs);
    }
  }

  private subscribe(name: string, brokers: readonly string[], stallable: boolean): void {
    const record = { name, fromSeq: 1, everySeq: true, messages: [] as DeliveredMessage[] };
    const entry = { record, subscriber: null as unknown as Subscriber };
    this.subscribers.set(name, entry);
    const read = async (): Promise<void> => {
      // A subscriber that fails (it cannot, by its contract, but a run must
      // not hang on it) is replaced by one that goes on after its last seq.
      for (let attempt = 0; attempt < 20 && !this.closed; attempt++) {
        const next = (record.messages.at(-1)?.seq ?? 0) + 1;
        const subscriber = new Subscriber({ brokers, fromSeq: next, includeControl: true });
        entry.subscriber = subscriber;
        try {
          for await (const m of subscriber) {
            if (stallable && this.stallGate !== null) await this.stallGate;
            record.messages.push(delivered(m));
          }
          return;
        } catch (error) {
          this.options.log(
            `${name} failed at seq ${next}: ${(error as Error).message}; resubscribing`,
          );
          subscriber.close();
          await sleep(500);
        }
      }
    };
    this.readLoops.push(read());
  }
}

function delivered(m: Message): DeliveredMessage {
  return {
    seq: m.seq,
    kind: m.kind,
    producerId: m.producerId,
    producerSeq: m.producerSeq,
    payload: new TextDecoder().decode(m.payload),
  };
}
