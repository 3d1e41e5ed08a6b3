/**
 * Example primary-backup plugin: a service that is not deterministic. Each
 * request `{"op":"stamp","key":"..."}` is stamped by the primary with its
 * wall clock and a random id; every replica then records that stamp, the
 * same one, from the committed update. A state machine replica could not do
 * this (each replica would read another clock and draw another id).
 *
 * Run it: `ordo replica --mode primary-backup --brokers ... --plugin
 * dist/clients/examples/stamp-service.js --data DIR`; call it with
 * `PrimaryBackupClient.call('stamps', { op: 'stamp', key: 'a' })`.
 */
import { randomUUID } from 'node:crypto';
import type {
  ExecuteContext,
  Execution,
  PrimaryBackupService,
  UpdateContext,
} from '../replica/primary-backup/pb-service.js';

export const pluginName = 'stamps';
/** Tells `ordo replica` to host this plugin in primary-backup mode. */
export const replicationMode = 'primary-backup';

export interface StampRequest {
  readonly op: 'stamp';
  readonly key: string;
}

export interface Stamp {
  readonly key: string;
  /** The primary's wall clock when it executed the request. */
  readonly atMs: number;
  /** A random id the primary drew. */
  readonly nonce: string;
  /** The replica that executed it. */
  readonly by: string;
}

export type StampQuery =
  | { readonly op: 'count' }
  | { readonly op: 'get'; readonly requestId: string }
  | { readonly op: 'ids' };

/** Most stamps one `ids` query returns. */
const maxIdsPerQuery = 100_000;

export class StampService implements PrimaryBackupService<StampRequest, Stamp, Stamp, StampQuery> {
  /** Stamps by request id, in the order applied. */
  private stamps = new Map<string, Stamp & { readonly seq: number }>();

  execute(request: StampRequest, context: ExecuteContext): Execution<Stamp, Stamp> {
    if (request === null || typeof request !== 'object' || typeof request.key !== 'string')
      throw new Error('expected {"op":"stamp","key":"..."}');
    const stamp: Stamp = {
      key: request.key,
      atMs: Date.now(),
      nonce: randomUUID(),
      by: context.replicaId,
    };
    return { update: stamp, reply: stamp };
  }

  applyUpdate(update: Stamp, context: UpdateContext): void {
    this.stamps.set(context.requestId, { ...update, seq: context.seq });
  }

  /** Canonical bytes: in apply order, which is log order on every replica. */
  snapshot(): Uint8Array {
    const rows = [...this.stamps].map(([id, s]) => [id, s.key, s.atMs, s.nonce, s.by, s.seq]);
    return new TextEncoder().encode(JSON.stringify(rows));
  }

  restore(snapshot: Uint8Array): void {
    const rows = JSON.parse(new TextDecoder().decode(snapshot)) as [
      string,
      string,
      number,
      string,
      string,
      number,
    ][];
    this.stamps = new Map(
      rows.map(([id, key, atMs, nonce, by, seq]) => [id, { key, atMs, nonce, by, seq }]),
    );
  }

  query(query: StampQuery): unknown {
    if (query?.op === 'count') return this.stamps.size;
    if (query?.op === 'get') return this.stamps.get(query.requestId) ?? null;
    if (query?.op === 'ids') return [...this.stamps.keys()].slice(0, maxIdsPerQuery);
    return { error: 'expected {"op":"count"}, {"op":"get","requestId":"..."} or {"op":"ids"}' };
  }
}

export function createStampService(): StampService {
  return new StampService();
}

export default createStampService;
