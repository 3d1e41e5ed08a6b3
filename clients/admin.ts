import { LIMITS } from '../src/limits.js';
import type { Clock } from '../src/runtime/clock.js';
import { type ClientRuntime, resolveClientRuntime } from './client-runtime.js';
import { ConnectionPool } from './connection-pool.js';
import { parseEndpoint, parseEndpoints } from './endpoint.js';
import { OrdoError } from './errors.js';
import { type MemberInfo, type NodeStatus, toMemberInfos, toNodeStatus } from './node-status.js';
import { wholeNumberOption } from './option-checks.js';

export type { MemberInfo, NodeStatus } from './node-status.js';

/** Where a new member is reached (its advertised host and ports). */
export interface MemberAddress {
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly pubPort: number;
  readonly httpPort?: number | null;
  /**
   * On a secured cluster: the new node's CurveZMQ public key (Z85). Its config
   * entry carries it, and every node admits it on its peer sockets.
   */
  readonly publicKey?: string;
}

/** A node's answer to a membership request. */
export interface MembersResult {
  readonly ok: boolean;
  readonly detail: string;
  readonly retriable: boolean;
  readonly members: readonly MemberInfo[];
  readonly leaderId: string;
  /** With an accepted change: the seq of its config entry. */
  readonly configSeq: number;
  readonly configPending: boolean;
}

export interface BrokerStatus {
  readonly endpoint: string;
  readonly status: NodeStatus | null;
  /** Why the broker gave no status (unreachable, timed out). */
  readonly error: string | null;
}

/** Operator calls: status of every broker, planned hand-over of the sequencer role. */
export class AdminClient {
  private readonly connections: ConnectionPool;
  private readonly clock: Clock;
  private readonly brokers: readonly string[];
  private readonly timeoutMs: number;
  private closing: Promise<void> | null = null;
  /** The broker that last answered a read index (the sequencer then). */
  private readIndexTarget: string | null = null;

  /**
   * `brokers`: client endpoints, `host:port` or `tcp://host:port`; a
   * malformed one is an InvalidRequestError thrown here. `timeoutMs`: how
   * long each request waits for its answer. `runtime` is the network and
   * clock to run over (production defaults when absent, see ClientRuntime).
   */
  constructor(brokers: readonly string[], timeoutMs?: number, runtime: ClientRuntime = {}) {
    this.brokers = parseEndpoints(brokers, 'an admin client');
    this.timeoutMs = wholeNumberOption(timeoutMs, 'timeoutMs', LIMITS.adminRequestTimeoutMs);
    const resolved = resolveClientRuntime(runtime);
    this.clock = resolved.clock;
    this.connections = new ConnectionPool(resolved);
  }

  async status(endpoint: string): Promise<NodeStatus> {
    const normalized = parseEndpoint(endpoint);
    const response = await this.connections.get(normalized).request({ status: {} }, this.timeoutMs);
    if (response.body !== 'status' || response.status === null || response.status === undefined)
      throw new OrdoError(`${endpoint} answered a status request with ${response.body}`);
    return toNodeStatus(response.status);
  }

  /** Asks every broker at once; unreachable ones are reported, not thrown. */
  async statusAll(): Promise<BrokerStatus[]> {
    return Promise.all(
      this.brokers.map(async (endpoint) => {
        try {
          return { endpoint, status: await this.status(endpoint), error: null };
        } catch (error) {
          return { endpoint, status: null, error: (error as Error).message };
        }
      }),
    );
  }

  /** The current sequencer as most reachable brokers see it. */
  async findLeader(): Promise<{ id: string; endpoint: string; epoch: number } | null> {
    const all = await this.statusAll();
    const leaders = all
      .filter((b) => b.status?.role === 'leader')
      .sort((a, b) => (b.status!.epoch ?? 0) - (a.status!.epoch ?? 0));
    const leader = leaders[0];
    if (leader === undefined) return null;
    return { id: leader.status!.id, endpoint: leader.endpoint, epoch: leader.status!.epoch };
  }

