import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Entry, EntryKind, type NodeId, type NodeMessage } from '../../src/core/types.js';
import { LIMITS } from '../../src/limits.js';
import { BrokerNode, type NodeEdges } from '../../src/node/broker-node.js';
import type { ClientFrameSocket } from '../../src/node/client-frame-socket.js';
import { type ClusterConfig, parseClusterConfig } from '../../src/node/cluster-config.js';
import { NO_FAULTS } from '../../src/node/fault-injection.js';
import type { PeerLink, PeerLinkCounters } from '../../src/node/peer-link.js';
import { PeerTransport } from '../../src/node/peer-transport.js';
import { createNodeStorage } from '../../src/node/storage-factory.js';
import { systemClock } from '../../src/runtime/clock.js';
import type { Logger } from '../../src/runtime/logger.js';
import { SegmentedLogStore } from '../../src/storage/segmented-log-store.js';
import { encodePeerMessage } from '../../src/wire/peer-codec.js';
import { repairCopyDigest } from '../../src/wire/repair-copy-digest.js';
import { ordo } from '../../src/wire/schema.js';
import { Prng } from '../sim/prng.js';

/**
 * Drives random and mutated input through the code that faces it:
 * - `client`: frames of every client request type, valid and mutated, into
 *   the client edge of a real one-node broker (decode, validate, handle:
 *   publishes are sequenced, committed and written to a real log);
 * - `peer`: envelopes of every node-to-node message type, valid and
 *   mutated, into the peer edge of a real node of a three-node cluster
 *   (the other two are played by the fuzzer);
 * - `storage`: a real log on disk with random bytes written over, cut off
 *   or appended to its files, through log recovery.
 * It reports crashes (exceptions other than the clear errors bad input
 * gets, a node that stopped itself), hangs (a node that no longer answers
 * a status request), corrupted records (a log that does not reopen with the
 * same hash chain; a recovered record that differs from what was written
 * and is not reported damaged) and peak memory.
 */

export const FuzzTargets = ['client', 'peer', 'storage'] as const;
export type FuzzTarget = (typeof FuzzTargets)[number];

export interface FuzzOptions {
  readonly target: FuzzTarget;
  /** Frames (client, peer) or damaged logs (storage) to try. */
  readonly frames: number;
  readonly seed: number;
  /** A node that does not answer a status request within this long hangs. */
  readonly hangMs?: number;
  /** Progress lines, about every 10% of the run. */
  readonly progress?: (line: string) => void;
}

export interface FuzzReport {
  readonly target: FuzzTarget;
  readonly seed: number;
  readonly frames: number;
  /** Frames the node took as valid (client, peer), or logs that opened (storage). */
  readonly accepted: number;
  /** Frames refused with a clear error, or logs refused with a storage error. */
  readonly refused: number;
  readonly crashes: readonly string[];
  readonly hangs: number;
  readonly corruptRecords: number;
  /** Damaged records recovery reported (storage): found, not corruption. */
  readonly damagedReported: number;
  /** Entries in the node's log at the end (client, peer): what the valid frames wrote. */
  readonly logEntries: number;
  readonly rssStartBytes: number;
  readonly rssPeakBytes: number;
  readonly rssEndBytes: number;
  readonly durationMs: number;
}

