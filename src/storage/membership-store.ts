import {
  decodeMembership,
  encodeMembership,
  type Membership,
  type MembershipState,
} from '../core/membership.js';
import type { FileSystem } from './file-system.js';
import { checkJsonSeal, isCount, JsonDocumentFile, openJson, sealJson } from './json-document.js';
import { CorruptMetaError } from './storage-errors.js';

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
  private readonly file: JsonDocumentFile;

  constructor(dir: string, fs?: FileSystem, fileName = 'membership.json') {
    this.file = new JsonDocumentFile(dir, fileName, fs, 'membership store');
  }

  async load(): Promise<MembershipState | null> {
    const text = await this.file.read();
    return text === null ? null : parseMembershipFile(this.file.path, text);
  }

  save(state: MembershipState): Promise<void> {
    return this.file.write(sealJson(body(state)));
  }

  close(): Promise<void> {
    return this.file.close();
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
  const parsed = openJson(path, text, FORMAT_VERSION);
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
  checkJsonSeal(path, parsed, body(state));
  return state;
}
