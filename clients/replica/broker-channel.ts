import { LIMITS } from '../../src/limits.js';
import { BrokerConnection } from '../broker-connection.js';
import type { ClientRuntime } from '../client-runtime.js';
import { digestOf, type StateDigest } from './digest.js';
import type { ReplicaLogger } from './replica-logger.js';
import type { SnapshotRecord } from './snapshot-file.js';

interface Link {
  readonly endpoint: string;
  readonly connection: BrokerConnection;
  /** Requests sent and not yet answered or timed out; bounded by LIMITS.maxPendingReplicaRequests. */
  pending: number;
}

/** Where a broker says this replica's digest differs from another replica's. */
export interface DivergenceReport {
  readonly atSeq: number;
  readonly endpoint: string;
}

/**
 * A replica's requests to the brokers (not its subscription): progress and
 * digest reports, snapshot offers for late joiners, fetching such a
 * snapshot, and asking whether a broker found this replica diverged.
 * Reports and offers go to every broker, so that each one can compare every
 * replica's digests whichever broker each replica reads from, and a late
 * joiner finds a snapshot on any surviving broker. Nothing here waits: a
 * broker that does not answer only costs bounded pending requests.
 */
export class BrokerChannel {
  private readonly links: Link[];
  private nextStatusLink = 0;
  private warnedTooLarge = false;

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

  /** Offers a snapshot to every broker for replicas that join after the log prefix is gone. */
  offerSnapshot(record: SnapshotRecord): void {
    if (record.data.length > LIMITS.maxSharedSnapshotBytes) {
      if (!this.warnedTooLarge) {
        this.warnedTooLarge = true;
        this.logger.warn(
          `snapshot of ${record.data.length} bytes exceeds the ${LIMITS.maxSharedSnapshotBytes}-byte limit for sharing through the brokers: late joiners cannot start from it`,
        );
      }
      return;
    }
    const putSnapshot = {
      plugin: this.plugin,
      seq: record.seq,
      digest: record.digest,
      data: record.data,
      replicaId: this.replicaId,
    };
    for (const link of this.links) this.send(link, { putSnapshot }, 'snapshot offer');
  }

  /** The newest intact snapshot of this plugin any broker holds, or null. */
  async fetchSnapshot(): Promise<SnapshotRecord | null> {
    const answers = await Promise.all(
      this.links.map(async (link) => {
        try {
          const response = await link.connection.request(
            { getSnapshot: { plugin: this.plugin } },
            this.requestTimeoutMs,
          );
          const s = response.snapshot;
          if (response.body !== 'snapshot' || s === null || s === undefined || !s.found)
            return null;
          const data = s.data ?? new Uint8Array();
          if (s.plugin !== this.plugin || (s.seq ?? 0) < 1 || digestOf(data) !== s.digest) {
            this.logger.warn(
              `${link.endpoint} offered a snapshot that does not match its digest or plugin; ignored`,
            );
            return null;
          }
          return { plugin: this.plugin, seq: s.seq ?? 0, digest: s.digest ?? '', data };
        } catch (error) {
          this.logger.debug(`no snapshot from ${link.endpoint}: ${(error as Error).message}`);
          return null;
        }
      }),
    );
    let best: SnapshotRecord | null = null;
    for (const answer of answers)
      if (answer !== null && (best === null || answer.seq > best.seq)) best = answer;
    return best;
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