/** The first crashes are kept with their messages; more are only counted. */
const maxCrashMessages = 20;

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const run = new FuzzRun(options);
  const onRejection = (reason: unknown) => run.crash(`unhandled rejection: ${describe(reason)}`);
  const onException = (error: Error) => run.crash(`uncaught exception: ${describe(error)}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  try {
    if (options.target === 'storage') await run.storage();
    else await run.node(options.target);
  } finally {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  }
  return run.report();
}

class FuzzRun {
  private readonly prng: Prng;
  private readonly started = Date.now();
  private readonly rssStart = process.memoryUsage().rss;
  private rssPeak = this.rssStart;
  private readonly crashes: string[] = [];
  private crashCount = 0;
  accepted = 0;
  refused = 0;
  hangs = 0;
  corruptRecords = 0;
  damagedReported = 0;
  logEntries = 0;

  constructor(private readonly options: FuzzOptions) {
    this.prng = new Prng(options.seed);
  }

  crash(message: string): void {
    this.crashCount++;
    if (this.crashes.length < maxCrashMessages) this.crashes.push(message);
  }

  report(): FuzzReport {
    this.sampleRss();
    const crashes =
      this.crashCount > this.crashes.length
        ? [...this.crashes, `... and ${this.crashCount - this.crashes.length} more`]
        : this.crashes;
    return {
      target: this.options.target,
      seed: this.options.seed,
      frames: this.options.frames,
      accepted: this.accepted,
      refused: this.refused,
      crashes,
      hangs: this.hangs,
      corruptRecords: this.corruptRecords,
      damagedReported: this.damagedReported,
      logEntries: this.logEntries,
      rssStartBytes: this.rssStart,
      rssPeakBytes: this.rssPeak,
      rssEndBytes: process.memoryUsage().rss,
      durationMs: Date.now() - this.started,
    };
  }

  private sampleRss(): void {
    this.rssPeak = Math.max(this.rssPeak, process.memoryUsage().rss);
  }

  private progress(done: number): void {
    const step = Math.max(1, Math.floor(this.options.frames / 10));
    if (done % step !== 0 || done === 0) return;
    this.options.progress?.(
      `${this.options.target}: ${done}/${this.options.frames} (${this.crashCount} crashes, ${this.hangs} hangs, ${this.corruptRecords} corrupt, peak RSS ${mib(this.rssPeak)} MiB)`,
    );
  }

  // ------------------------------------------------------ client and peer

  async node(target: 'client' | 'peer'): Promise<void> {
    const dataDir = mkdtempSync(join(tmpdir(), `ordo-fuzz-${target}-`));
    try {
      const config = fuzzConfig(dataDir, target === 'client' ? 1 : 3);
      const storage = await createNodeStorage(config, 'n1');
      const clients = new FuzzClientSocket();
      const peers = new FuzzPeerLink(config);
      const edges: NodeEdges = {
        peers,
        clientSocket: clients,
        clock: systemClock,
        random: () => this.prng.next(),
        onFatal: (error) => this.crash(`node stopped itself: ${describe(error)}`),
      };
      const node = await BrokerNode.start({
        config,
        nodeId: 'n1',
        ...storage,
        logger: silentLogger(),
        faults: NO_FAULTS,
        edges,
      });
      if (target === 'client') {
        // A one-node cluster: publishes are sequenced once it leads.
        const deadline = Date.now() + 10_000;
        while (node.status().role !== 'leader' && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const input =
        target === 'client'
          ? new ClientInput(this.prng)
          : new PeerInput(this.prng, () => node.status().lastSeq ?? 0);
      const probeEvery = Math.max(1, Math.min(5000, Math.floor(this.options.frames / 20)));
      for (let i = 1; i <= this.options.frames; i++) {
        const frames = input.next();
        try {
          if (target === 'client') clients.deliver(frames);
          else peers.deliver(frames);
        } catch (error) {
          this.crash(`frame ${i}: ${describe(error)}`);
        }
        if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
        if (i % probeEvery === 0) {
          this.sampleRss();
          if (!(await clients.probe(this.options.hangMs ?? 5000))) this.hangs++;
        }
        this.progress(i);
      }
      if (!(await clients.probe(this.options.hangMs ?? 5000))) this.hangs++;
      // Bad frames the node counted (a peer connection it ignores counts each frame).
      this.refused = Math.min(this.options.frames, node.status().badFrames ?? 0);
      this.accepted = this.options.frames - this.refused;
      // What the log holds as the node closes it (after its last write).
      let chainHash = '';
      let lastSeq = 0;
      const close = storage.store.close.bind(storage.store);
      storage.store.close = () => {
        lastSeq = storage.store.lastSeq();
        chainHash = storage.chainHash?.() ?? '';
        return close();
      };
      await node.stop();
      this.logEntries = lastSeq;
      peers.closeTransport();
      await this.checkLog(join(dataDir, 'n1', 'log'), chainHash, lastSeq);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  /** The log the node wrote reopens whole, with the hash chain the node reported. */
  private async checkLog(dir: string, chainHash: string, lastSeq: number): Promise<void> {
    const store = new SegmentedLogStore({
      dir,
      fsync: 'never',
      damagedRecords: 'report',
      verifyClosedSegments: true,
    });
    try {
      const recovered = await store.open();
      for (const range of store.damagedRanges())
        this.corruptRecords += range.toSeq - range.fromSeq + 1;
      if (recovered.lastSeq !== lastSeq) {
        this.corruptRecords++;
        this.crash(`the log reopened with last seq ${recovered.lastSeq}, the node had ${lastSeq}`);
      } else if (store.chainHash() !== chainHash) {
        this.corruptRecords++;
        this.crash('the log reopened with another hash chain than the node reported');
      }
    } catch (error) {
      this.corruptRecords++;
      this.crash(`the node's log does not reopen: ${describe(error)}`);
    } finally {
      await store.close().catch(() => {});
    }
  }

  // ------------------------------------------------------------ storage

  async storage(): Promise<void> {
    // Real files, on a memory file system where there is one: a damaged log
    // is written and recovered per attempt.
    const root = mkdtempSync(join(scratchDir(), 'ordo-fuzz-storage-'));
    try {
      const baseDir = join(root, 'base');
      const written = await writeBaseLog(baseDir, this.prng);
      const files = readdirSync(baseDir).map((name) => ({
        name,
        bytes: readFileSync(join(baseDir, name)),
      }));
      const dir = join(root, 'try');
      for (let i = 1; i <= this.options.frames; i++) {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        const victims = new Set<number>();
        const count = this.prng.int(1, 2);
        for (let k = 0; k < count; k++) victims.add(this.prng.int(0, files.length - 1));
        for (const [index, file] of files.entries()) {
          if (!victims.has(index)) {
            writeFileSync(join(dir, file.name), file.bytes);
            continue;
          }
          if (this.prng.chance(0.05)) continue; // The file is lost.
          writeFileSync(join(dir, file.name), mutate(file.bytes, this.prng));
        }
        await this.recoverOne(dir, written, i);
        if (i % 100 === 0) this.sampleRss();
        this.progress(i);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  private async recoverOne(
    dir: string,
    written: Map<number, Entry>,
    attempt: number,
  ): Promise<void> {
    const store = new SegmentedLogStore({
      dir,
      fsync: 'never',
      damagedRecords: 'report',
      verifyClosedSegments: true,
    });
    let recovered: Awaited<ReturnType<SegmentedLogStore['open']>>;
    try {
      recovered = await store.open();
    } catch (error) {
      if (isClearStorageError(error)) this.refused++;
      else this.crash(`damaged log ${attempt}: open: ${describe(error)}`);
      return;
    }
    this.accepted++;
    try {
      const damaged = store.damagedRanges();
      const isDamaged = (seq: number) => damaged.some((r) => seq >= r.fromSeq && seq <= r.toSeq);
      for (const range of damaged) this.damagedReported += range.toSeq - range.fromSeq + 1;
      let seq = recovered.firstSeq;
      while (seq <= recovered.lastSeq) {
        if (isDamaged(seq)) {
          seq++;
          continue;
        }
        // Up to the next damaged seq, in as few reads as the store allows.
        let toSeq = seq;
        while (toSeq < recovered.lastSeq && !isDamaged(toSeq + 1)) toSeq++;
        let entries: Entry[];
        try {
          entries = await store.read(seq, toSeq, LIMITS.maxRetransmitBytes);
        } catch (error) {
          if (isClearStorageError(error)) {
            // A later read found damage open() did not report: found, not corrupt.
            this.damagedReported++;
            seq++;
            continue;
          }
          this.crash(`damaged log ${attempt}: read ${seq}: ${describe(error)}`);
          return;
        }
        if (entries.length === 0) {
          this.crash(`damaged log ${attempt}: read ${seq}..${toSeq} returned nothing`);
          return;
        }
        for (const entry of entries) {
          const original = written.get(entry.seq);
          if (entry.seq !== seq || original === undefined || !sameEntry(entry, original)) {
            this.corruptRecords++;
            if (this.corruptRecords <= 5)
              this.crash(
                `damaged log ${attempt}: seq ${seq} came back different from what was written`,
              );
          }
          seq++;
        }
      }
    } finally {
      await store.close().catch(() => {});
    }
  }
}

// ------------------------------------------------------------------ edges

/** The client edge without sockets: frames go straight into the node's client server. */
class FuzzClientSocket implements ClientFrameSocket {
  private onFrames: ((frames: Buffer[]) => void) | null = null;
  private readonly probeId = Buffer.from('fuzz-probe');
  private probeRequestId = 0;
  private probeWaiter: { requestId: number; resolve: () => void } | null = null;

  async start(onFrames: (frames: Buffer[]) => void): Promise<void> {
    this.onFrames = onFrames;
  }

  send(frames: Uint8Array[], onLeft?: (sent: boolean) => void): boolean {
    const [client, body] = frames;
    onLeft?.(true);
    if (client === undefined || body === undefined) return true;
    if (Buffer.compare(Buffer.from(client), this.probeId) !== 0) return true;
    const response = ordo.ClientResponse.decode(body);
    const waiter = this.probeWaiter;
    if (waiter !== null && response.status && Number(response.requestId) === waiter.requestId) {
      this.probeWaiter = null;
      waiter.resolve();
    }
    return true;
  }

  close(): void {}

  deliver(frames: Buffer[]): void {
    this.onFrames?.(frames);
  }

  /** Asks the node for its status; false when it did not answer within `timeoutMs`. */
  probe(timeoutMs: number): Promise<boolean> {
    const requestId = ++this.probeRequestId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.probeWaiter = null;
        resolve(false);
      }, timeoutMs);
      this.probeWaiter = {
        requestId,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.deliver([
        this.probeId,
        Buffer.from(ordo.ClientRequest.encode({ requestId, status: {} }).finish()),
      ]);
    });
  }
}

