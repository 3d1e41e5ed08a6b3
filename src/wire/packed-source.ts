import type { Entry } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { encodePackedEntries } from './packed-entries.js';

/** The packed bytes a run of entries was decoded from, and those entries in order. */
interface PackedSource {
  readonly bytes: Uint8Array;
  readonly entries: readonly Entry[];
}

/**
 * The last few packed byte strings made or received, with the entries they
 * hold, so that the same entries are not packed twice:
 * - a follower keeps a received append's bytes in its log as they arrived;
 * - a sequencer's log packs a Ready's entries, and its multicast of the
 *   same entries sends those bytes.
 * Both happen within a Ready or two of the bytes being seen, so a short
 * ring of strong references serves. (A WeakMap keyed by the first entry
 * served too, but its entries, whose values hold their keys, cost the
 * garbage collector five times the decoding they saved.)
 */
const recent: (PackedSource | undefined)[] = new Array(LIMITS.packedSourcesRemembered);
let nextSlot = 0;

/** Notes that `entries` (consecutive, in order) were decoded from `bytes`, which hold nothing else. */
export function rememberPackedSource(entries: readonly Entry[], bytes: Uint8Array): void {
  if (entries.length === 0) return;
  recent[nextSlot] = { bytes, entries };
  nextSlot = (nextSlot + 1) % recent.length;
}

function sourceStartingWith(first: Entry): PackedSource | undefined {
  for (let i = 0; i < recent.length; i++) {
    const source = recent[i];
    if (source !== undefined && source.entries[0] === first) return source;
  }
  return undefined;
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
  const source = sourceStartingWith(entries[start]!);
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
