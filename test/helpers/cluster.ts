import type { ExecutionContext } from 'ava';
import type { Message, Subscriber } from '../../clients/index.js';
import { LocalCluster, type LocalClusterOptions } from '../../src/cluster/local-cluster.js';

/** Starts a real local cluster and stops it (by pid) when the test ends, pass or fail. */
export async function startCluster(
  t: ExecutionContext,
  options: LocalClusterOptions = {},
): Promise<LocalCluster> {
  const cluster = await LocalCluster.start({
    logs: process.env['ORDO_TEST_LOGS'] ? 'inherit' : 'ignore',
    ...options,
  });
  t.teardown(() => cluster.stop());
  return cluster;
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
  const messages: Message[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    subscriber.close();
  }, timeoutMs);
  try {
    for await (const m of subscriber) {
      messages.push(m);
      if (until(messages)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut)
    throw new Error(
      `timed out after ${timeoutMs} ms with ${messages.length} messages (last seq ${messages.at(-1)?.seq ?? 'none'})`,
    );
  return messages;
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