/**
 * The peer edge without sockets: frames go through the real PeerTransport's
 * router path (routing id, body; decode, validate, bad-sender tracking) into
 * the node; what the node sends to its peers is dropped.
 */
class FuzzPeerLink implements PeerLink {
  readonly counters: PeerLinkCounters;
  private readonly transport: PeerTransport;
  private onMessage: ((message: NodeMessage) => void) | null = null;

  constructor(config: ClusterConfig) {
    const self = config.nodes[0]!;
    this.transport = new PeerTransport(
      config.clusterId,
      self,
      config.nodes.slice(1),
      NO_FAULTS,
      silentLogger(),
    );
    this.counters = this.transport.counters;
  }

  async start(onMessage: (message: NodeMessage) => void): Promise<void> {
    this.onMessage = onMessage;
  }

  send(): void {}

  async close(): Promise<void> {}

  closeTransport(): void {
    void this.transport.close();
  }

  deliver(frames: Buffer[]): void {
    if (this.onMessage !== null) this.transport.receiveRouterMessage(frames, this.onMessage);
  }
}

// ------------------------------------------------------------------ input

interface FrameSource {
  next(): Buffer[];
}

/** Valid client requests of every type, then mutated; from a few client connections. */
class ClientInput implements FrameSource {
  private readonly clients = Array.from({ length: 8 }, (_, i) => Buffer.from(`client-${i}`));
  private readonly producerSeqs = new Map<string, number>();
  private newProducers = 0;

