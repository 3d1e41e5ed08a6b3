import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { EntryKind, type PeerMessage, type Ready, Role } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { ORDO_VERSION } from '../runtime/version.js';
import type { ordo } from '../wire/schema.js';
import type { NodeMetrics } from './node-metrics.js';
import { WeightedHistogram } from './weighted-histogram.js';

type StatusSource = () => ordo.NodeStatus.$Properties;

const ROLES = [Role.follower, Role.preCandidate, Role.candidate, Role.leader] as const;

/** Latency buckets in seconds, from 50 µs to 5 s. */
const LATENCY_BUCKETS_S = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  5,
];
/** Metrics collected within this long of each other share one reading of the node's status. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/**
 * One node's metrics in the Prometheus format, kept by prom-client in a
 * registry of its own. Event counts and latencies come from the node's
 * Readys and peer messages; levels (epoch, role, lag, queue depths) are read
 * from the node's status when scraped.
 */
export class PrometheusNodeMetrics implements NodeMetrics {
  readonly registry = new Registry();
  private status: StatusSource | null = null;
  /** Sequencer batches appended but not yet committed: last seq and when it was appended. */
  private uncommitted: { lastSeq: number; count: number; appendedMs: number }[] = [];
  private uncommittedHead = 0;
  private uncommittedEntries = 0;
  /** The status read by the scrape under way; undefined until its first gauge asks. */
  private scrapeStatus: ordo.NodeStatus.$Properties | undefined = undefined;

  private readonly publishes: Counter;
  private readonly committed: Counter;
  private readonly batchEntries: Histogram;
  private readonly nacksSent: Counter;
  private readonly nacksServed: Counter;
  private readonly retransmissions: Counter<'source'>;
  private readonly electionsStarted: Counter;
  private readonly electionsWon: Counter;
  private readonly repairs: Counter<'kind'>;
  private readonly fsyncSeconds: Histogram;
  private readonly publishToCommitSeconds: WeightedHistogram;

