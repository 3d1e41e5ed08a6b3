import {
  decodeMembership,
  encodeMembership,
  type Membership,
  type MembershipState,
} from '../core/membership.js';
import { AtomicFile } from './atomic-file.js';
import { crc32c } from './crc32c.js';
import type { FileSystem } from './file-system.js';
import { CorruptMetaError, LogStoreUnavailableError } from './storage-errors.js';

/**
 * Where a node keeps its membership: the membership in force at its commit
 * point and the config entries of its log above it (see MembershipState).
 * `load` returns null for a node that never saved one.
 */
export interface MembershipStorage {
  load(): Promise<MembershipState | null>;
  save(state: MembershipState): Promise<void>;
  close(): Promise<void>;
}

const FORMAT_VERSION = 1;

/**
 * Keeps the membership in one small JSON file (`membership.json`), replaced
 * whole and crash-safely, with a CRC32C so a damaged file is reported rather
 * than trusted. It is saved rarely: when a config entry is appended or
 * truncated, or the log restarts.
 */
export class FileMembershipStore implements MembershipStorage {
  private readonly file: AtomicFile;
  private closed = false;

  constructor(dir: string, fs?: FileSystem, fileName = 'membership.json') {
    this.file = new AtomicFile(dir, fileName, fs);
  }

  async load(): Promise<MembershipState | null> {
    this.requireOpen();
    const bytes = await this.file.read();
    if (bytes === null) return null;
    return parseMembershipFile(this.file.path, bytes.toString('utf8'));
  }

  save(state: MembershipState): Promise<void> {
    try {
      this.requireOpen();
      return this.file.write(Buffer.from(formatMembershipFile(state), 'utf8'));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.file.settle();
  }

  private requireOpen(): void {
    if (this.closed)
      throw new LogStoreUnavailableError(`membership store ${this.file.path} is closed`);
  }
}

/** For nodes without a data folder: the membership lives as long as the process. */
export class MemoryMembershipStore implements MembershipStorage {
  private state: MembershipState | null = null;
  async load(): Promise<MembershipState | null> {
    return this.state;
  }
  async save(state: MembershipState): Promise<void> {
    this.state = state;
  }
  async close(): Promise<void> {}
}

function plain(membership: Membership): unknown {
  return JSON.parse(Buffer.from(encodeMembership(membership)).toString('utf8'));
}

function body(state: MembershipState): string {
  return JSON.stringify({
    version: FORMAT_VERSION,
    committed: plain(state.committed),
    pending: state.pending.map((p) => ({
      seq: p.seq,
      epoch: p.epoch,
      membership: plain(p.membership),
    })),
  });
}

function formatMembershipFile(state: MembershipState): string {
  const text = body(state);
  return `${text.slice(0, -1)},"crc32c":${crc32c(Buffer.from(text, 'utf8'))}}\n`;
}

function parseMembershipFile(path: string, text: string): MembershipState {
  const membershipOf = (value: unknown): Membership => {
    // A node joining a running cluster knows no committed membership yet.
    const members = (value as { members?: unknown } | null)?.members;
    if (Array.isArray(members) && members.length === 0) return { members: [] };
    try {
      return decodeMembership(Buffer.from(JSON.stringify(value), 'utf8'));
    } catch (cause) {
      throw new CorruptMetaError(path, (cause as Error).message, { cause });
    }
  };
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new CorruptMetaError(path, 'not valid JSON (a torn or damaged write)', { cause });
  }
  if (parsed === null || typeof parsed !== 'object')
    throw new CorruptMetaError(path, 'not a JSON object');
  if (parsed['version'] !== FORMAT_VERSION)
    throw new CorruptMetaError(path, `unknown format version ${String(parsed['version'])}`);
  const pendingRaw = parsed['pending'];
  if (!Array.isArray(pendingRaw)) throw new CorruptMetaError(path, 'pending is not a list');
  const state: MembershipState = {
    committed: membershipOf(parsed['committed']),
    pending: pendingRaw.map((p: Record<string, unknown>) => {
      if (!isCount(p?.['seq']) || !isCount(p?.['epoch']))
        throw new CorruptMetaError(path, 'a pending config entry lacks its seq or epoch');
      return { seq: p['seq'], epoch: p['epoch'], membership: membershipOf(p['membership']) };
    }),
  };
  if (parsed['crc32c'] !== crc32c(Buffer.from(body(state), 'utf8')))
    throw new CorruptMetaError(path, 'CRC32C mismatch');
  return state;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
