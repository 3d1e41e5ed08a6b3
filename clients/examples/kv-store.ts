/**
 * Example plugin: a replicated key-value store. Publish commands as JSON on
 * topic `kv`: `{"op":"put","key":"a","value":"1"}` or
 * `{"op":"delete","key":"a"}`; query a replica with `{"op":"get","key":"a"}`,
 * `{"op":"size"}` or `{"op":"scan","prefix":"user/","limit":10}`.
 *
 * Run it: `ordo replica --brokers ... --plugin dist/clients/examples/kv-store.js --data DIR`.
 */
import type { ApplyContext, StateMachine } from '../replica/state-machine.js';
import type { Message } from '../subscriber.js';

export const pluginName = 'kv-store';
export const kvTopic = 'kv';

export type KvCommand = { op: 'put'; key: string; value: string } | { op: 'delete'; key: string };

export type KvQuery =
  | { op: 'get'; key: string }
  | { op: 'size' }
  | { op: 'scan'; prefix?: string; limit?: number };

export interface KvEntry {
  readonly value: string;
  /** Seq of the put that wrote this value. */
  readonly version: number;
  /** Log time of that put (the sequencer's, identical on every replica). */
  readonly updatedMs: number;
}

/** Most entries one scan returns. */
const maxScanEntries = 1000;

/** Encodes a command for `Publisher.publish(kvTopic, ...)`. */
export function encodeKvCommand(command: KvCommand): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(command));
}

/**
 * The store. Every decision in `apply` depends only on the state, the
 * message and the context, so every replica holds the same map at the same
 * seq; commands that do not parse are counted, never thrown.
 */
export class KvStore implements StateMachine<KvQuery, unknown> {
  private entries = new Map<string, KvEntry>();
  private ignoredMessages = 0;

  apply(message: Message, context: ApplyContext): void {
    if (message.topic !== kvTopic) return;
    const command = parseCommand(message.payload);
    if (command === null) {
      this.ignoredMessages++;
      return;
    }
    if (command.op === 'put') {
      this.entries.set(command.key, {
        value: command.value,
        version: context.seq,
        updatedMs: context.timestampMs,
      });
    } else {
      this.entries.delete(command.key);
    }
  }

  /** Canonical bytes: keys sorted, so equal stores serialise equally whatever their history. */
  snapshot(): Uint8Array {
    const keys = [...this.entries.keys()].sort();
    const entries = keys.map((key) => {
      const e = this.entries.get(key)!;
      return [key, e.value, e.version, e.updatedMs];
    });
    return new TextEncoder().encode(
      JSON.stringify({ ignoredMessages: this.ignoredMessages, entries }),
    );
  }

  restore(snapshot: Uint8Array): void {
    const parsed = JSON.parse(new TextDecoder().decode(snapshot)) as {
      ignoredMessages: number;
      entries: [string, string, number, number][];
    };
    this.ignoredMessages = parsed.ignoredMessages;
    this.entries = new Map(
      parsed.entries.map(([key, value, version, updatedMs]) => [
        key,
        { value, version, updatedMs },
      ]),
    );
  }

  query(request: KvQuery): unknown {
    switch (request.op) {
      case 'get':
        return this.entries.get(request.key) ?? null;
      case 'size':
        return { keys: this.entries.size, ignoredMessages: this.ignoredMessages };
      case 'scan': {
        const prefix = request.prefix ?? '';
        const limit = Math.min(request.limit ?? 100, maxScanEntries);
        const keys = [...this.entries.keys()].filter((k) => k.startsWith(prefix)).sort();
        return keys.slice(0, limit).map((key) => ({ key, ...this.entries.get(key)! }));
      }
      default:
        return { error: `unknown query ${JSON.stringify(request)}` };
    }
  }
}

function parseCommand(payload: Uint8Array): KvCommand | null {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  const c = raw as Partial<{ op: string; key: unknown; value: unknown }> | null;
  if (c === null || typeof c !== 'object' || typeof c.key !== 'string' || c.key.length === 0)
    return null;
  if (c.op === 'put' && typeof c.value === 'string')
    return { op: 'put', key: c.key, value: c.value };
  if (c.op === 'delete') return { op: 'delete', key: c.key };
  return null;
}

export default function createKvStore(): KvStore {
  return new KvStore();
}