  constructor(private readonly prng: Prng) {}

  next(): Buffer[] {
    const client = this.prng.pick(this.clients);
    const body = Buffer.from(ordo.ClientRequest.encode(this.request()).finish());
    return shapeFrames(this.prng, [client], body);
  }

  private request(): ordo.ClientRequest.$Properties {
    const p = this.prng;
    const requestId = p.int(0, 1000);
    switch (p.int(0, 9)) {
      case 0:
      case 1:
      case 2: {
        // Half from new producers (their first message is always in order),
        // half from a few that go on (out of order once a frame was mangled).
        const producerId = p.chance(0.5)
          ? `new-producer-${++this.newProducers}`
          : `producer-${p.int(0, 3)}`;
        const first = (this.producerSeqs.get(producerId) ?? 0) + (p.chance(0.9) ? 1 : p.int(0, 3));
        const count = p.int(1, 5);
        if (!producerId.startsWith('new-')) this.producerSeqs.set(producerId, first + count - 1);
        return {
          requestId,
          publish: {
            producerId,
            ackMode: p.int(0, 2),
            items: Array.from({ length: count }, (_, i) => ({
              producerSeq: first + i,
              topic: p.pick(['orders', 'audit', 't']),
              payload: randomBytes(p, p.int(0, 64)),
            })),
          },
        };
      }
      case 3:
        return {
          requestId,
          subscribe: {
            subscriptionId: p.int(1, 100),
            fromSeq: p.chance(0.8) ? 0 : p.int(1, 50),
            topics: p.chance(0.5) ? [] : ['orders'],
            // Small windows: a subscriber that never acknowledges costs one window.
            windowEntries: p.chance(0.9) ? p.int(0, 256) : p.int(0, 20_000),
            includeControl: p.chance(0.5),
          },
        };
      case 4:
        return {
          requestId,
          subscriberAck: { subscriptionId: p.int(1, 100), ackedSeq: p.int(0, 1000) },
        };
      case 5:
        return {
          requestId,
          subscriberNack: { subscriptionId: p.int(1, 100), fromSeq: p.int(0, 1000) },
        };
      case 6:
        return p.chance(0.5)
          ? { requestId, unsubscribe: { subscriptionId: p.int(1, 100) } }
          : { requestId, status: {} };
      case 7:
        return { requestId, transferLeader: { targetId: p.pick(['n1', 'n2', '']) } };
      case 8:
        return {
          requestId,
          replicaReport: {
            replicaId: `replica-${p.int(0, 3)}`,
            plugin: 'kv',
            appliedSeq: p.int(0, 1000),
            digestSeq: p.int(0, 1000),
            digest: randomBytes(p, 8).toString('hex'),
          },
        };
      default:
        return p.chance(0.5)
          ? {
              requestId,
              putSnapshotChunk: {
                plugin: 'kv',
                replicaId: 'replica-0',
                seq: p.int(0, 1000),
                digest: p.chance(0.5) ? 'd' : randomBytes(p, 32).toString('hex'),
                totalBytes: p.int(0, 1024),
                chunkBytes: p.int(0, 512),
                index: p.int(0, 3),
                data: randomBytes(p, p.int(0, 256)),
                sha256: randomBytes(p, p.pick([0, 32])),
                probe: p.chance(0.3),
              },
            }
          : {
              requestId,
              getSnapshotChunk: {
                plugin: p.pick(['kv', 'other']),
                seq: p.int(0, 1000),
                index: p.int(0, 3),
                describe: p.chance(0.5),
              },
            };
    }
  }
}

