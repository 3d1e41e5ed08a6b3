import { createHash } from 'node:crypto';
import { AdminClient } from '../../clients/admin.js';
import type { ClientRuntime } from '../../clients/client-runtime.js';
import { type Message, Subscriber } from '../../clients/subscriber.js';

export interface VerifyProgress {
  readonly seq: number;
  readonly toSeq: number;
}

export type VerifyResult =
  | {
      readonly kind: 'agree';
      readonly nodes: readonly string[];
      readonly fromSeq: number;
      readonly toSeq: number;
      /** The hash chain over the compared range, the same on every node. */
      readonly chainHash: string;
    }
  | {
      readonly kind: 'differ';
      readonly nodes: readonly string[];
      readonly fromSeq: number;
      readonly toSeq: number;
      /** The first seq whose entry is not the same on every node. */
      readonly seq: number;
      /** Each node's entry hash at that seq. */
      readonly hashes: Readonly<Record<string, string>>;
    }
  | { readonly kind: 'unverifiable'; readonly reason: string };

/** How long one node may take to hand over its next entry. */
const ENTRY_TIMEOUT_MS = 10_000;

/**
 * Compares the committed logs of several nodes (witnesses, which keep only
 * the log's tail, are left out): reads the committed range
 * every node holds, [highest first seq, lowest commit seq], from each node
 * separately and in step, and extends a SHA-256 hash chain over each
 * entry's seq, epoch, kind, producer, topic, payload and log time. The first
 * seq where two nodes' chains differ is the first seq where their logs
 * differ. Memory stays bounded: entries are compared as they arrive.
 */
export async function verifyCluster(
  endpoints: readonly string[],
  onProgress: (progress: VerifyProgress) => void = () => {},
  runtime: ClientRuntime = {},
): Promise<VerifyResult> {
  const admin = new AdminClient(endpoints, undefined, runtime);
  let all: Awaited<ReturnType<AdminClient['statusAll']>>;
  try {
    all = await admin.statusAll();
  } finally {
    admin.close();
  }
  const down = all.filter((b) => b.status === null);
  if (down.length > 0) {
    return {
      kind: 'unverifiable',
      reason: `cannot reach ${down.map((b) => `${b.endpoint} (${b.error})`).join(', ')}`,
    };
  }
  // A witness keeps only the log's tail and serves no reader: the data nodes are compared.
  const data = all.filter((b) => b.status!.witness !== true);
  if (data.length === 0)
    return {
      kind: 'unverifiable',
      reason: 'every node given is a witness, which keeps no log to compare',
    };
  const nodes = data.map((b) => ({ endpoint: b.endpoint, id: b.status!.id }));
  const fromSeq = Math.max(...data.map((b) => Number(b.status!.firstSeq ?? 1)), 1);
  const toSeq = Math.min(...data.map((b) => Number(b.status!.commitSeq ?? 0)));
  const ids = nodes.map((n) => n.id);
  if (toSeq < fromSeq) {
    return { kind: 'agree', nodes: ids, fromSeq, toSeq, chainHash: '' };
  }
  const readers = nodes.map((n) => ({
    id: n.id,
    subscriber: new Subscriber({ brokers: [n.endpoint], fromSeq, includeControl: true, runtime }),
    chain: Buffer.alloc(32) as Buffer,
  }));
  const iterators = readers.map((r) => r.subscriber[Symbol.asyncIterator]());
  try {
    for (let seq = fromSeq; seq <= toSeq; seq++) {
      const entries = await Promise.all(
        iterators.map((it, i) => nextEntry(it, readers[i]!.id, seq)),
      );
      for (const [i, entry] of entries.entries()) {
        readers[i]!.chain = extendChain(readers[i]!.chain, entry);
      }
      const first = readers[0]!.chain;
      if (readers.some((r) => !r.chain.equals(first))) {
        const hashes: Record<string, string> = {};
        for (const [i, entry] of entries.entries())
          hashes[readers[i]!.id] = entryHash(entry).toString('hex');
        return { kind: 'differ', nodes: ids, fromSeq, toSeq, seq, hashes };
      }
      if (seq % 1000 === 0 || seq === toSeq) onProgress({ seq, toSeq });
    }
    return {
      kind: 'agree',
      nodes: ids,
      fromSeq,
      toSeq,
      chainHash: readers[0]!.chain.toString('hex'),
    };
  } finally {
    for (const r of readers) r.subscriber.close();
  }
}

async function nextEntry(
  iterator: AsyncIterator<Message>,
  nodeId: string,
  seq: number,
): Promise<Message> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`node ${nodeId} did not deliver seq ${seq} within ${ENTRY_TIMEOUT_MS} ms`),
        ),
      ENTRY_TIMEOUT_MS,
    );
  });
  try {
    const next = await Promise.race([iterator.next(), timeout]);
    if (next.done === true) throw new Error(`node ${nodeId} ended its stream before seq ${seq}`);
    if (next.value.seq !== seq)
      throw new Error(
        `node ${nodeId} delivered seq ${next.value.seq} where seq ${seq} was expected`,
      );
    return next.value;
  } finally {
    clearTimeout(timer);
  }
}

function entryHash(m: Message): Buffer {
  const h = createHash('sha256');
  h.update(
    JSON.stringify([m.seq, m.epoch, m.kind, m.producerId, m.producerSeq, m.topic, m.timestampMs]),
  );
  h.update(m.payload);
  return h.digest();
}

function extendChain(chain: Buffer, m: Message): Buffer {
  return createHash('sha256').update(chain).update(entryHash(m)).digest();
}
