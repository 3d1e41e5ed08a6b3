import { open } from 'node:fs/promises';
import { LIMITS } from '../../src/limits.js';
import {
  chunkChecksum,
  chunkCount,
  chunkLength,
  chunkProblem,
} from '../../src/storage/snapshot-chunks.js';
import type { ordo } from '../../src/wire/schema.js';
import { backoffMs } from '../backoff.js';
import { BrokerConnection } from '../broker-connection.js';
import type { ClientRuntime } from '../client-runtime.js';
import type { StateDigest } from './digest.js';
import { SnapshotError } from './replica-errors.js';
import type { ReplicaLogger } from './replica-logger.js';
import { readSnapshotFileLayout, type SnapshotRecord } from './snapshot-file.js';
import type { SnapshotStore } from './snapshot-store.js';

interface Link {
  readonly endpoint: string;
  readonly connection: BrokerConnection;
  /** Requests sent and not yet answered or timed out; bounded by LIMITS.maxPendingReplicaRequests. */
  pending: number;
  /** An upload loop runs for this broker. */
  uploading: boolean;
  /** Seq of the newest snapshot this broker stores (or refused for good) from this replica. */
  uploadedSeq: number;
}

interface OfferedSnapshot {
  readonly seq: number;
  readonly digest: string;
  readonly path: string;
}

/** What a snapshot download tells its caller as it goes. */
export interface DownloadHooks {
  readonly onStart?: (info: {
    seq: number;
    fromIndex: number;
    chunks: number;
    endpoint: string;
  }) => void;
  /** A chunk failed its checks and is fetched again. */
  readonly onRefusedChunk?: (index: number, problem: string) => void;
  /** `written` chunks are in the partial file; the download waits for the returned promise. */
  readonly onChunk?: (written: number) => Promise<void> | void;
}

/** Where a broker says this replica's digest differs from another replica's. */
export interface DivergenceReport {
  readonly atSeq: number;
  readonly endpoint: string;
}

/**
 * A replica's requests to the brokers (not its subscription): progress and
 * digest reports, snapshot uploads for late joiners, downloading such a
 * snapshot, and asking whether a broker found this replica diverged.
 * Reports and uploads go to every broker, so that each one can compare every
 * replica's digests whichever broker each replica reads from, and a late
 * joiner finds a snapshot on any surviving broker. Nothing here blocks the
 * apply loop: uploads run in the background within bounded windows.
 */
export class BrokerChannel {
  private readonly links: Link[];
  private nextStatusLink = 0;
  /** Told when a broker stores a snapshot this replica uploaded. */
  onStored: ((seq: number, endpoint: string) => void) | null = null;
  /** The newest snapshot offered for upload. */
  private offered: OfferedSnapshot | null = null;
  private closed = false;
  private readonly wakeUploads = new Set<() => void>();

  constructor(
    brokers: readonly string[],
    private readonly plugin: string,
    private readonly replicaId: string,
    private readonly logger: ReplicaLogger,
    private readonly requestTimeoutMs = 2000,
    runtime: ClientRuntime = {},
  ) {
    this.links = brokers.map((endpoint) => ({
      endpoint,
      connection: new BrokerConnection(endpoint, { runtime }),
      pending: 0,
      uploading: false,
      uploadedSeq: 0,
    }));
  }

  /** Tells every broker how far this replica applied and its latest digest. */
  report(appliedSeq: number, latest: StateDigest | null): void {
    const replicaReport = {
      replicaId: this.replicaId,
      plugin: this.plugin,
      appliedSeq,
      digestSeq: latest?.seq ?? 0,
      digest: latest?.digest ?? '',
    };
    for (const link of this.links) this.send(link, { replicaReport }, 'report');
  }

