import { invariant } from '../core/assert.js';
import { decodeMembership } from '../core/membership.js';
import { type Entry, EntryKind, type RunHeader } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { checkEpoch, checkSeq, checkUint, FrameError } from './frame-error.js';
import { PackedWriter, varintBytes } from './packed-writer.js';

/**
 * Packed entries: a run of entries in one byte string, the form `Append`
 * and `Delivery` carry them in (`packed_entries`, field 60). A publisher's
 * batch becomes one run: consecutive seqs of one producer with consecutive
 * producerSeqs, one epoch, one log time and one owner, so those fields
 * travel once per run instead of once per message, and a topic equal to the
 * one before it travels as one byte. The payloads are copied once into the
 * frame on the sending side and come out as views into the received frame,
 * never copied again.
 *
 * Layout (varints are unsigned LEB128, at most 2^53):
 *
 *     u8 version (1)
 *     run*: varint firstSeq, varint count (>= 1), u8 kind, varint epoch,
 *           varint timestampMs, varint firstProducerSeq,
 *           varint producerId length, producerId bytes (UTF-8),
 *           varint owner length, owner bytes (UTF-8),
 *           count times: varint topicTag (0: the topic of the entry before
 *             it in the run; n > 0: n - 1 bytes of UTF-8 follow),
 *             varint payload length, payload bytes
 *
 * Entry i of a run has seq firstSeq + i and producerSeq firstProducerSeq + i
 * (a data entry), or producerSeq 0 (an epoch start or config entry, one per
 * run).
 */
export const PACKED_ENTRIES_VERSION = 1;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** True when `b` can follow `a` in the same run. */
function sameRun(a: Entry, b: Entry): boolean {
  return (
    b.seq === a.seq + 1 &&
    a.kind === EntryKind.data &&
    b.kind === EntryKind.data &&
    b.epoch === a.epoch &&
    b.timestampMs === a.timestampMs &&
    b.producerId === a.producerId &&
    b.producerSeq === a.producerSeq + 1 &&
    (b.owner ?? '') === (a.owner ?? '')
  );
}

/** What a run starting at `first` with `count` entries says once for all of them. */
function runHeaderOf(first: Entry, count: number): RunHeader {
  return {
    firstSeq: first.seq,
    count,
    epoch: first.epoch,
    timestampMs: first.timestampMs,
    firstProducerSeq: first.producerSeq,
    producerId: first.producerId,
    owner: first.owner ?? '',
  };
}

/** Bytes of a run's header: its shared fields, the kind byte included. */
function runHeaderBytes(header: RunHeader): number {
  const producerBytes = Buffer.byteLength(header.producerId);
  const ownerBytes = Buffer.byteLength(header.owner);
  return (
    varintBytes(header.firstSeq) +
    varintBytes(header.count) +
    1 +
    varintBytes(header.epoch) +
    varintBytes(header.timestampMs) +
    varintBytes(header.firstProducerSeq) +
    varintBytes(producerBytes) +
    producerBytes +
    varintBytes(ownerBytes) +
    ownerBytes
  );
}

/** Writes a run's header (see the layout above), `runHeaderBytes(header)` bytes. */
function writeRunHeader(w: PackedWriter, kind: EntryKind, header: RunHeader): void {
  w.varint(header.firstSeq);
  w.varint(header.count);
  w.byte(kind);
  w.varint(header.epoch);
  w.varint(header.timestampMs);
  w.varint(header.firstProducerSeq);
  for (const text of [header.producerId, header.owner]) {
    const length = Buffer.byteLength(text);
    w.varint(length);
    w.utf8(text, length);
  }
}

/**
 * Packs entries (in increasing seq order; gaps allowed, as in a filtered
 * delivery) into one byte string. One pass measures, one writes.
 */
