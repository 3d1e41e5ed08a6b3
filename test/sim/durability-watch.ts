import type { Entry, HardState, NodeId, NodeMessage } from '../../src/core/index.js';
import { FileMetaStore, type FileMetaStoreOptions } from '../../src/storage/file-meta-store.js';
import type { RecoveredLog } from '../../src/storage/log-store.js';
import {
  SegmentedLogStore,
  type SegmentedLogStoreOptions,
} from '../../src/storage/segmented-log-store.js';

/**
 * What one node process has durably, as its storage reported it: the log up
 * to `logSeq` (a write counts once its promise resolved, a truncation counts
 * at once) and the hard state of its last completed save. The simulator
 * checks every ack and every granted vote the node sends against it: a node
 * must never acknowledge an entry, or hand out a vote, that a crash at that
 * instant could take back. This is the property behind the end-to-end ones
 * (no acknowledged message lost, one sequencer per epoch), checked where it
 * is broken rather than where its consequence shows, seeds later.
 */
export class DurabilityWatch {
  /** Highest seq the log holds durably (0 before open). */
  logSeq = 0;
  hardState: HardState | null = null;

  /** Why sending `message` to `to` would claim more than is durable, or null. */
  breachOf(to: NodeId | null, message: NodeMessage): string | null {
    if (message.type === 'ack' && !message.reject && message.matchSeq > this.logSeq) {
      return `${message.from} acknowledged seq ${message.matchSeq} in epoch ${message.epoch} while its log held seq ${this.logSeq} durably`;
    }
    if (message.type === 'voteResponse' && message.granted && !message.preVote) {
      // Safe once the saved state holds this vote, or a later epoch (a node
      // never returns to an earlier epoch, so it cannot vote there again).
      const saved = this.hardState;
      const held =
        saved !== null &&
        (saved.epoch > message.epoch || (saved.epoch === message.epoch && saved.votedFor === to));
      if (!held) {
        const holds =
          saved === null ? 'nothing' : `epoch ${saved.epoch} vote ${saved.votedFor ?? '-'}`;
        return `${message.from} granted its vote in epoch ${message.epoch} to ${to ?? 'everyone'} while its saved hard state held ${holds}`;
      }
    }
    return null;
  }
}

/** The production segmented log, reporting what it made durable to a watch. */
export class WatchedLogStore extends SegmentedLogStore {
  constructor(
    options: SegmentedLogStoreOptions,
    private readonly watch: DurabilityWatch,
  ) {
    super(options);
  }

  override async open(): Promise<RecoveredLog> {
    const recovered = await super.open();
    this.watch.logSeq = recovered.lastSeq;
    return recovered;
  }

  override write(truncateAfter: number | null, entries: readonly Entry[]): Promise<void> {
    if (truncateAfter !== null) this.watch.logSeq = Math.min(this.watch.logSeq, truncateAfter);
    const last = entries.at(-1)?.seq ?? null;
    return super.write(truncateAfter, entries).then(() => {
      if (last !== null) this.watch.logSeq = last;
    });
  }

  override reset(firstSeq: number, epochBeforeFirst: number): Promise<void> {
    this.watch.logSeq = Math.min(this.watch.logSeq, firstSeq - 1);
    return super.reset(firstSeq, epochBeforeFirst).then(() => {
      this.watch.logSeq = firstSeq - 1;
    });
  }
}

/** The production metadata store, reporting each completed save to a watch. */
export class WatchedMetaStore extends FileMetaStore {
  constructor(
    options: FileMetaStoreOptions,
    private readonly watch: DurabilityWatch,
  ) {
    super(options);
  }

  override async load(): Promise<HardState> {
    const state = await super.load();
    this.watch.hardState = state;
    return state;
  }

  override save(state: HardState): Promise<void> {
    return super.save(state).then(() => {
      this.watch.hardState = state;
    });
  }
}
