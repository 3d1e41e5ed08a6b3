import type { Entry } from '../core/types.js';
import { encodePackedEntries } from './packed-entries.js';

/** The packed bytes a run of entries was decoded from, and those entries in order. */
interface PackedSource {
  readonly bytes: Uint8Array;
  readonly entries: readonly Entry[];
}

/**
 * Entries remember the packed bytes they were decoded from or packed into
 * (keyed by their first entry, so the memo goes when the entries do), so
 * that the same entries are not packed twice:
 * - a follower keeps a received append's bytes in its log as they arrived;
 * - a sequencer's log packs a Ready's entries, and its multicast of the
 *   same entries sends those bytes.
 */
const sources = new WeakMap<Entry, PackedSource>();

/** Notes that `entries` (consecutive, in order) were decoded from `bytes`, which hold nothing else. */
export function rememberPackedSource(entries: readonly Entry[], bytes: Uint8Array): void {
  if (entries.length > 0) sources.set(entries[0]!, { bytes, entries });
}

/**
 * The packed bytes that hold exactly the entries decoded with
 * `entries[start]`, when those same entry objects follow it in `entries`;
 * null otherwise. Returns how many entries the bytes hold.
 */
export function packedSourceAt(
  entries: readonly Entry[],
  start: number,
): { readonly bytes: Uint8Array; readonly count: number } | null {
  const source = sources.get(entries[start]!);
  if (source === undefined) return null;
  const count = source.entries.length;
  if (start + count > entries.length) return null;
  for (let k = 1; k < count; k++) if (entries[start + k] !== source.entries[k]) return null;
  return { bytes: source.bytes, count };
}

/** The packed form of `entries`: bytes already made for exactly these entries, else packed now. */
export function packEntries(entries: readonly Entry[]): Uint8Array {
  if (entries.length > 0) {
    const source = packedSourceAt(entries, 0);
    if (source !== null && source.count === entries.length) return source.bytes;
  }
  return encodePackedEntries(entries);
}
