import type { Entry, NodeId, RepairResponseMessage } from '../core/types.js';
import { LIMITS } from '../limits.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { DamagedRange, LogStore } from '../storage/log-store.js';
import { RepairRejectedError } from '../storage/storage-errors.js';
import { repairCopyIntact } from '../wire/repair-copy-digest.js';
import type { PeerLink } from './peer-link.js';

/** No peer holds a good copy of damaged records: the node cannot start safely. */
export class LogRepairError extends Error {
  override readonly name = 'LogRepairError';
  readonly retriable = false;
  constructor(
    readonly range: DamagedRange,
    detail: string,
  ) {
    super(
      `the log's records for seqs ${range.fromSeq} to ${range.toSeq} are damaged and no peer holds a copy that fits the hash chain (${detail}): replace the node (ordo members replace ID --with NEW, see docs/operations.md); a node started under the same id with an empty folder is refused`,
    );
  }
}

interface Asking {
  readonly fromSeq: number;
  readonly answers: Map<NodeId, RepairResponseMessage>;
  readonly done: () => void;
}

/**
 * Repairs the damaged records of a node's log from its peers, before the
 * node's core starts: each damaged range is asked of every peer at once; the
 * store writes a copy back only if it fits the local hash chain (so a peer's
 * divergent or damaged copy is refused). When every peer has answered and
 * none holds a fitting copy, the node refuses to start, naming the range; a
 * peer that does not answer is asked again in the next round.
 */
export class LogRepair {
  private asking: Asking | null = null;
  repairedEntries = 0;

  constructor(
    private readonly self: NodeId,
    private readonly peers: readonly NodeId[],
    private readonly store: LogStore,
    private readonly link: PeerLink,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** The commit point this node saved: nothing at or below it may be cut. */
    private readonly committedSeq: number,
  ) {}

  /** Resolves once the log has no damaged record; rejects with LogRepairError. */
  async repairAll(): Promise<number> {
    for (;;) {
      const range = this.store.damagedRanges()[0];
      if (range === undefined) return this.repairedEntries;
      const toSeq = Math.min(range.toSeq, range.fromSeq + LIMITS.maxRepairEntries - 1);
      const answers = await this.askAll(range.fromSeq, toSeq);
      const refusals: string[] = [];
      let fixed = false;
      /** A damaged copy is asked for again, not taken for a refusal. */
      let damagedInRound = false;
      /** Intact copies that did not fit, from the damaged range's first seq, with why. */
      const misfits = new Map<NodeId, RepairRejectedError>();
      for (const [peer, answer] of answers) {
        if (answer.entries.length === 0) {
          refusals.push(`${peer} holds none`);
          continue;
        }
        try {
          const { repaired } = await this.store.repair(answer.entries);
          if (repaired > 0) {
            this.repairedEntries += repaired;
            this.logger.info(
              `node ${this.self} repaired ${repaired} damaged entries from seq ${range.fromSeq} with copies from ${peer}`,
            );
            fixed = true;
            break;
          }
          refusals.push(`${peer}'s copy repaired nothing`);
        } catch (error) {
          if (!(error instanceof RepairRejectedError)) throw error;
          // Whether a copy is good is the hash chain's call alone (above); the
          // digest only says what a refusal means. A copy damaged on its way
          // is no answer: taken for another entry, it could count its sender
          // among the nodes lacking a committed entry, and so cut that entry.
          if (!repairCopyIntact(answer.entries, answer.copyDigest)) {
            damagedInRound = true;
            refusals.push(`${peer}'s copy was damaged on its way`);
            continue;
          }
          refusals.push(`${peer}'s copy does not fit: ${error.message}`);
          if (answer.entries[0]!.seq === range.fromSeq) misfits.set(peer, error);
        }
      }
      if (fixed) continue;
      // A committed entry is held by a majority of the cluster. When the
      // peers that lack an entry (their log ends before it, or they hold
      // another entry there) leave too few nodes to make one, it was never
      // committed (nor anything after it): the log is cut before it, as a
      // sequencer would cut it anyway. A damaged record of several entries
      // may be cut inside: its first entries are kept when a copy of them
      // matches the digests its intact header stores for each entry.
      const matched = new Map<NodeId, number>();
      let keep: Entry[] = [];
      if (this.store.matchDamaged !== undefined && !damagedInRound) {
        for (const peer of misfits.keys()) {
          const entries = answers.get(peer)!.entries;
          const count = await this.store.matchDamaged(entries);
          if (count === null) continue;
          matched.set(peer, count);
          if (count > keep.length && count < range.toSeq - range.fromSeq + 1) {
            keep = entries.slice(0, count);
          }
        }
      }
      const cutAt = range.fromSeq + keep.length;
      let lacking = 0;
      for (const [peer, answer] of answers) {
        if (answer.lastSeq < cutAt) {
          lacking++;
          continue;
        }
        const misfit = misfits.get(peer);
        if (misfit === undefined) continue;
        const count = matched.get(peer);
        // An intact copy that shows another entry at cutAt: by the per-entry
        // digests when the cut is inside the record, otherwise by the store's
        // verdict on the record's first entry.
        const differs =
          keep.length > 0
            ? count === keep.length && answer.entries.length > keep.length
            : misfit.kind === 'mismatch' && misfit.seq === range.fromSeq;
        if (differs) lacking++;
      }
      const clusterSize = this.peers.length + 1;
      const majority = Math.floor(clusterSize / 2) + 1;
      if (cutAt > this.committedSeq && clusterSize - lacking < majority) {
        if (keep.length === 0) await this.store.write(range.fromSeq - 1, []);
        else await this.store.cutDamaged!(keep);
        this.logger.info(
          `node ${this.self} cut its log after seq ${cutAt - 1}: damaged record ${range.fromSeq} held entries from seq ${cutAt} that were never committed (${lacking} of ${this.peers.length} peers lack it)`,
        );
        continue;
      }
      if (answers.size === this.peers.length && !damagedInRound)
        throw new LogRepairError(range, refusals.join('; '));
      this.logger.warn(
        `node ${this.self} could not repair seqs ${range.fromSeq} to ${range.toSeq} yet (${answers.size} of ${this.peers.length} peers answered${refusals.length > 0 ? `: ${refusals.join('; ')}` : ''}); asking again`,
      );
      await new Promise<void>((resolve) =>
        this.clock.setTimeout(resolve, LIMITS.repairRoundPauseMs),
      );
    }
  }

  /** A peer's answer arrived; anything but an answer to the current request is stale and ignored. */
  onResponse(message: RepairResponseMessage): void {
    const asking = this.asking;
    if (asking === null || asking.fromSeq !== message.fromSeq) return;
    if (!this.peers.includes(message.from)) return;
    asking.answers.set(message.from, message);
    if (asking.answers.size === this.peers.length) asking.done();
  }

  /** Asks every peer for the range; resolves with the answers once all came or the time is up. */
  private askAll(fromSeq: number, toSeq: number): Promise<Map<NodeId, RepairResponseMessage>> {
    return new Promise((resolve) => {
      const answers = new Map<NodeId, RepairResponseMessage>();
      const done = (): void => {
        timer.cancel();
        this.asking = null;
        resolve(answers);
      };
      const timer = this.clock.setTimeout(done, LIMITS.repairRequestTimeoutMs);
      this.asking = { fromSeq, answers, done };
      for (const peer of this.peers) {
        this.link.send(peer, { type: 'repairRequest', epoch: 0, from: this.self, fromSeq, toSeq });
      }
    });
  }
}