/**
 * Valid node-to-node envelopes of every type, then mutated. The fuzzer
 * plays the other two members: its appends extend a log of its own, so
 * that many are taken and written; others conflict with it.
 */
class PeerInput implements FrameSource {
  private epoch = 1;
  /** Epoch of each seq of the fuzzer's log (index = seq; 0 unused). */
  private readonly epochs: number[] = [0];
  private timestampMs = 1;

  constructor(
    private readonly prng: Prng,
    /** The node's last seq: like a sequencer, the fuzzer appends from where the node is. */
    private readonly nodeLastSeq: () => number,
  ) {}

  next(): Buffer[] {
    const p = this.prng;
    // Mostly a new connection per frame, so that the node decodes it (a
    // connection that sent bad frames is ignored); some from a few
    // connections that end up ignored.
    const sender = p.chance(0.8) ? randomBytes(p, 5) : Buffer.from(`link-${p.int(0, 3)}`);
    return shapeFrames(p, [sender], Buffer.from(encodePeerMessage('fuzz', this.message())));
  }

  private message(): NodeMessage {
    const p = this.prng;
    const from: NodeId = p.chance(0.95) ? p.pick(['n2', 'n3']) : p.pick(['n1', 'n9', '']);
    const epoch = p.chance(0.9) ? this.epoch : p.int(0, this.epoch + 2);
    // The node takes the highest epoch it hears of: the fuzzer's appends follow it.
    this.epoch = Math.max(this.epoch, epoch);
    switch (p.int(0, 9)) {
      case 0:
      case 1:
      case 2:
      case 3: {
        if (p.chance(0.02)) this.epoch++;
        const prevSeq = Math.min(this.epochs.length - 1, this.nodeLastSeq());
        const prevEpoch = this.epochs[prevSeq]!;
        this.epochs.length = prevSeq + 1;
        const entries: Entry[] = [];
        for (let i = 0, n = p.int(0, 4); i < n; i++) {
          const seq = prevSeq + i + 1;
          this.timestampMs += p.int(0, 5);
          entries.push({
            seq,
            epoch: this.epoch,
            kind: EntryKind.data,
            producerId: `producer-${p.int(0, 3)}`,
            producerSeq: seq,
            topic: 'orders',
            payload: randomBytes(p, p.int(0, 64)),
            timestampMs: this.timestampMs,
          });
        }
        for (const entry of entries) this.epochs.push(entry.epoch);
        return {
          type: 'append',
          epoch: this.epoch,
          from: 'n2',
          prevSeq,
          prevEpoch,
          entries,
          commitSeq: p.int(0, this.epochs.length - 1),
        };
      }
      case 4:
        return {
          type: 'ack',
          epoch,
          from,
          matchSeq: p.int(0, this.epochs.length - 1 + 2),
          reject: p.chance(0.2),
          hintSeq: p.int(0, this.epochs.length - 1),
          hintEpoch: p.int(0, this.epoch),
        };
      case 5:
        return { type: 'nack', epoch, from, fromSeq: p.int(0, 50), toSeq: p.int(0, 100) };
      case 6:
        return {
          type: 'voteRequest',
          epoch: epoch + p.int(0, 1),
          from,
          lastSeq: p.int(0, this.epochs.length - 1 + 2),
          lastEpoch: p.int(0, this.epoch),
          preVote: p.chance(0.5),
          transfer: p.chance(0.1),
        };
      case 7:
        return p.chance(0.5)
          ? { type: 'voteResponse', epoch, from, granted: p.chance(0.5), preVote: p.chance(0.5) }
          : { type: 'timeoutNow', epoch, from };
      case 8:
        return { type: 'repairRequest', epoch, from, fromSeq: p.int(0, 50), toSeq: p.int(0, 100) };
      default:
        return {
          type: 'repairResponse',
          epoch,
          from,
          fromSeq: 1,
          toSeq: 2,
          entries: [],
          firstSeq: 1,
          lastSeq: p.int(0, this.epochs.length - 1),
          copyDigest: repairCopyDigest([]),
        };
    }
  }
}