  /**
   * Moves the sequencer role to `targetId` and waits until that node leads,
   * or throws after `waitMs`.
   */
  async transferLeader(
    targetId: string,
    waitMs: number = LIMITS.adminTransferWaitMs,
  ): Promise<{ epoch: number; elapsedMs: number }> {
    const startedMs = this.clock.nowMs();
    const leader = await this.findLeader();
    if (leader === null) throw new OrdoError('no sequencer is reachable', { retriable: true });
    if (leader.id === targetId) return { epoch: leader.epoch, elapsedMs: 0 };
    const response = await this.connections
      .get(leader.endpoint)
      .request({ transferLeader: { targetId } }, this.timeoutMs);
    const result = response.transferLeader;
    if (result === null || result === undefined || !result.ok) {
      throw new OrdoError(`transfer refused by ${leader.id}: ${result?.detail ?? response.body}`);
    }
    while (this.clock.nowMs() - startedMs < waitMs) {
      const now = await this.findLeader();
      if (now !== null && now.id === targetId)
        return { epoch: now.epoch, elapsedMs: this.clock.nowMs() - startedMs };
      await new Promise<void>((resolve) =>
        this.clock.setTimeout(resolve, LIMITS.adminTransferPollMs),
      );
    }
    throw new OrdoError(`${targetId} did not become sequencer within ${waitMs} ms`, {
      retriable: true,
    });
  }

