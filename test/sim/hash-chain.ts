import type { Entry } from '../../src/core/index.js';

/**
 * Two independent 32-bit FNV-1a hashes side by side (64 bits in all): fast,
 * deterministic, and wide enough that two different streams of a few
 * thousand entries do not collide by chance.
 */
function fnv1a(text: string, basis: number, prime: number): number {
  let hash = basis;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, prime);
  }
  return hash >>> 0;
}

function hash64(text: string): string {
  const low = fnv1a(text, 0x811c9dc5, 0x01000193);
  const high = fnv1a(text, 0x050c5d1f, 0x01000197);
  return high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0');
}

/** Every field that makes an entry what it is, payload included. */
export function describeEntry(entry: Entry): string {
  let payload = '';
  for (const byte of entry.payload) payload += byte.toString(16).padStart(2, '0');
  return `${entry.seq}/${entry.epoch}/${entry.kind}/${entry.producerId}/${entry.producerSeq}/${entry.topic}/${entry.timestampMs}/${payload}`;
}

export function entryDigest(entry: Entry): string {
  return hash64(describeEntry(entry));
}

/** The chain link after `entry`: it commits to the entry and to everything before it. */
export function chainLink(previousLink: string, entry: Entry): string {
  return hash64(`${previousLink}|${entryDigest(entry)}`);
}

export const CHAIN_ROOT = '0000000000000000';

/** The hash chain of a delivered stream: element i commits to entries 0..i. */
export function hashChain(entries: readonly Entry[]): string[] {
  const links: string[] = [];
  let link = CHAIN_ROOT;
  for (const entry of entries) {
    link = chainLink(link, entry);
    links.push(link);
  }
  return links;
}
