import { type PeerMessage, type Ready, Role } from '../core/types.js';
import type { Logger } from '../runtime/logger.js';
import type { ordo } from '../wire/schema.js';
import type { NodeMetrics } from './node-metrics.js';

/** Looks in a row (about a second apart) a follower must seem inactive before it is logged as gone. */
const INACTIVE_LOOKS = 2;
/** How far behind a follower must fall before its catch-up is logged. */
const CATCH_UP_LOG_ENTRIES = 1000;

/**
 * Logs at info what an operator wants in the log: elections and their
 * outcome, role changes, log repairs, followers leaving and rejoining (as the
 * sequencer sees them) and a follower's catch-up, from the node's Readys and
 * a periodic look at its status.
 */
export class NodeEventLog implements NodeMetrics {
  private readonly inactiveLooks = new Map<string, number>();
  private readonly gonePeers = new Set<string>();
  private catchingUp = false;

  constructor(
    private readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  onReady(ready: Ready, _isLeader: boolean): void {
    if (ready.resetLogAfter !== null) {
      this.logger.info(
        `repair: node ${this.nodeId} restarts its log after seq ${ready.resetLogAfter.seq} (the sequencer no longer holds the entries it lacks)`,
        { event: 'repair', kind: 'reset', afterSeq: ready.resetLogAfter.seq },
      );
    }
    if (ready.truncateAfter !== null) {
      this.logger.info(
        `repair: node ${this.nodeId} removes its uncommitted entries after seq ${ready.truncateAfter} (they diverge from the sequencer's log)`,
        { event: 'repair', kind: 'truncate', afterSeq: ready.truncateAfter },
      );
    }
    const change = ready.roleChange;
    if (change === null) return;
    const fields = {
      event: 'role',
      role: change.role,
      epoch: change.epoch,
      leader: change.leaderId,
    };
    if (change.role === Role.candidate) {
      this.logger.info(`election: node ${this.nodeId} campaigns for epoch ${change.epoch}`, fields);
    } else if (change.role === Role.leader) {
      this.logger.info(
        `election: node ${this.nodeId} won epoch ${change.epoch} and is the sequencer`,
        fields,
      );
      this.inactiveLooks.clear();
      this.gonePeers.clear();
    } else if (change.role === Role.follower) {
      const leader =
        change.leaderId === null ? 'no sequencer known yet' : `sequencer ${change.leaderId}`;
      this.logger.info(
        `role: node ${this.nodeId} is a follower in epoch ${change.epoch} (${leader})`,
        fields,
      );
    } else {
      this.logger.info(
        `role: node ${this.nodeId} is ${change.role} in epoch ${change.epoch}`,
        fields,
      );
    }
  }

  onPeerMessage(_message: PeerMessage, _isLeader: boolean): void {}

  /** Compares the node's status with the last look; called about once a second. */
  observe(s: ordo.NodeStatus.$Properties): void {
    if (s.role === Role.leader) {
      for (const p of s.peers ?? []) {
        const id = p.id ?? '';
        // The sequencer clears its activity marks once per election timeout
        // and a live follower sets its own again with its next ack, so one
        // inactive look may be that gap: a follower counts as gone after
        // INACTIVE_LOOKS looks in a row.
        const inactive = p.active === true ? 0 : (this.inactiveLooks.get(id) ?? 0) + 1;
        this.inactiveLooks.set(id, inactive);
        const gone = this.gonePeers.has(id);
        if (!gone && inactive >= INACTIVE_LOOKS) {
          this.gonePeers.add(id);
          this.logMembership(id, false, s.epoch);
        } else if (gone && inactive === 0) {
          this.gonePeers.delete(id);
          this.logMembership(id, true, s.epoch);
        }
      }
    }
    const behind = Number(s.catchUpRemaining ?? 0);
    if (!this.catchingUp && s.role !== Role.leader && behind > CATCH_UP_LOG_ENTRIES) {
      this.catchingUp = true;
      this.logger.info(`catch-up: node ${this.nodeId} is ${behind} entries behind the sequencer`, {
        event: 'catch-up',
        behind,
      });
    } else if (this.catchingUp && (s.role === Role.leader || behind === 0)) {
      this.catchingUp = false;
      this.logger.info(`catch-up: node ${this.nodeId} has caught up (last seq ${s.lastSeq})`, {
        event: 'catch-up',
        behind: 0,
      });
    }
  }

  private logMembership(follower: string, active: boolean, epoch: number | null | undefined): void {
    const what = active ? 'is back in the cluster' : 'stopped answering';
    this.logger.info(`membership: follower ${follower} ${what} (epoch ${epoch})`, {
      event: 'membership',
      follower,
      active,
    });
  }
}
