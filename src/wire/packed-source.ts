import type { Entry, RunHeader } from '../core/types.js';
import { LIMITS } from '../limits.js';
import {
  type DecodedPublishItem,
  encodePackedEntries,
  itemRun,
  PACKED_ENTRIES_VERSION,
} from './packed-entries.js';

/** The packed bytes a run of entries was decoded from or packed into, and those entries in order. */
interface PackedSource {
  readonly bytes: Uint8Array;
  readonly entries: readonly Entry[];
}

/**
 * The packed byte strings made or received lately, by the first entry they
 * hold, so that the same entries are not packed twice:
 * - a sequencer turns a publisher's batch into a run as the bytes it
 *   arrived in (`entriesOfItems`), and its log and its multicast take
 *   those bytes;
 * - a follower keeps a received append's bytes in its log as they arrived.
 * All of this happens within the Ready that writes them, after which the
 * node forgets them (`forgetPackedSourcesThrough`); the memo holds at most
 * `LIMITS.packedSourcesRemembered`, oldest out first. (A WeakMap keyed by
 * entry, whose values hold their keys, cost the collector five times the
 * packing it saved.)
 */
const sources = new Map<Entry, PackedSource>();

/** Notes that `entries` (consecutive, in order) are exactly what `bytes` hold. */
export function rememberPackedSource(entries: readonly Entry[], bytes: Uint8Array): void {
  if (entries.length === 0) return;
  if (sources.size >= LIMITS.packedSourcesRemembered) {
    sources.delete(sources.keys().next().value as Entry);
  }
  sources.set(entries[0]!, { bytes, entries });
}

/**
 * Forgets the bytes of entries up to `seq`: a node calls it once a Ready
 * that wrote and sent them is carried out, so that the memo holds only
 * what is still on its way (the bound alone would keep entries alive for
 * the collector to move again and again).
 */
export function forgetPackedSourcesThrough(seq: number): void {
  for (const first of sources.keys()) if (first.seq <= seq) sources.delete(first);
}

/**
 * The packed bytes that hold exactly the entries remembered with
 * `entries[start]` first, when those same entry objects follow it in
 * `entries`; null otherwise. Returns how many entries the bytes hold.
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

/** Byte strings that, put together in order, are one packed form. */
export interface PackedPieces {
  readonly pieces: readonly Uint8Array[];
  /** Their total length. */
  readonly bytes: number;
}

/**
 * The packed form of `entries` in pieces: the remembered bytes of the runs
 * among them, and only the entries no remembered bytes hold packed now. A
 * multicast writes the pieces straight into its frame (`peer-codec.ts`)
 * rather than putting them together first.
 */
export function packedPieces(entries: readonly Entry[]): PackedPieces {
  if (entries.length === 0) return { pieces: [encodePackedEntries(entries)], bytes: 0 };
  const pieces: Uint8Array[] = [Uint8Array.of(PACKED_ENTRIES_VERSION)];
  let size = 1;
  let gapStart = -1;
  const closeGap = (end: number): void => {
    if (gapStart < 0) return;
    const packed = encodePackedEntries(entries.slice(gapStart, end));
    pieces.push(packed.subarray(1));
    size += packed.length - 1;
    gapStart = -1;
  };
  let i = 0;
  while (i < entries.length) {
    const source = packedSourceAt(entries, i);
    if (source === null) {
      if (gapStart < 0) gapStart = i;
      i++;
      continue;
    }
    if (i === 0 && source.count === entries.length)
      return { pieces: [source.bytes], bytes: source.bytes.length };
    closeGap(i);
    // Each packed string starts with the version byte; the runs follow it.
    pieces.push(source.bytes.subarray(1));
    size += source.bytes.length - 1;
    i += source.count;
  }
  closeGap(entries.length);
  return { pieces, bytes: size };
}

/** The packed form of `entries` as one byte string (see packedPieces). */
export function packEntries(entries: readonly Entry[]): Uint8Array {
  const { pieces, bytes } = packedPieces(entries);
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, bytes);
}

/**
 * The entries a sequencer makes of a packed publish's `items` that
 * `header` sequences as one run: views of runs of packed entries made of
 * the bytes they arrived in (`itemRun`), remembered here so that the log
 * and the multicast take those bytes instead of packing each message
 * again. Items that lie apart in the request (another run of it) start a
 * run of their own.
 */
export function entriesOfItems(
  items: readonly DecodedPublishItem[],
  header: RunHeader,
): readonly Entry[] {
  const entries: Entry[] = [];
  let i = 0;
  while (i < items.length) {
    let j = i + 1;
    while (j < items.length && items[j]!.start === items[j - 1]!.end) j++;
    const whole = i === 0 && j === items.length;
    const run = itemRun(whole ? items : items.slice(i, j), {
      ...header,
      firstSeq: header.firstSeq + i,
      count: j - i,
      firstProducerSeq: header.firstProducerSeq + i,
    });
    rememberPackedSource(run.entries, run.bytes);
    // One run (the usual batch): its entries as they are, without a copy.
    if (whole) return run.entries;
    for (const entry of run.entries) entries.push(entry);
    i = j;
  }
  return entries;
}
