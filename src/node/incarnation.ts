import type { HelloReplyMessage, NodeId } from '../core/types.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { IncarnationRecord, IncarnationStorage } from '../storage/incarnation-store.js';
import type { PeerLink } from './peer-link.js';

/** A node refused to start under its id: its data folder is not the one its peers know. */
export class IncarnationError extends Error {
  override readonly name = 'IncarnationError';
  readonly retriable = false;
}

/**
 * Keeps this node's incarnation (written at the first start of its data
 * folder) and those of its peers. At start the node says hello to its peers;
 * a peer that knows this node as a member under another incarnation answers
 * with it, and the node refuses to start: with an empty or another folder
 * it may have forgotten its vote and the entries it acknowledged, so it
 * could vote twice in an epoch or make a majority count entries no longer
 * held. Peers record a member's incarnation when they first hear it, and
 * take a new one from a node that is not a member (a node removed and
 * added again).
 */
export class Incarnations {
  private record: IncarnationRecord;
  private saving: Promise<void> = Promise.resolve();
  private readonly replies = new Map<NodeId, string>();
  private wake: (() => void) | null = null;

  private constructor(
    private readonly store: IncarnationStorage | null,
    record: IncarnationRecord,
  ) {
    this.record = record;
  }

  /**
   * Loads the folder's incarnation or, for a new folder, writes a new one.
   * Throws IncarnationError when the folder belongs to another node.
   */
  static async open(
    store: IncarnationStorage | null,
    nodeId: NodeId,
    random: () => number,
    folder: string,
  ): Promise<{ incarnations: Incarnations; fresh: boolean }> {
    const loaded = store === null ? null : await store.load();
    if (loaded !== null && loaded.nodeId !== nodeId)
      throw new IncarnationError(
        `the data folder ${folder} belongs to node ${loaded.nodeId}, not ${nodeId}: give each node its own folder`,
      );
    if (loaded !== null) return { incarnations: new Incarnations(store, loaded), fresh: false };
    let id = '';
    for (let i = 0; i < 4; i++)
      id += Math.floor(random() * 0x10000)
        .toString(16)
        .padStart(4, '0');
    const record: IncarnationRecord = { nodeId, incarnation: store === null ? '' : id, peers: {} };
    if (store !== null) await store.save(record);
    return { incarnations: new Incarnations(store, record), fresh: true };
  }

  get incarnation(): string {
    return this.record.incarnation;
  }

  /** A peer said hello: the incarnation known for it ('' when none); a first one is recorded. */
  onHello(from: NodeId, incarnation: string, isMember: (id: NodeId) => boolean): string {
    if (incarnation === '') return '';
    const known = this.record.peers[from];
    if (known === incarnation) return '';
    if (known !== undefined && isMember(from)) return known;
    this.record = { ...this.record, peers: { ...this.record.peers, [from]: incarnation } };
    if (this.store !== null) {
      const store = this.store;
      const record = this.record;
      this.saving = this.saving.then(
        () => store.save(record),
        () => store.save(record),
      );
      this.saving.catch(() => {});
    }
    return '';
  }

  onReply(message: HelloReplyMessage): void {
    this.replies.set(message.from, message.knownIncarnation);
    this.wake?.();
  }

  /**
   * Says hello to `peers` and waits until half of them answered or `waitMs` passed.
   * Throws IncarnationError when one knows this node under another
   * incarnation. Peers that do not answer are not waited for: the check
   * holds only for the peers that are up.
   */
  async check(
    link: PeerLink,
    self: NodeId,
    peers: readonly NodeId[],
    clock: Clock,
    waitMs: number,
    folder: string,
    logger: Logger,
  ): Promise<void> {
    if (this.record.incarnation === '' || peers.length === 0) return;
    const deadline = clock.nowMs() + waitMs;
    // Said again every so often: a hello sent before a connection is up is lost.
    const resendMs = Math.max(1, Math.floor(waitMs / 8));
    let resendAt = clock.nowMs();
    while (clock.nowMs() < deadline) {
      if (clock.nowMs() >= resendAt) {
        this.helloUnanswered(link, self, peers);
        resendAt = clock.nowMs() + resendMs;
      }
      for (const [peer, known] of this.replies) {
        if (known !== '' && known !== this.incarnation)
          throw new IncarnationError(
            `node ${self} refuses to start: its data folder ${folder} is not the one ${peer} knows (incarnation ${this.incarnation}, ${peer} knows ${known}). Started with an empty or another folder, it may have forgotten its vote and the entries it acknowledged. To bring it back: 'ordo members replace ${self} --with NEW' (start NEW with 'ordo node --join' first), or 'ordo members remove ${self}', then start ${self} with --join and 'ordo members add ${self}'.`,
          );
      }
      // Every member records this node's incarnation (hellos are repeated
      // until each answered): half the peers, with this node a majority of
      // the cluster, include one that knew it.
      const answered = peers.filter((p) => this.replies.has(p)).length;
      if (answered >= Math.ceil(peers.length / 2)) break;
      await new Promise<void>((resolve) => {
        const waitFor = Math.min(deadline, resendAt) - clock.nowMs();
        const timer = clock.setTimeout(resolve, Math.max(1, waitFor));
        this.wake = () => {
          timer.cancel();
          resolve();
        };
      });
      this.wake = null;
    }
    const silent = peers.filter((p) => !this.replies.has(p));
    if (silent.length > 0)
      logger.debug(`node ${self}: no incarnation answer from ${silent.join(', ')}`);
  }

  /**
   * Says hello again to the peers that never answered (down when this node
   * started), so that every member learns this node's incarnation.
   */
  helloUnanswered(link: PeerLink, self: NodeId, peers: readonly NodeId[]): void {
    if (this.record.incarnation === '') return;
    for (const peer of peers)
      if (!this.replies.has(peer))
        link.send(peer, { type: 'hello', epoch: 0, from: self, incarnation: this.incarnation });
  }

  async close(): Promise<void> {
    await this.saving.catch(() => {});
    await this.store?.close();
  }
}