/** The frames of one message: mostly `[...prefix, body]`, mutated; sometimes other shapes. */
function shapeFrames(p: Prng, prefix: Buffer[], valid: Buffer): Buffer[] {
  const roll = p.next();
  if (roll < 0.3) return [...prefix, valid];
  if (roll < 0.85) return [...prefix, mutate(valid, p)];
  if (roll < 0.93) return [...prefix, randomBytes(p, p.int(0, 256))];
  if (roll < 0.96) return prefix;
  return [...prefix, valid, randomBytes(p, p.int(0, 16))];
}

/** One to four random edits of a buffer: bit flips, bytes set, cuts, insertions, splices. */
export function mutate(bytes: Buffer, p: Prng): Buffer {
  let out = Buffer.from(bytes);
  for (let n = p.int(1, 4); n > 0; n--) {
    const at = out.length === 0 ? 0 : p.int(0, out.length - 1);
    switch (p.int(0, 7)) {
      case 0:
        if (out.length > 0) out[at] = out[at]! ^ (1 << p.int(0, 7));
        break;
      case 1:
        if (out.length > 0) out[at] = p.pick([0x00, 0xff, 0x7f, 0x80, 0x01, p.int(0, 255)]);
        break;
      case 2:
        out = out.subarray(0, at);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), randomBytes(p, p.int(1, 16)), out.subarray(at)]);
        break;
      case 4: {
        const end = Math.min(out.length, at + p.int(1, 32));
        out = Buffer.concat([out.subarray(0, at), out.subarray(end)]);
        break;
      }
      case 5: {
        // A huge varint where a length or number was.
        const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        out = Buffer.concat([out.subarray(0, at), huge, out.subarray(at + 1)]);
        break;
      }
      case 6: {
        const from = p.int(0, Math.max(0, out.length - 1));
        const chunk = out.subarray(from, from + p.int(1, 64));
        out = Buffer.concat([out.subarray(0, at), chunk, out.subarray(at)]);
        break;
      }
      default:
        if (out.length > 0) randomBytes(p, Math.min(8, out.length - at)).copy(out, at);
    }
  }
  return out;
}

