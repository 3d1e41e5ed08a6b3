import type { Credentials } from '../../src/runtime/curve-keys.js';
import type { ReplicaFaults } from './replica-faults.js';
import type { ReplicaLogger } from './replica-logger.js';
import type { StateMachineFactory } from './state-machine.js';

export interface ReplicaOptions {
  /** Client endpoints of the cluster's brokers; the replica reads from one and moves on if it goes silent. */
  readonly brokers: readonly string[];
  /** The identity and keys for a secured cluster (reports and snapshot offers need the `admin` permission). */
  readonly credentials?: Credentials;
  /** Returns a fresh state machine (a plugin module's default export). */
  readonly stateMachine: StateMachineFactory;
  /**
   * The app's name. Replicas of one app share it: brokers compare their
   * digests and keep a snapshot per name for late joiners.
   */
  readonly plugin: string;
  /** Folder for snapshots, the replica id and the lock; created when missing. */
  readonly dataDir: string;
  /** Name in status and reports (default: one generated once and kept in the data folder). */
  readonly replicaId?: string;
  /** Only messages on these topics reach the plugin (default: all). */
  readonly topics?: readonly string[];
  /** Take a snapshot after this many applied messages (default 100,000). */
  readonly snapshotEveryMessages?: number;
  /** ... or once this long has passed since the last one with something new applied (default 60 s). */
  readonly snapshotIntervalMs?: number;
  /** Digest the state at every multiple of this seq (default 10,000); replicas of one app must agree on it. */
  readonly digestIntervalSeqs?: number;
  /** Report progress to the brokers this often (default 1 s), besides at every digest. */
  readonly reportIntervalMs?: number;
  /** Ask a broker whether this replica was found diverged this often (default 5 s), and soon after each digest. */
  readonly divergenceCheckIntervalMs?: number;
  /** Offer snapshots to the brokers for late joiners (default true). */
  readonly shareSnapshots?: boolean;
  /** Take a snapshot on close when anything was applied since the last (default true). */
  readonly snapshotOnClose?: boolean;
  /**
   * Read only: no lock, no snapshots written, no reports. For a query run
   * beside a live replica on the same data folder.
   */
  readonly readOnly?: boolean;
  /** A broker silent for this long is given up for the next one (default 1.5 s). */
  readonly brokerTimeoutMs?: number;
  readonly logger?: ReplicaLogger;
  /** Called for each event, synchronously, on the replica's thread. */
  readonly onEvent?: (event: ReplicaEvent) => void;
  /** Test-only faults. */
  readonly faults?: ReplicaFaults;
}

/** What a replica reports as it runs. */
export type ReplicaEvent =
  | {
      readonly type: 'restored';
      readonly seq: number;
      readonly source: 'local' | 'broker' | 'empty';
      readonly digest: string;
    }
  | { readonly type: 'snapshot-skipped'; readonly file: string; readonly reason: string }
  | {
      readonly type: 'snapshot';
      readonly seq: number;
      readonly digest: string;
      readonly path: string;
      readonly bytes: number;
    }
  | { readonly type: 'snapshot-failed'; readonly seq: number; readonly error: string }
  | {
      readonly type: 'snapshot-download';
      readonly seq: number;
      /** The first chunk fetched: above 0 when an interrupted download resumed. */
      readonly fromIndex: number;
      readonly chunks: number;
      readonly endpoint: string;
    }
  /** A broker stores this replica's snapshot at `seq` (its upload completed). */
  | { readonly type: 'snapshot-stored'; readonly seq: number; readonly endpoint: string }
  | { readonly type: 'snapshot-chunk-refused'; readonly index: number; readonly problem: string }
  | { readonly type: 'digest'; readonly seq: number; readonly digest: string }
  | { readonly type: 'diverged'; readonly atSeq: number; readonly endpoint: string }
  | { readonly type: 'test-halted'; readonly seq: number }
  | {
      readonly type: 'stopped';
      readonly seq: number;
      readonly digest: string;
      readonly error: string | null;
    };

export const REPLICA_DEFAULTS = {
  snapshotEveryMessages: 100_000,
  snapshotIntervalMs: 60_000,
  digestIntervalSeqs: 10_000,
  reportIntervalMs: 1000,
  divergenceCheckIntervalMs: 5000,
  brokerTimeoutMs: 1500,
  /** How often the host looks at its timers (reports, time-based snapshots, digests at filtered seqs). */
  housekeepingIntervalMs: 50,
  /** Longest pause between attempts to fetch a snapshot a late joiner can start from. */
  lateJoinRetryMaxMs: 5000,
  /** Most `whenApplied` calls waiting at once. */
  maxAppliedWaiters: 10_000,
} as const;