  /**
   * Offers a snapshot (saved at `path` in the data folder) to every broker
   * for replicas that join after the log prefix is gone: each broker gets it
   * uploaded in chunks, in the background, one upload at a time per broker.
   * A newer offer supersedes one not yet uploaded; an interrupted upload is
   * resumed from the chunk the broker lacks.
   */
  offerSnapshot(record: Omit<SnapshotRecord, 'data'>, path: string): void {
    if (this.offered !== null && this.offered.seq >= record.seq) return;
    this.offered = { seq: record.seq, digest: record.digest, path };
    for (const link of this.links) if (!link.uploading) void this.uploadLoop(link);
  }

  private async uploadLoop(link: Link): Promise<void> {
    link.uploading = true;
    try {
      for (let attempt = 0; !this.closed; ) {
        const offer = this.offered;
        if (offer === null || offer.seq <= link.uploadedSeq) return;
        try {
          if (await this.uploadTo(link, offer)) link.uploadedSeq = offer.seq;
          attempt = 0;
        } catch (error) {
          if (this.closed) return;
          const pauseMs = backoffMs(attempt++, 200, 5000);
          this.logger.debug(
            `snapshot upload at seq ${offer.seq} to ${link.endpoint} interrupted (${(error as Error).message}); resuming in ${pauseMs} ms`,
          );
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, pauseMs);
            this.wakeUploads.add(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
      }
    } finally {
      link.uploading = false;
    }
  }

  /**
   * Uploads one snapshot file to one broker from the chunk it lacks on,
   * streaming chunks from the file within a window of
   * LIMITS.snapshotChunksInFlight. True when the broker stores it (or
   * refused it for good), false when a newer offer superseded it.
   */
  private async uploadTo(link: Link, offer: OfferedSnapshot): Promise<boolean> {
    const handle = await open(offer.path, 'r');
    try {
      const layout = await readSnapshotFileLayout(handle);
      if (layout.seq !== offer.seq || layout.digest !== offer.digest)
        throw new SnapshotError(`${offer.path} does not hold the snapshot at seq ${offer.seq}`);
      const chunkBytes = LIMITS.snapshotChunkBytes;
      const count = chunkCount(layout.dataBytes, chunkBytes);
      const base = {
        plugin: this.plugin,
        replicaId: this.replicaId,
        seq: offer.seq,
        digest: offer.digest,
        totalBytes: layout.dataBytes,
        chunkBytes,
      };
      const read = async (index: number): Promise<Uint8Array> => {
        const data = Buffer.allocUnsafe(chunkLength(layout.dataBytes, chunkBytes, index));
        const { bytesRead } = await handle.read(
          data,
          0,
          data.length,
          layout.dataOffset + index * chunkBytes,
        );
        if (bytesRead !== data.length)
          throw new SnapshotError(`${offer.path} is shorter than its snapshot`);
        return data;
      };
      const put = async (
        index: number,
        data: Uint8Array | null,
      ): Promise<ordo.ISnapshotUploadState> => {
        const probe = data === null;
        const response = await link.connection.request(
          {
            putSnapshotChunk: {
              ...base,
              index,
              probe,
              data: data ?? new Uint8Array(),
              sha256: data === null ? new Uint8Array() : chunkChecksum(data),
            },
          },
          LIMITS.snapshotChunkTimeoutMs,
        );
        if (response.body !== 'snapshotUpload' || response.snapshotUpload == null)
          throw new Error(`${link.endpoint} answered a snapshot chunk with ${response.body}`);
        return response.snapshotUpload;
      };
      let state = await put(0, null);
      if ((state.nextIndex ?? 0) > 0)
        this.logger.info(
          `resuming the upload of the snapshot at seq ${offer.seq} to ${link.endpoint} at chunk ${state.nextIndex} of ${count}`,
        );
      for (;;) {
        if (state.refused) {
          this.logger.info(
            `${link.endpoint} does not store the snapshot at seq ${offer.seq}: ${state.refused}`,
          );
          return true;
        }
        if (state.complete) {
          this.logger.info(`snapshot at seq ${offer.seq} stored on ${link.endpoint}`);
          this.onStored?.(offer.seq, link.endpoint);
          return true;
        }
        if (this.closed) throw new Error('closed');
        if ((this.offered?.seq ?? 0) > offer.seq) return false;
        if ((state.nextIndex ?? 0) >= count) {
          // The broker holds every chunk but stored nothing (a newer snapshot
          // superseded this one there): nothing is left to send, and going
          // round again would spin without awaiting anything.
          this.logger.info(
            `${link.endpoint} holds every chunk of the snapshot at seq ${offer.seq} but did not store it`,
          );
          return true;
        }
        // A window of chunks from the one the broker lacks; the answers come in order.
        let next = state.nextIndex ?? 0;
        const inFlight: Promise<ordo.ISnapshotUploadState>[] = [];
        let stop = false;
        while (!stop && (inFlight.length > 0 || next < count)) {
          // Read before sending, so that the chunks leave in order.
          while (inFlight.length < LIMITS.snapshotChunksInFlight && next < count) {
            const index = next++;
            inFlight.push(put(index, await read(index)));
          }
          state = await inFlight.shift()!;
          if (state.refused || state.complete || state.problem) stop = true;
        }
        await Promise.allSettled(inFlight);
        if (state.problem) {
          this.logger.warn(
            `${link.endpoint} refused a snapshot chunk (${state.problem}); sending again from the chunk it lacks`,
          );
          state = await put(0, null);
        }
      }
    } finally {
      await handle.close();
    }
  }

  /**
   * Downloads the newest snapshot of this plugin any broker stores, if it is
   * at `minSeq` or later, into the snapshot folder (resuming a partial
   * download of the same snapshot), chunk by chunk within a window of
   * LIMITS.snapshotChunksInFlight, each chunk checked against its SHA-256
   * and fetched again when damaged, the whole against its digest. Resolves
   * with the saved file's path and the seq, or the best seq seen (null: none).
   */
  async fetchSnapshot(
    store: SnapshotStore,
    minSeq: number,
    hooks: DownloadHooks = {},
  ): Promise<
    { readonly path: string; readonly record: SnapshotRecord } | { readonly bestSeq: number | null }
  > {
    const described = await Promise.all(
      this.links.map(async (link) => {
        try {
          const response = await link.connection.request(
            { getSnapshotChunk: { plugin: this.plugin, seq: 0, index: 0, describe: true } },
            this.requestTimeoutMs,
          );
          const c = response.snapshotChunk;
          if (response.body !== 'snapshotChunk' || c == null || !c.found) return null;
          if (
            c.plugin !== this.plugin ||
            (c.seq ?? 0) < 1 ||
            !/^[0-9a-f]{64}$/.test(c.digest ?? '')
          )
            return null;
          return {
            link,
            seq: c.seq ?? 0,
            digest: c.digest ?? '',
            totalBytes: c.totalBytes ?? 0,
            chunkBytes: c.chunkBytes ?? 0,
          };
        } catch (error) {
          this.logger.debug(`no snapshot from ${link.endpoint}: ${(error as Error).message}`);
          return null;
        }
      }),
    );
    const offers = described.filter((d) => d !== null).sort((a, b) => b.seq - a.seq);
    const best = offers[0];
    if (best === undefined || best.seq < minSeq) return { bestSeq: best?.seq ?? null };
    for (const source of offers.filter((o) => o.seq === best.seq && o.digest === best.digest)) {
      try {
        return await this.download(store, source, hooks);
      } catch (error) {
        this.logger.warn(
          `snapshot download at seq ${source.seq} from ${source.link.endpoint} failed: ${(error as Error).message}`,
        );
      }
    }
    return { bestSeq: null };
  }

  private async download(
    store: SnapshotStore,
    source: {
      link: Link;
      seq: number;
      digest: string;
      totalBytes: number;
      chunkBytes: number;
    },
    hooks: DownloadHooks,
  ): Promise<{ readonly path: string; readonly record: SnapshotRecord }> {
    const { link, seq, digest, totalBytes, chunkBytes } = source;
    if (chunkBytes < 1 || chunkBytes > LIMITS.snapshotChunkBytes)
      throw new SnapshotError(`${link.endpoint} offers chunks of ${chunkBytes} bytes`);
    const download = await store.openDownload(
      { plugin: this.plugin, seq, digest },
      totalBytes,
      chunkBytes,
    );
    const count = download.chunkCount;
    hooks.onStart?.({
      seq,
      fromIndex: download.resumedFrom,
      chunks: count,
      endpoint: link.endpoint,
    });
    const get = (index: number) =>
      link.connection.request(
        { getSnapshotChunk: { plugin: this.plugin, seq, index, describe: false } },
        LIMITS.snapshotChunkTimeoutMs,
      );
    const requested = new Map<number, ReturnType<typeof get>>();
    try {
      let retries = 0;
      for (let index = download.nextIndex; index < count; ) {
        for (let i = index; i < Math.min(count, index + LIMITS.snapshotChunksInFlight); i++)
          if (!requested.has(i)) requested.set(i, get(i));
        const response = await requested.get(index)!;
        requested.delete(index);
        const c = response.snapshotChunk;
        if (response.body !== 'snapshotChunk' || c == null)
          throw new Error(`${link.endpoint} answered a chunk request with ${response.body}`);
        if (!c.found || c.seq !== seq || c.digest !== digest)
          throw new SnapshotError(`${link.endpoint} no longer stores the snapshot at seq ${seq}`);
        const data = c.data ?? new Uint8Array();
        const problem = chunkProblem(
          totalBytes,
          chunkBytes,
          index,
          data,
          c.sha256 ?? new Uint8Array(),
        );
        if (problem !== null) {
          this.logger.warn(
            `snapshot chunk from ${link.endpoint} refused: ${problem}; fetching it again`,
          );
          hooks.onRefusedChunk?.(index, problem);
          if (++retries > LIMITS.snapshotChunkRetries)
            throw new SnapshotError(`chunk ${index} failed its check ${retries} times`);
          continue;
        }
        retries = 0;
        await download.write(index, data);
        index++;
        await hooks.onChunk?.(index);
      }
    } finally {
      // Answers still on the way are not needed any more.
      for (const pending of requested.values()) pending.catch(() => {});
      if (download.nextIndex < count) await download.close();
    }
    return download.finish();
  }

  /**
   * Asks one broker (the next in turn that answers) whether it found this
   * replica's digest differing from another replica's; null when none
   * answered or it did not.
   */
  async divergence(): Promise<DivergenceReport | null> {
    for (let i = 0; i < this.links.length; i++) {
      const link = this.links[this.nextStatusLink++ % this.links.length]!;
      try {
        const response = await link.connection.request({ status: {} }, this.requestTimeoutMs);
        const mine = response.status?.replicas?.find((r) => r.replicaId === this.replicaId);
        if (mine === undefined || mine === null) return null;
        return mine.diverged ? { atSeq: mine.divergedAtSeq ?? 0, endpoint: link.endpoint } : null;
      } catch {
        // That broker is down: ask the next.
      }
    }
    return null;
  }

  close(): void {
    this.closed = true;
    for (const wake of this.wakeUploads) wake();
    this.wakeUploads.clear();
    for (const link of this.links) link.connection.close();
  }

  private send(link: Link, body: Parameters<BrokerConnection['request']>[0], what: string): void {
    if (link.pending >= LIMITS.maxPendingReplicaRequests) return;
    link.pending++;
    link.connection.request(body, this.requestTimeoutMs).then(
      () => {
        link.pending--;
      },
      (error: Error) => {
        link.pending--;
        this.logger.debug(`${what} to ${link.endpoint} failed: ${error.message}`);
      },
    );
  }
}