  /**
   * A read index: the sequencer's commit point, confirmed by a majority as
   * taken while it was still the sequencer. A reader whose state reflects
   * this seq has seen every write acknowledged before the call. Follows the
   * sequencer named by other brokers and asks again through elections;
   * throws a retriable OrdoError when no sequencer answered within `waitMs`.
   */
  async readIndex(waitMs: number = LIMITS.readIndexWaitMs): Promise<number> {
    const startedMs = this.clock.nowMs();
    let target = this.readIndexTarget ?? this.brokers[0]!;
    let next = 0;
    let lastProblem = 'no broker answered';
    for (let attempt = 0; this.clock.nowMs() - startedMs < waitMs; attempt++) {
      try {
        const response = await this.connections
          .get(target)
          .request({ readIndex: {} }, this.timeoutMs);
        const r = response.readIndex;
        if (response.body !== 'readIndex' || r === null || r === undefined)
          throw new OrdoError(`${target} answered a read index request with ${response.body}`);
        if (r.ok === true) {
          this.readIndexTarget = target;
          return Number(r.commitSeq ?? 0);
        }
        lastProblem = `${target}: ${r.detail ?? 'refused'}`;
        if (r.retriable !== true) throw new OrdoError(lastProblem);
        const hint = r.leader?.clientEndpoint ?? '';
        if (hint !== '' && hint !== target) {
          target = parseEndpoint(hint);
          continue;
        }
      } catch (error) {
        if (error instanceof OrdoError && !error.retriable) throw error;
        lastProblem = (error as Error).message;
      }
      // No sequencer named (an election runs) or no answer: the next broker, after a pause.
      target = this.brokers[next++ % this.brokers.length]!;
      const pauseMs = Math.min(
        LIMITS.readIndexRetryMaxMs,
        LIMITS.readIndexRetryBaseMs << Math.min(attempt, 4),
      );
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, pauseMs));
    }
    throw new OrdoError(`no read index within ${waitMs} ms: ${lastProblem}`, { retriable: true });
  }

  /** The membership as the sequencer (else any reachable node) records it. */
  async members(): Promise<MembersResult> {
    const leader = await this.findLeader();
    const endpoints = leader === null ? this.brokers : [leader.endpoint, ...this.brokers];
    let lastError: Error | null = null;
    for (const endpoint of endpoints) {
      try {
        return await this.membersRequest(endpoint, { action: 'list' });
      } catch (error) {
        lastError = error as Error;
      }
    }
    throw new OrdoError(`no broker answered: ${lastError?.message ?? 'none configured'}`, {
      retriable: true,
    });
  }

  /**
   * Adds `nodeId` as a learner (the sequencer promotes it to voter once it
   * has caught up) or removes it, and waits until the change is committed
   * and, for an addition, the node is a voter. Removing the sequencer hands
   * its role over first. Changes are made one at a time: one still pending
   * is waited for. Throws after `waitMs`.
   */
  async changeMembers(
    action: 'add' | 'remove',
    nodeId: string,
    address: MemberAddress | null,
    waitMs: number = LIMITS.adminTransferWaitMs,
    /** With add: the new member is a witness (it votes, never leads, keeps only the log's tail). */
    witness = false,
  ): Promise<MembersResult> {
    const startedMs = this.clock.nowMs();
    let requested = false;
    let lastDetail = '';
    while (this.clock.nowMs() - startedMs < waitMs) {
      const leader = await this.findLeader();
      if (leader !== null) {
        const current = await this.membersRequest(leader.endpoint, { action: 'list' });
        const member = current.members.find((m) => m.id === nodeId);
        const done = action === 'add' ? member?.voter === true : member === undefined && requested;
        if (done && !current.configPending) return current;
        if (action === 'remove' && member === undefined && !requested)
          throw new OrdoError(`${nodeId} is not a member`);
        const changing = action === 'add' ? member !== undefined : member === undefined;
        if (!changing && !current.configPending) {
          const result = await this.membersRequest(leader.endpoint, {
            action,
            nodeId,
            ...(address === null ? {} : { address }),
            ...(witness && action === 'add' ? { witness: true } : {}),
          });
          lastDetail = result.detail;
          if (result.ok) requested = true;
          else if (!result.retriable)
            throw new OrdoError(`${action} ${nodeId} refused by ${leader.id}: ${result.detail}`);
        } else if (changing) {
          requested = true;
        }
      }
      await new Promise<void>((resolve) =>
        this.clock.setTimeout(resolve, LIMITS.adminTransferPollMs),
      );
    }
    throw new OrdoError(
      `${action} ${nodeId} did not complete within ${waitMs} ms${lastDetail === '' ? '' : ` (${lastDetail})`}`,
      { retriable: true },
    );
  }

  private async membersRequest(
    endpoint: string,
    request: { action: string; nodeId?: string; address?: MemberAddress },
  ): Promise<MembersResult> {
    const response = await this.connections.get(endpoint).request(
      {
        members: {
          action: request.action,
          nodeId: request.nodeId ?? '',
          ...(request.address === undefined
            ? {}
            : {
                address: {
                  host: request.address.host,
                  clientPort: request.address.clientPort,
                  peerPort: request.address.peerPort,
                  pubPort: request.address.pubPort,
                  httpPort: request.address.httpPort ?? 0,
                },
                publicKey: request.address.publicKey ?? '',
              }),
        },
      },
      this.timeoutMs,
    );
    const m = response.members;
    if (response.body !== 'members' || m === null || m === undefined)
      throw new OrdoError(`${endpoint} answered a members request with ${response.body}`);
    return {
      ok: m.ok ?? false,
      detail: m.detail ?? '',
      retriable: m.retriable ?? false,
      members: toMemberInfos(m.members),
      leaderId: m.leaderId ?? '',
      configSeq: m.configSeq ?? 0,
      configPending: m.configPending ?? false,
    };
  }

  /** Closes the sockets; the promise resolves once they are closed (it never rejects). */
  close(): Promise<void> {
    if (this.closing === null) {
      try {
        this.connections.closeAll();
      } catch {
        // The sockets are being torn down: an error here has no one to tell and changes nothing.
      }
      this.closing = Promise.resolve();
    }
    return this.closing;
  }
}