export function encodePackedEntries(entries: readonly Entry[]): Uint8Array {
  if (entries.length === 0) return new Uint8Array(0);
  // Pass 1: the size. Strings are measured once per run (producer, owner)
  // and once per change of topic.
  let size = 1;
  let runStart = 0;
  let lastTopic: string | null = null;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (i === runStart || !sameRun(entries[i - 1]!, e)) {
      runStart = i;
      let count = 1;
      while (i + count < entries.length && sameRun(entries[i + count - 1]!, entries[i + count]!))
        count++;
      size += runHeaderBytes(runHeaderOf(e, count));
      lastTopic = null;
    }
    if (e.topic === lastTopic) size += 1;
    else {
      const topicBytes = Buffer.byteLength(e.topic);
      size += varintBytes(topicBytes + 1) + topicBytes;
      lastTopic = e.topic;
    }
    size += varintBytes(e.payload.length) + e.payload.length;
  }
  // Pass 2: the bytes.
  const w = new PackedWriter(size);
  w.byte(PACKED_ENTRIES_VERSION);
  let i = 0;
  while (i < entries.length) {
    const first = entries[i]!;
    let count = 1;
    while (i + count < entries.length && sameRun(entries[i + count - 1]!, entries[i + count]!))
      count++;
    writeRunHeader(w, first.kind, runHeaderOf(first, count));
    let topic: string | null = null;
    for (let k = 0; k < count; k++) {
      const e = entries[i + k]!;
      if (e.topic === topic) w.byte(0);
      else {
        const length = Buffer.byteLength(e.topic);
        w.varint(length + 1);
        w.utf8(e.topic, length);
        topic = e.topic;
      }
      w.varint(e.payload.length);
      w.bytes(e.payload);
    }
    i += count;
  }
  if (w.pos !== size) throw new Error(`packed entries: wrote ${w.pos} bytes, measured ${size}`);
  return w.out;
}

/** How the decoded seqs must run: contiguous from `firstSeq`, or increasing inside [firstSeq, lastSeq]. */
export interface PackedSeqRule {
  readonly firstSeq: number;
  /** Set for a filtered range (a delivery): seqs may skip but stay inside it. Absent: contiguous. */
  readonly lastSeq?: number;
}

/** How a decode builds entries. */
export interface PackedDecodeOptions {
  /** Only the entries from `fromSeq` to `toSeq` are built; the others are read past without an object. */
  readonly window?: { readonly fromSeq: number; readonly toSeq: number };
  /**
   * Entries whose payload view is made only when read (`PackedEntry`): for
   * a follower's appends, whose payloads go to its log as the packed bytes
   * they arrived in and are rarely read one by one.
   */
  readonly lazyPayloads?: boolean;
}

/**
 * What the entries of one packed run share: a run of a publisher's batch
 * has one kind, epoch, log time, producer and owner, and consecutive
 * producerSeqs from `firstProducerSeq` (a run of any other kind holds one
 * entry).
 */
class PackedRun {
  constructor(
    readonly firstSeq: number,
    readonly kind: EntryKind,
    readonly epoch: number,
    readonly timestampMs: number,
    readonly firstProducerSeq: number,
    readonly producerId: string,
    readonly owner: string,
    readonly bytes: Uint8Array,
  ) {}
}

/**
 * An entry decoded from packed bytes, made of what it does not share with
 * its run (its seq, topic and payload's place) and the run: the fields the
 * run holds are read through it, and the payload view is made when read.
 * An object per entry of a follower's appends with every field of its own
 * (and a boxed timestamp) was most of what the follower allocated; this one
 * is half the size.
 */
export class PackedEntry implements Entry {
  constructor(
    readonly seq: number,
    readonly topic: string,
    private readonly run: PackedRun,
    private readonly payloadAt: number,
    readonly payloadBytes: number,
  ) {}

  get kind(): EntryKind {
    return this.run.kind;
  }

  get epoch(): number {
    return this.run.epoch;
  }

  get timestampMs(): number {
    return this.run.timestampMs;
  }

  get producerId(): string {
    return this.run.producerId;
  }

  get producerSeq(): number {
    const run = this.run;
    return run.kind === EntryKind.data
      ? run.firstProducerSeq + (this.seq - run.firstSeq)
      : run.firstProducerSeq;
  }

  get owner(): string {
    return this.run.owner;
  }

  /** The run it shares its fields with, for a run of data entries (see `Entry.runKey`). */
  get runKey(): object | undefined {
    return this.run.kind === EntryKind.data ? this.run : undefined;
  }

  get payload(): Uint8Array {
    const bytes = this.run.bytes;
    return new Uint8Array(bytes.buffer, bytes.byteOffset + this.payloadAt, this.payloadBytes);
  }
}

/**
 * Unpacks and validates packed entries: every field as `validateEntry`
 * checks it, seqs as `rule` says. Payloads are views into `bytes`. Throws
 * FrameError for anything malformed.
 *
 * With a `window` (options), only the entries inside it are built, and decoding stops
 * after its last seq: what lies beyond is not checked. That is for bytes
 * this process packed itself (a log kept as packed runs in memory), where a
 * read of a few entries must not pay for the whole run.
 */