function randomBytes(p: Prng, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = p.int(0, 255);
  return out;
}

// --------------------------------------------------------------- storage

/** A log of a few hundred entries over several segments; returns what was written, by seq. */
async function writeBaseLog(dir: string, p: Prng): Promise<Map<number, Entry>> {
  const store = new SegmentedLogStore({ dir, fsync: 'never', segmentBytes: 8 * 1024 });
  await store.open();
  const written = new Map<number, Entry>();
  let timestampMs = 1;
  for (let seq = 1; seq <= 300; ) {
    const batch: Entry[] = [];
    for (let i = 0; i < 10; i++, seq++) {
      timestampMs += p.int(0, 3);
      const entry: Entry = {
        seq,
        epoch: seq < 150 ? 1 : 2,
        kind: EntryKind.data,
        producerId: `producer-${p.int(0, 3)}`,
        producerSeq: seq,
        topic: 'orders',
        payload: randomBytes(p, p.int(0, 100)),
        timestampMs,
      };
      batch.push(entry);
      written.set(seq, entry);
    }
    await store.write(null, batch);
  }
  await store.close();
  return written;
}

function sameEntry(a: Entry, b: Entry): boolean {
  return (
    a.seq === b.seq &&
    a.epoch === b.epoch &&
    a.kind === b.kind &&
    a.producerId === b.producerId &&
    a.producerSeq === b.producerSeq &&
    a.topic === b.topic &&
    a.timestampMs === b.timestampMs &&
    Buffer.compare(Buffer.from(a.payload), Buffer.from(b.payload)) === 0
  );
}

/** The errors a damaged log is refused with: named, clear, not a crash. */
function isClearStorageError(error: unknown): boolean {
  const name = (error as Error | null)?.name;
  return (
    name === 'CorruptLogError' ||
    name === 'DamagedRecordError' ||
    name === 'LogStoreUnavailableError' ||
    name === 'CorruptMetaError'
  );
}

// ------------------------------------------------------------------ misc

function fuzzConfig(dataDir: string, nodes: number): ClusterConfig {
  return parseClusterConfig({
    clusterId: 'fuzz',
    fsync: 'never',
    dataDir,
    nodes: Array.from({ length: nodes }, (_, i) => ({
      id: `n${i + 1}`,
      host: '127.0.0.1',
      clientPort: 20_000 + 3 * i,
      peerPort: 20_001 + 3 * i,
      pubPort: 20_002 + 3 * i,
    })),
  });
}

function scratchDir(): string {
  const shm = '/dev/shm';
  return existsSync(shm) ? shm : tmpdir();
}

function silentLogger(): Logger {
  const nothing = () => {};
  return {
    error: nothing,
    warn: nothing,
    info: nothing,
    debug: nothing,
    log: nothing,
  } as unknown as Logger;
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}
