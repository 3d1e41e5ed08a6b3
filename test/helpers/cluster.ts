import type { ExecutionContext } from 'ava';
import type { Message, Subscriber } from '../../clients/index.js';
import { LocalCluster, type LocalClusterOptions } from '../../src/cluster/local-cluster.js';

/** Starts a real local cluster and stops it (by pid) when the test ends, pass or fail. */
export async function startCluster(
  t: ExecutionContext,
  options: LocalClusterOptions = {},
): Promise<LocalCluster> {
  const notable = new NotableLines();
  const cluster = await LocalCluster.start({
    logs: process.env['ORDO_TEST_LOGS'] ? 'inherit' : (id, line) => notable.offer(id, line),
    ...options,
  });
  t.teardown(() => {
    // A failure in CI is often seen once: what the nodes said about roles
    // and problems is the only trace of why, so it goes into the test's log.
    if (!t.passed) for (const line of notable.lines()) t.log(line);
    return cluster.stop();
  });
  return cluster;
}

/** Role changes, warnings and errors that nodes logged: the last few per node. */
class NotableLines {
  private static readonly perNodeLines = 40;
  private readonly byNode = new Map<string, string[]>();

  offer(nodeId: string, line: string): void {
    if (!/"event":"(role|membership|catch-up|repair)|"level":"(warn|error)"/.test(line)) return;
    if (line.includes('runs INSECURE')) return;
    const lines = this.byNode.get(nodeId) ?? [];
    lines.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
    if (lines.length > NotableLines.perNodeLines) lines.shift();
    this.byNode.set(nodeId, lines);
  }

  lines(): string[] {
    return [...this.byNode].flatMap(([id, lines]) => lines.map((line) => `${id}: ${line}`));
  }
}

/**
 * Reads from a subscriber until `until` says stop, or fails after
 * `timeoutMs`: a bounded wait on events, never a fixed sleep.
 */
export async function collect(
  subscriber: Subscriber,
  until: (messages: readonly Message[]) => boolean,
  timeoutMs: number,
): Promise<Message[]> {
  return (await readUntil(subscriber, subscriber, (m) => [m], until, timeoutMs)).messages;
}

/** As `collect`, through `Subscriber.batches()`; also returns the size of each batch. */
export async function collectBatches(
  subscriber: Subscriber,
  until: (messages: readonly Message[]) => boolean,
  timeoutMs: number,
): Promise<{ messages: Message[]; batchSizes: number[] }> {
  return readUntil(subscriber, subscriber.batches(), (batch) => batch, until, timeoutMs);
}

async function readUntil<T>(
  subscriber: Subscriber,
  source: AsyncIterable<T>,
  messagesOf: (item: T) => readonly Message[],
  until: (messages: readonly Message[]) => boolean,
  timeoutMs: number,
): Promise<{ messages: Message[]; batchSizes: number[] }> {
  const messages: Message[] = [];
  const batchSizes: number[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    subscriber.close();
  }, timeoutMs);
  try {
    for await (const item of source) {
      const some = messagesOf(item);
      messages.push(...some);
      batchSizes.push(some.length);
      if (until(messages)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut)
    throw new Error(
      `timed out after ${timeoutMs} ms with ${messages.length} messages (last seq ${messages.at(-1)?.seq ?? 'none'})`,
    );
  return { messages, batchSizes };
}

/** Waits for a condition checked every `intervalMs`, failing after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== null && value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const decode = (payload: Uint8Array): string => new TextDecoder().decode(payload);
