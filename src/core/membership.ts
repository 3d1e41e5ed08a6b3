import type { NodeId } from './types.js';

/**
 * Cluster membership as the log records it. A voter votes and counts toward
 * the commit quorum; a learner only replicates (a node catching up before it
 * may vote). A witness votes and counts toward the quorum like any voter but
 * never campaigns (so it is never sequencer) and keeps only the tail of the
 * log that not every data voter holds yet. `address` is opaque to the core:
 * the host stores how to reach the member there ('' for members of the seed
 * config, whose addresses the config file gives).
 */
export interface Member {
  readonly id: NodeId;
  readonly voter: boolean;
  readonly address: string;
  /** Absent (false) for a data node. */
  readonly witness?: boolean;
}

export interface Membership {
  readonly members: readonly Member[];
}

/** A config entry still above the commit point (it may yet be truncated). */
export interface PendingConfig {
  readonly seq: number;
  readonly epoch: number;
  readonly membership: Membership;
}

/**
 * What a node persists about membership: the membership in force at its
 * commit point (or later, see ProtocolNode.resetLogAfter) and the config
 * entries of its log above it. The membership in force is the last of
 * `pending`, else `committed`.
 */
export interface MembershipState {
  readonly committed: Membership;
  readonly pending: readonly PendingConfig[];
}

/** One change at a time: each moves at most one voter (single-server changes). */
export type MembershipChange =
  | {
      readonly kind: 'addLearner';
      readonly id: NodeId;
      readonly address: string;
      readonly witness?: boolean;
    }
  | { readonly kind: 'promote'; readonly id: NodeId }
  | { readonly kind: 'remove'; readonly id: NodeId };

/** Most members (voters and learners) a cluster may have. */
export const MAX_MEMBERS = 15;
/** Most bytes of a member's opaque address. */
export const MAX_MEMBER_ADDRESS_BYTES = 512;
/** Most bytes of a node id in a membership (as the peer codec's node id bound). */
export const MAX_MEMBER_ID_BYTES = 64;

export function seedMembership(
  voters: readonly NodeId[],
  witnesses: readonly NodeId[] = [],
): Membership {
  return {
    members: voters.map((id) =>
      witnesses.includes(id)
        ? { id, voter: true, address: '', witness: true }
        : { id, voter: true, address: '' },
    ),
  };
}

export function votersOf(membership: Membership): NodeId[] {
  return membership.members.filter((m) => m.voter).map((m) => m.id);
}

/** The voters that keep the whole log (every voter but the witnesses). */
export function dataVotersOf(membership: Membership): NodeId[] {
  return membership.members.filter((m) => m.voter && m.witness !== true).map((m) => m.id);
}

export function hasWitness(membership: Membership): boolean {
  return membership.members.some((m) => m.witness === true);
}

export function isWitness(membership: Membership, id: NodeId): boolean {
  return findMember(membership, id)?.witness === true;
}

export function memberIds(membership: Membership): NodeId[] {
  return membership.members.map((m) => m.id);
}

export function findMember(membership: Membership, id: NodeId): Member | undefined {
  return membership.members.find((m) => m.id === id);
}

/** The membership after `change`, or why the change is not allowed. */
export function applyChange(
  membership: Membership,
  change: MembershipChange,
): { ok: true; membership: Membership } | { ok: false; reason: string } {
  const current = findMember(membership, change.id);
  switch (change.kind) {
    case 'addLearner':
      if (current !== undefined) return { ok: false, reason: `${change.id} is already a member` };
      if (membership.members.length >= MAX_MEMBERS)
        return { ok: false, reason: `a cluster has at most ${MAX_MEMBERS} members` };
      if (change.id.length === 0 || utf8Length(change.id) > MAX_MEMBER_ID_BYTES)
        return { ok: false, reason: `node id must be 1 to ${MAX_MEMBER_ID_BYTES} bytes` };
      if (utf8Length(change.address) > MAX_MEMBER_ADDRESS_BYTES)
        return { ok: false, reason: `address exceeds ${MAX_MEMBER_ADDRESS_BYTES} bytes` };
      return {
        ok: true,
        membership: {
          members: [
            ...membership.members,
            change.witness === true
              ? { id: change.id, voter: false, address: change.address, witness: true }
              : { id: change.id, voter: false, address: change.address },
          ],
        },
      };
    case 'promote':
      if (current === undefined) return { ok: false, reason: `${change.id} is not a member` };
      if (current.voter) return { ok: false, reason: `${change.id} is already a voter` };
      return {
        ok: true,
        membership: {
          members: membership.members.map((m) => (m.id === change.id ? { ...m, voter: true } : m)),
        },
      };
    case 'remove': {
      if (current === undefined) return { ok: false, reason: `${change.id} is not a member` };
      const remaining = membership.members.filter((m) => m.id !== change.id);
      if (!remaining.some((m) => m.voter && m.witness !== true))
        return { ok: false, reason: 'the last data voter cannot be removed' };
      return { ok: true, membership: { members: remaining } };
    }
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** The payload of a config entry (and of a log start's membership): JSON, readable in a dump. */
export function encodeMembership(membership: Membership): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      members: membership.members.map((m) =>
        m.witness === true
          ? { id: m.id, voter: m.voter, address: m.address, witness: true }
          : { id: m.id, voter: m.voter, address: m.address },
      ),
    }),
  );
}

export class MembershipFormatError extends Error {
  override readonly name = 'MembershipFormatError';
  readonly retriable = false;
}

/** Decodes and checks a config entry's payload; throws MembershipFormatError when it is not one. */
export function decodeMembership(payload: Uint8Array): Membership {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(payload));
  } catch (cause) {
    throw new MembershipFormatError('membership is not UTF-8 JSON', { cause });
  }
  const members = (raw as { members?: unknown } | null)?.members;
  if (!Array.isArray(members) || members.length === 0 || members.length > MAX_MEMBERS)
    throw new MembershipFormatError(`membership must list 1 to ${MAX_MEMBERS} members`);
  const seen = new Set<string>();
  const out: Member[] = [];
  for (const m of members as unknown[]) {
    const { id, voter, address, witness } = (m ?? {}) as Record<string, unknown>;
    if (typeof id !== 'string' || id.length === 0 || utf8Length(id) > MAX_MEMBER_ID_BYTES)
      throw new MembershipFormatError(`member id ${JSON.stringify(id)} is not a node id`);
    if (typeof voter !== 'boolean')
      throw new MembershipFormatError(`member ${id}: voter must be true or false`);
    if (typeof address !== 'string' || utf8Length(address) > MAX_MEMBER_ADDRESS_BYTES)
      throw new MembershipFormatError(`member ${id}: address must be a string`);
    if (witness !== undefined && typeof witness !== 'boolean')
      throw new MembershipFormatError(`member ${id}: witness must be true or false`);
    if (seen.has(id)) throw new MembershipFormatError(`member ${id} is listed twice`);
    seen.add(id);
    out.push(witness === true ? { id, voter, address, witness: true } : { id, voter, address });
  }
  if (!out.some((m) => m.voter && m.witness !== true))
    throw new MembershipFormatError('membership has no data voter (a voter that is not a witness)');
  return { members: out };
}

export function sameMembership(a: Membership, b: Membership): boolean {
  if (a.members.length !== b.members.length) return false;
  return a.members.every((m, i) => {
    const o = b.members[i]!;
    return (
      m.id === o.id &&
      m.voter === o.voter &&
      m.address === o.address &&
      (m.witness === true) === (o.witness === true)
    );
  });
}