export function decodePackedEntries(
  bytes: Uint8Array,
  rule: PackedSeqRule,
  field: string,
  options: PackedDecodeOptions = {},
): Entry[] {
  const keepFrom = options.window?.fromSeq ?? 0;
  const keepTo = options.window?.toSeq ?? Number.MAX_SAFE_INTEGER;
  const lazy = options.lazyPayloads === true;
  const entries: Entry[] = [];
  if (bytes.length === 0) return entries;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const end = buf.length;
  let pos = 0;
  const fail = (why: string): never => {
    throw new FrameError('malformed', `${field}: ${why}`);
  };
  const readVarint = (what: string): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= end) fail(`${what} is cut short`);
      const b = buf[pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
      if (scale > 2 ** 53) fail(`${what} is longer than 2^53`);
    }
    if (!Number.isSafeInteger(value)) fail(`${what} is longer than 2^53`);
    return value;
  };
  const readString = (what: string, maxBytes: number, length: number): string => {
    if (length > maxBytes) fail(`${what} is longer than ${maxBytes} bytes`);
    if (pos + length > end) fail(`${what} is cut short`);
    const start = pos;
    pos += length;
    let ascii = true;
    for (let k = start; k < pos; k++) {
      if (buf[k]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return buf.toString('latin1', start, pos);
    try {
      return strictUtf8.decode(buf.subarray(start, pos));
    } catch (error) {
      throw new FrameError('malformed', `${field}: ${what} is not valid UTF-8`, { cause: error });
    }
  };
  if (buf[pos++] !== PACKED_ENTRIES_VERSION)
    fail(`unknown packed entries version ${buf[0]} (this node reads ${PACKED_ENTRIES_VERSION})`);
  if (pos === end) fail('holds no entries after its version');
  let nextSeq = rule.firstSeq;
  while (pos < end) {
    const firstSeq = checkSeq(readVarint('seq'), `${field}.seq`);
    if (firstSeq > keepTo) break;
    const count = readVarint('count');
    if (count < 1) fail('a run holds no entries');
    if (rule.lastSeq === undefined ? firstSeq !== nextSeq : firstSeq < nextSeq) {
      fail(
        `entry has seq ${firstSeq}, expected ${rule.lastSeq === undefined ? '' : 'at least '}${nextSeq}`,
      );
    }
    const lastSeq = firstSeq + count - 1;
    if (lastSeq > (rule.lastSeq ?? Number.MAX_SAFE_INTEGER))
      fail(`entries go past seq ${rule.lastSeq}`);
    checkSeq(lastSeq, `${field}.seq`);
    if (pos >= end) fail('kind is cut short');
    const kind = buf[pos++]!;
    if (kind !== EntryKind.data && kind !== EntryKind.epochStart && kind !== EntryKind.config)
      fail(`kind ${kind} is not an entry kind`);
    if (kind !== EntryKind.data && count !== 1)
      fail('a run of non-data entries holds more than one');
    const epoch = checkEpoch(readVarint('epoch'), `${field}.epoch`);
    const timestampMs = checkUint(readVarint('timestampMs'), `${field}.timestampMs`);
    const firstProducerSeq = readVarint('producerSeq');
    checkUint(firstProducerSeq + count - 1, `${field}.producerSeq`);
    const producerId = readString(
      'producerId',
      LIMITS.maxProducerIdBytes,
      readVarint('producerId length'),
    );
    const owner = readString('owner', LIMITS.maxIdentityBytes, readVarint('owner length'));
    if (kind === EntryKind.data && producerId.length === 0) fail('producerId must not be empty');
    let topic: string | null = null;
    const run = lazy
      ? new PackedRun(
          firstSeq,
          kind as EntryKind,
          epoch,
          timestampMs,
          firstProducerSeq,
          producerId,
          owner,
          buf,
        )
      : null;
    for (let k = 0; k < count; k++) {
      const tag = readVarint('topic');
      if (tag === 0) {
        if (topic === null) fail('the first entry of a run repeats no topic');
      } else topic = readString('topic', LIMITS.maxTopicBytes, tag - 1);
      if (kind === EntryKind.data && topic!.length === 0) fail('topic must not be empty');
      const payloadLength = readVarint('payload length');
      if (payloadLength > LIMITS.maxPayloadBytes)
        throw new FrameError(
          'too-large',
          `${field}.payload exceeds ${LIMITS.maxPayloadBytes} bytes`,
        );
      if (pos + payloadLength > end) fail('payload is cut short');
      const payloadAt = pos;
      pos += payloadLength;
      if (kind === EntryKind.config) {
        try {
          decodeMembership(new Uint8Array(buf.buffer, buf.byteOffset + payloadAt, payloadLength));
        } catch (error) {
          throw new FrameError('malformed', `${field}: ${(error as Error).message}`, {
            cause: error,
          });
        }
      }
      const seq = firstSeq + k;
      if (seq < keepFrom || seq > keepTo) continue;
      if (run !== null) {
        entries.push(new PackedEntry(seq, topic!, run, payloadAt, payloadLength));
        continue;
      }
      const producerSeq = kind === EntryKind.data ? firstProducerSeq + k : firstProducerSeq;
      const entry: Entry = {
        seq,
        epoch,
        kind: kind as EntryKind,
        producerId,
        producerSeq,
        topic: topic!,
        // A plain view, not a Buffer: three times cheaper to make than subarray().
        payload: new Uint8Array(buf.buffer, buf.byteOffset + payloadAt, payloadLength),
        timestampMs,
      };
      // An entry without an owner has none, as the log's records give it back.
      entries.push(owner === '' ? entry : { ...entry, owner });
    }
    nextSeq = lastSeq + 1;
  }
  return entries;
}

/** A publish item as the client sends it, before it has a seq. */
export interface PackedPublishItem {
  readonly producerSeq: number;
  readonly topic: string;
  readonly payload: Uint8Array;
}

/**
 * A publish item as a node decoded it: where its bytes lie in the packed
 * items (from its topic tag to the end of its payload), so that a run of
 * items can go into packed entries as the bytes they arrived in. The view
 * of its payload is made when read: a sequencer that takes the whole batch
 * as one run never reads it (a view per message was a third of what it
 * allocated).
 */
export class DecodedPublishItem implements PackedPublishItem {
  constructor(
    readonly producerSeq: number,
    readonly topic: string,
    readonly start: number,
    readonly end: number,
    /** Where its payload starts; the payload runs to `end`. */
    readonly payloadAt: number,
    /** The packed items of its request, which `start`, `end` and `payloadAt` point into. */
    readonly packedItems: Uint8Array,
  ) {}

  get payload(): Uint8Array {
    const bytes = this.packedItems;
    return new Uint8Array(
      bytes.buffer,
      bytes.byteOffset + this.payloadAt,
      this.end - this.payloadAt,
    );
  }
}

/**
 * Packs the items of one publish: `u8 version (1)`, then runs of
 * consecutive producerSeqs: `varint firstProducerSeq, varint count`, and
 * count times `varint topicTag` (as in packed entries) and `varint payload
 * length, payload`.
 */
export function encodePackedPublishItems(items: readonly PackedPublishItem[]): Uint8Array {
  return packPublishItemsAfter(items, 0).written();
}

/**
 * Packs `items` as encodePackedPublishItems does, into a writer whose first
 * `headroomBytes` are left free for a header written after (the frame of a
 * publish request: client-codec.ts), so the packed bytes are not copied
 * again behind it.
 */
export function packPublishItemsAfter(
  items: readonly PackedPublishItem[],
  headroomBytes: number,
): PackedWriter {
  let size = headroomBytes + 1;
  let previous: PackedPublishItem | null = null;
  for (const item of items) {
    const continues = previous !== null && item.producerSeq === previous.producerSeq + 1;
    if (!continues) size += 2 * 9;
    if (continues && item.topic === previous!.topic) size += 1;
    else size += 9 + Buffer.byteLength(item.topic);
    size += 9 + item.payload.length;
    previous = item;
  }
  const w = new PackedWriter(size);
  w.pos = headroomBytes;
  w.byte(PACKED_ENTRIES_VERSION);
  let i = 0;
  while (i < items.length) {
    let count = 1;
    while (
      i + count < items.length &&
      items[i + count]!.producerSeq === items[i]!.producerSeq + count
    )
      count++;
    w.varint(items[i]!.producerSeq);
    w.varint(count);
    let topic: string | null = null;
    for (let k = i; k < i + count; k++) {
      const item = items[k]!;
      if (item.topic === topic) w.byte(0);
      else {
        const length = Buffer.byteLength(item.topic);
        w.varint(length + 1);
        w.utf8(item.topic, length);
        topic = item.topic;
      }
      w.varint(item.payload.length);
      w.bytes(item.payload);
    }
    i += count;
  }
  return w;
}

/**
 * Unpacks the items of a publish (payloads are views into `bytes`), at most
 * `maxItems` of them. Topics and payload sizes are checked by the caller,
 * as for items sent one message each; this checks the framing and UTF-8.
 */
export function decodePackedPublishItems(
  bytes: Uint8Array,
  maxItems: number,
  field: string,
): DecodedPublishItem[] {
  const reader = new PackedReader(bytes, field);
  reader.version();
  const items: DecodedPublishItem[] = [];
  while (!reader.done()) {
    const firstProducerSeq = reader.varint('producerSeq');
    if (firstProducerSeq < 1) reader.fail('producerSeq must start at 1');
    const count = reader.varint('count');
    if (count < 1) reader.fail('a run holds no items');
    if (items.length + count > maxItems)
      throw new FrameError('too-large', `${field} holds more than ${maxItems} items`);
    checkUint(firstProducerSeq + count - 1, `${field}.producerSeq`);
    let topic: string | null = null;
    for (let k = 0; k < count; k++) {
      const start = reader.position;
      const tag = reader.varint('topic');
      if (tag === 0) {
        if (topic === null) reader.fail('the first item of a run repeats no topic');
      } else {
        topic = reader.string('topic', LIMITS.maxTopicBytes, tag - 1);
        if (topic.length === 0) reader.fail('topic must not be empty');
      }
      const payloadLength = reader.varint('payload length');
      if (payloadLength > LIMITS.maxPayloadBytes)
        throw new FrameError(
          'too-large',
          `${field}.payload exceeds ${LIMITS.maxPayloadBytes} bytes`,
        );
      const payloadAt = reader.position;
      reader.skip(payloadLength);
      items.push(
        new DecodedPublishItem(
          firstProducerSeq + k,
          topic!,
          start,
          reader.position,
          payloadAt,
          bytes,
        ),
      );
    }
  }
  return items;
}

/**
 * Packs OK results as runs: `u8 version (1)`, then `varint firstProducerSeq,
 * varint firstSeq, varint count`. Result i is OK with seq `seqs[i]` for
 * producerSeq `producerSeqs[i]`; a seq of 0 marks a result that is not OK
 * and is left out. Parallel arrays, so that a sequencer answering thousands
 * of messages builds no object per message.
 */
export function encodePackedOkResults(
  producerSeqs: readonly number[],
  seqs: readonly number[],
): Uint8Array {
  invariant(producerSeqs.length === seqs.length, 'one seq per producerSeq');
  const w = new PackedWriter(1 + seqs.length * 3 * 9);
  w.byte(PACKED_ENTRIES_VERSION);
  let i = 0;
  while (i < seqs.length) {
    if (seqs[i] === 0) {
      i++;
      continue;
    }
    const firstProducerSeq = producerSeqs[i]!;
    const firstSeq = seqs[i]!;
    let count = 1;
    while (
      i + count < seqs.length &&
      seqs[i + count] !== 0 &&
      producerSeqs[i + count] === firstProducerSeq + count &&
      seqs[i + count] === firstSeq + count
    )
      count++;
    w.varint(firstProducerSeq);
    w.varint(firstSeq);
    w.varint(count);
    i += count;
  }
  return w.written();
}

/** A run of OK results: producerSeqs and seqs both consecutive from their first. */
export interface OkRun {
  readonly producerSeq: number;
  readonly seq: number;
  readonly count: number;
}

/** Unpacks OK results as the runs they travel in, at most `maxResults` results in all. */
export function decodePackedOkRuns(bytes: Uint8Array, maxResults: number, field: string): OkRun[] {
  const reader = new PackedReader(bytes, field);
  reader.version();
  const runs: OkRun[] = [];
  let total = 0;
  while (!reader.done()) {
    const producerSeq = reader.varint('producerSeq');
    const seq = reader.varint('seq');
    const count = reader.varint('count');
    if (count < 1) reader.fail('a run holds no results');
    total += count;
    if (total > maxResults) reader.fail(`holds more than ${maxResults} results`);
    checkUint(producerSeq + count - 1, `${field}.producerSeq`);
    checkSeq(seq + count - 1, `${field}.seq`);
    runs.push({ producerSeq, seq, count });
  }
  return runs;
}

/** Reads the varints, strings and byte views of a packed form, failing with FrameError. */
class PackedReader {
  private readonly buf: Buffer;
  private pos = 0;

  constructor(
    bytes: Uint8Array,
    private readonly field: string,
  ) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  fail(why: string): never {
    throw new FrameError('malformed', `${this.field}: ${why}`);
  }

  done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** Offset of the next byte to read. */
  get position(): number {
    return this.pos;
  }

  version(): void {
    if (this.buf.length === 0) this.fail('is empty');
    const version = this.buf[this.pos++];
    if (version !== PACKED_ENTRIES_VERSION)
      this.fail(`unknown packed version ${version} (this node reads ${PACKED_ENTRIES_VERSION})`);
    if (this.done()) this.fail('holds nothing after its version');
  }

  varint(what: string): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) this.fail(`${what} is cut short`);
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
      if (scale > 2 ** 53) this.fail(`${what} is longer than 2^53`);
    }
    if (!Number.isSafeInteger(value)) this.fail(`${what} is longer than 2^53`);
    return value;
  }

  string(what: string, maxBytes: number, length: number): string {
    if (length > maxBytes) this.fail(`${what} is longer than ${maxBytes} bytes`);
    const view = this.bytes(length);
    for (let k = 0; k < view.length; k++) {
      if (view[k]! >= 0x80) {
        try {
          return strictUtf8.decode(view);
        } catch (error) {
          throw new FrameError('malformed', `${this.field}: ${what} is not valid UTF-8`, {
            cause: error,
          });
        }
      }
    }
    return view.toString('latin1');
  }

  /** Steps over the next `length` bytes. */
  skip(length: number): void {
    if (this.pos + length > this.buf.length) this.fail('is cut short');
    this.pos += length;
  }

  bytes(length: number): Buffer {
    if (this.pos + length > this.buf.length) this.fail('is cut short');
    const view = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }
}

