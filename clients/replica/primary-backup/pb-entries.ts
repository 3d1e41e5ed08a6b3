import { LIMITS } from '../../../src/limits.js';
import { InvalidRequestError } from '../../errors.js';
import type { LeaseEntry, PbEntry, RequestEntry, UpdateEntry } from './pb-rules.js';

/** The three topics of a primary-backup app: leases, requests, updates. */
export interface PbTopics {
  readonly control: string;
  readonly requests: string;
  readonly updates: string;
}

export function pbTopics(app: string): PbTopics {
  if (app.length === 0 || Buffer.byteLength(app) > LIMITS.replicaMaxNameBytes)
    throw new InvalidRequestError(
      `app name must be 1 to ${LIMITS.replicaMaxNameBytes} bytes, got '${app}'`,
    );
  return {
    control: `pb/${app}/control`,
    requests: `pb/${app}/requests`,
    updates: `pb/${app}/updates`,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** An entry as the payload of a message on one of the app's topics (JSON). */
export function encodePbEntry(entry: PbEntry): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(entry));
}

/**
 * The entry a message carries, or null when it is not one (malformed, or on
 * the wrong topic): such messages are ignored the same way by every replica.
 */
export function decodePbEntry(
  topics: PbTopics,
  topic: string,
  payload: Uint8Array,
): PbEntry | null {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(payload));
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  const isInt = (x: unknown): x is number => Number.isSafeInteger(x);
  const isText = (x: unknown): x is string => typeof x === 'string';
  const optionalText = (x: unknown) => x === undefined || isText(x);
  if (topic === topics.control && v['type'] === 'lease') {
    if (!isInt(v['epoch']) || !isText(v['primary']) || !isInt(v['leaseMs'])) return null;
    const entry: LeaseEntry = {
      type: 'lease',
      epoch: v['epoch'],
      primary: v['primary'],
      leaseMs: v['leaseMs'],
    };
    return entry;
  }
  if (topic === topics.requests && v['type'] === 'request') {
    if (!isText(v['id']) || !isText(v['request'])) return null;
    const entry: RequestEntry = { type: 'request', id: v['id'], request: v['request'] };
    return entry;
  }
  if (topic === topics.updates && v['type'] === 'update') {
    if (!isText(v['id']) || !isInt(v['epoch']) || !isText(v['primary'])) return null;
    if (!optionalText(v['update']) || !optionalText(v['reply']) || !optionalText(v['error']))
      return null;
    const entry: UpdateEntry = {
      type: 'update',
      id: v['id'],
      epoch: v['epoch'],
      primary: v['primary'],
      ...(isText(v['update']) ? { update: v['update'] } : {}),
      ...(isText(v['reply']) ? { reply: v['reply'] } : {}),
      ...(isText(v['error']) ? { error: v['error'] } : {}),
    };
    return entry;
  }
  return null;
}