  constructor(nodeId: string) {
    const r = this.registry;
    r.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: r, prefix: 'ordo_process_' });
    const registers = [r];
    new Gauge({
      name: 'ordo_build_info',
      help: 'Always 1; the version label names the Ordo version this node runs.',
      labelNames: ['version'],
      registers,
    }).set({ version: ORDO_VERSION }, 1);
    this.publishes = new Counter({
      name: 'ordo_publishes_total',
      help: 'Messages this node sequenced as the sequencer.',
      registers,
    });
    this.committed = new Counter({
      name: 'ordo_committed_entries_total',
      help: 'Entries this node saw committed (data and epoch-start entries).',
      registers,
    });
    this.batchEntries = new Histogram({
      name: 'ordo_batch_entries',
      help: 'Entries per batch the sequencer appended and multicast.',
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.nacksSent = new Counter({
      name: 'ordo_nacks_sent_total',
      help: 'NACKs (requests for missing entries) this node sent to the sequencer.',
      registers,
    });
    this.nacksServed = new Counter({
      name: 'ordo_nacks_served_total',
      help: 'NACKs this node received while it was the sequencer.',
      registers,
    });
    this.retransmissions = new Counter({
      name: 'ordo_retransmissions_total',
      help: 'Point-to-point appends carrying entries a follower lacked (source: memory or log).',
      labelNames: ['source'],
      registers,
    });
    this.electionsStarted = new Counter({
      name: 'ordo_elections_started_total',
      help: 'Elections this node started as a candidate (pre-votes excluded).',
      registers,
    });
    this.electionsWon = new Counter({
      name: 'ordo_elections_won_total',
      help: 'Elections this node won: times it became the sequencer.',
      registers,
    });
    this.repairs = new Counter({
      name: 'ordo_log_repairs_total',
      help: 'Log repairs: a divergent uncommitted suffix removed (truncate) or the log restarted after entries the sequencer no longer holds (reset).',
      labelNames: ['kind'],
      registers,
    });
    this.fsyncSeconds = new Histogram({
      name: 'ordo_fsync_seconds',
      help: 'Duration of each fsync of the log.',
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.publishToCommitSeconds = new WeightedHistogram(
      'ordo_publish_to_commit_seconds',
      'From the sequencer appending a message to its commit by a majority.',
      LATENCY_BUCKETS_S,
      registers,
    );
    // Every label value is exported from the start, at zero until it happens.
    for (const source of ['memory', 'log']) this.retransmissions.inc({ source }, 0);
    for (const kind of ['truncate', 'reset']) this.repairs.inc({ kind }, 0);
    this.statusGauges(registers);
  }

  /** Where scrape-time levels come from (the node, once started). */
  attach(status: StatusSource): void {
    this.status = status;
  }

  observeFsyncMs(ms: number): void {
    this.fsyncSeconds.observe(ms / 1000);
  }

  onReady(ready: Ready, isLeader: boolean): void {
    const nowMs = performance.now();
    if (ready.resetLogAfter !== null) this.repairs.inc({ kind: 'reset' });
    if (ready.truncateAfter !== null) this.repairs.inc({ kind: 'truncate' });
    if (isLeader && ready.entries.length > 0) {
      // Counted, not filtered: a Ready of a saturated sequencer holds thousands of entries.
      let data = 0;
      for (const entry of ready.entries) if (entry.kind === EntryKind.data) data++;
      if (data > 0) this.publishes.inc(data);
      this.batchEntries.observe(ready.entries.length);
      this.trackAppended(ready.entries.at(-1)!.seq, ready.entries.length, nowMs);
    }
    for (const { to, message } of ready.messages) {
      if (message.type === 'nack') this.nacksSent.inc();
      else if (message.type === 'append' && to !== null && message.entries.length > 0)
        this.retransmissions.inc({ source: 'memory' });
    }
    if (ready.retransmits.length > 0)
      this.retransmissions.inc({ source: 'log' }, ready.retransmits.length);
    if (ready.committed !== null) {
      this.committed.inc(ready.committed.toSeq - ready.committed.fromSeq + 1);
      this.observeCommitted(ready.committed.toSeq, nowMs);
    }
    const change = ready.roleChange;
    if (change !== null) {
      if (change.role === Role.candidate) this.electionsStarted.inc();
      if (change.role === Role.leader) this.electionsWon.inc();
      // Entries appended by a sequencer that lost its role commit, if ever, under another one.
      if (change.role !== Role.leader) this.clearUncommitted();
    }
  }

  onPeerMessage(message: PeerMessage, isLeader: boolean): void {
    if (message.type === 'nack' && isLeader) this.nacksServed.inc();
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    // Each scrape reads the status afresh, once: a reading kept across scrapes
    // would report a commit point older than acknowledgements already sent.
    this.scrapeStatus = undefined;
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private trackAppended(lastSeq: number, count: number, appendedMs: number): void {
    // Bounded like the core's own uncommitted window: past it, the oldest are no longer timed.
    while (
      this.uncommittedEntries + count > LIMITS.maxUncommittedEntries &&
      this.pendingBatches() > 0
    )
      this.dropOldestBatch();
    this.uncommitted.push({ lastSeq, count, appendedMs });
    this.uncommittedEntries += count;
  }

  private observeCommitted(commitSeq: number, nowMs: number): void {
    while (this.pendingBatches() > 0) {
      const batch = this.uncommitted[this.uncommittedHead]!;
      if (batch.lastSeq > commitSeq) break;
      const seconds = (nowMs - batch.appendedMs) / 1000;
      this.publishToCommitSeconds.observe(seconds, batch.count);
      this.dropOldestBatch();
    }
  }

  private pendingBatches(): number {
    return this.uncommitted.length - this.uncommittedHead;
  }

  private dropOldestBatch(): void {
    this.uncommittedEntries -= this.uncommitted[this.uncommittedHead]!.count;
    this.uncommittedHead++;
    if (this.uncommittedHead > 1024 && this.uncommittedHead * 2 > this.uncommitted.length) {
      this.uncommitted = this.uncommitted.slice(this.uncommittedHead);
      this.uncommittedHead = 0;
    }
  }

  private clearUncommitted(): void {
    this.uncommitted = [];
    this.uncommittedHead = 0;
    this.uncommittedEntries = 0;
  }

  /** Gauges and counters read from the node's status at scrape time. */
  private statusGauges(registers: Registry[]): void {
    // One scrape reads the status once, not once per metric.
    const read = (): ordo.NodeStatus.$Properties | null => {
      if (this.status === null) return null;
      if (this.scrapeStatus === undefined) this.scrapeStatus = this.status();
      return this.scrapeStatus;
    };
    const level = (name: string, help: string, value: (s: ordo.NodeStatus.$Properties) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = read();
          if (s !== null) this.set(value(s));
        },
      });
    level('ordo_epoch', 'Current epoch (term) this node knows.', (s) => Number(s.epoch ?? 0));
    level('ordo_is_sequencer', '1 while this node is the sequencer, else 0.', (s) =>
      s.role === Role.leader ? 1 : 0,
    );
    level('ordo_is_witness', '1 when this node is a witness (it never leads), else 0.', (s) =>
      s.witness === true ? 1 : 0,
    );
    level(
      'ordo_witness_tail_entries',
      'On a witness: entries it holds past the seq every data voter holds (bounded by witnessTailMaxEntries).',
      (s) =>
        s.witness === true
          ? Math.max(0, Number(s.lastSeq ?? 0) - Number(s.witnessFloorSeq ?? 0))
          : 0,
    );
    level('ordo_first_seq', 'First seq this node still holds.', (s) => Number(s.firstSeq ?? 0));
    level('ordo_last_seq', "Last seq in this node's log.", (s) => Number(s.lastSeq ?? 0));
    level('ordo_commit_seq', 'Highest seq this node knows committed.', (s) =>
      Number(s.commitSeq ?? 0),
    );
    level('ordo_uncommitted_entries', 'Entries in the log above the commit point.', (s) =>
      Math.max(0, Number(s.lastSeq ?? 0) - Number(s.commitSeq ?? 0)),
    );
    level(
      'ordo_catch_up_remaining_entries',
      'How far this follower is behind the sequencer.',
      (s) => Number(s.catchUpRemaining ?? 0),
    );
    level('ordo_pending_publishes', 'Publishes waiting for their commit (queue depth).', (s) =>
      Number(s.pendingPublishes ?? 0),
    );
    level('ordo_subscribers', 'Subscribers this node serves.', (s) => (s.subscribers ?? []).length);
    level(
      'ordo_subscriber_queued_bytes',
      "Delivery bytes waiting in this node's send queue, over all subscribers.",
      (s) => Number(s.subscriberQueuedBytes ?? 0),
    );
    level(
      'ordo_uptime_seconds',
      'Seconds since this node started.',
      (s) => Number(s.uptimeMs ?? 0) / 1000,
    );
    new Gauge({
      name: 'ordo_role',
      help: '1 for the role this node has, 0 for the others.',
      labelNames: ['role'],
      registers,
      collect() {
        const s = read();
        if (s === null) return;
        for (const role of ROLES) this.set({ role }, s.role === role ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ordo_follower_lag_entries',
      help: 'On the sequencer: entries each follower lacks.',
      labelNames: ['follower'],
      registers,
      collect() {
        this.reset();
        for (const p of read()?.peers ?? [])
          this.set({ follower: p.id ?? '' }, Number(p.lagEntries ?? 0));
      },
    });
    new Gauge({
      name: 'ordo_subscriber_lag_entries',
      help: 'Committed entries each subscriber has not acknowledged yet.',
      labelNames: ['subscription'],
      registers,
      collect() {
        this.reset();
        for (const sub of read()?.subscribers ?? [])
          this.set({ subscription: String(sub.subscriptionId ?? '') }, Number(sub.lagEntries ?? 0));
      },
    });
    const total = (
      name: string,
      help: string,
      value: (s: ordo.NodeStatus.$Properties) => number,
    ) => {
      let reported = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const s = read();
          if (s === null) return;
          const now = value(s);
          if (now > reported) this.inc(now - reported);
          reported = Math.max(reported, now);
        },
      });
    };
    total(
      'ordo_bad_frames_total',
      'Frames this node rejected as malformed (peers and clients).',
      (s) => Number(s.badFrames ?? 0),
    );
    total(
      'ordo_oversized_frames_total',
      'Frames larger than the frame limit this node refused (peers and clients).',
      (s) => Number(s.oversizedFrames ?? 0),
    );
    total(
      'ordo_budget_refusals_total',
      'Client requests refused or ignored because the client spent a budget (subscriptions, publishes waiting, NACKs).',
      (s) => Number(s.budgetRefusals ?? 0),
    );
    total(
      'ordo_connections_refused_total',
      'Client handshakes refused because the node or the source address held its budget of connections.',
      (s) => Number(s.connectionsRefused ?? 0),
    );
    total(
      'ordo_log_write_failures_total',
      'Log writes that failed for want of disk space or file descriptors (the node refused publishes and tried again).',
      (s) => Number(s.logWriteFailures ?? 0),
    );
    total(
      'ordo_allocation_failures_total',
      'Frames refused because a buffer for them could not be allocated.',
      (s) => Number(s.allocationFailures ?? 0),
    );
    total(
      'ordo_commit_notices_left_out_total',
      'Commit notices the sequencer left out because the next multicast carried the commit point.',
      (s) => Number(s.commitNoticesLeftOut ?? 0),
    );
    total(
      'ordo_stale_messages_rejected_total',
      'Peer messages refused because they carried an older epoch.',
      (s) => Number(s.staleMessagesRejected ?? 0),
    );
    total(
      'ordo_peer_messages_refused_total',
      "Peer messages refused as impossible under the protocol, or sent under another node's name.",
      (s) => Number(s.peerMessagesRefused ?? 0),
    );
  }
}