/** A run of packed entries made from publish items, and the entries it holds. */
export interface ItemRun {
  readonly bytes: Uint8Array;
  readonly entries: PackedEntry[];
}

/**
 * The packed entries of one run of data entries whose topics and payloads
 * are `items` (in order) of a publish's packed items, taken as the bytes
 * they arrived in, and the entries themselves as views of those bytes: a
 * sequencer turns a publisher's batch into the run it logs and multicasts
 * without packing each message again, and makes one small object per
 * message. The items must lie next to each other in their request's packed
 * items (one run of the publish), and `header.count` must be their number. The first
 * item's topic is spelled out when it repeated the topic before it.
 */
export function itemRun(items: readonly DecodedPublishItem[], header: RunHeader): ItemRun {
  const first = items[0]!;
  const last = items[items.length - 1]!;
  invariant(items.length === header.count, 'one item per entry of the run');
  const packedItems = first.packedItems;
  const repeatsTopic = packedItems[first.start] === 0;
  const bodyStart = repeatsTopic ? first.start + 1 : first.start;
  const topicBytes = repeatsTopic ? Buffer.byteLength(first.topic) : 0;
  const size =
    1 +
    runHeaderBytes(header) +
    (repeatsTopic ? varintBytes(topicBytes + 1) + topicBytes : 0) +
    (last.end - bodyStart);
  const w = new PackedWriter(size);
  w.byte(PACKED_ENTRIES_VERSION);
  writeRunHeader(w, EntryKind.data, header);
  if (repeatsTopic) {
    w.varint(topicBytes + 1);
    w.utf8(first.topic, topicBytes);
  }
  // Item bytes at `bodyStart` land at `shift` further on.
  const shift = w.pos - bodyStart;
  w.bytes(packedItems.subarray(bodyStart, last.end));
  if (w.pos !== size) invariant(false, `packed run: wrote ${w.pos} bytes, measured ${size}`);
  const run = new PackedRun(
    header.firstSeq,
    EntryKind.data,
    header.epoch,
    header.timestampMs,
    header.firstProducerSeq,
    header.producerId,
    header.owner,
    w.out,
  );
  const entries: PackedEntry[] = [];
  for (let k = 0; k < items.length; k++) {
    const item = items[k]!;
    entries.push(
      new PackedEntry(
        header.firstSeq + k,
        item.topic,
        run,
        item.payloadAt + shift,
        item.end - item.payloadAt,
      ),
    );
  }
  return { bytes: w.out, entries };
}
