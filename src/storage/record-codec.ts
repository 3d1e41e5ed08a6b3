import * as crypto from 'node:crypto';
import { crc32 } from 'node:zlib';
import { invariant } from '../core/assert.js';
import { type Entry, EntryKind } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { crc32c } from './crc32c.js';
import {
  readU16,
  readU32,
  readU64,
  writeCheckedU64,
  writeU16,
  writeU32,
  writeU64,
} from './uint64.js';

/**
 * The binary framing of one log record: a run of consecutive entries
 * written together (little-endian throughout).
 *
 * | offset  | bytes     | field                                                             |
 * |---------|-----------|-------------------------------------------------------------------|
 * | 0       | 4         | magic 0x4F52_4432, to resynchronise after a damaged record        |
 * | 4       | 4         | frameBytes: length of the whole record, these fields included     |
 * | 8       | 4         | header CRC32C of bytes [4, 8) and [12, 48 + 4 × count)            |
 * | 12      | 16        | chain value after this record (see below)                         |
 * | 28      | 8         | firstSeq                                                          |
 * | 36      | 4         | count of entries (1 to maxLogRecordEntries)                       |
 * | 40      | 8         | log digest before this record (CRC32C u32, CRC-32 u32)            |
 * | 48      | 4 × count | the CRC32C part of the log digest after each entry                |
 * | …       | …         | the entry bodies, one after the other                             |
 *
 * An entry body: seq u64, epoch u64, timestampMs u64, producerSeq u64,
 * kind u8, flags u8 (zero), producerId bytes u16 (P), topic bytes u16 (T),
 * owner bytes u16 (O), payload bytes u32 (L), then producerId, topic and
 * owner (UTF-8) and the payload: 44 + P + T + O + L bytes. A body depends
 * on its entry alone, never on how entries were grouped into records.
 *
 * The **log digest** is a CRC32C and a CRC-32 (two polynomials) run over
 * every entry body of the log, in seq order, from the log's start. It does
 * not depend on record boundaries, so two nodes holding the same entries
 * have the same digest at every seq however each grouped its writes; it is
 * what a node reports as its log's hash. A record stores the digest before
 * it and the CRC32C after each of its entries, so a record is checked on
 * its own (and a prefix of it can be checked entry by entry), and a scan
 * checks that each record's digest before equals the digest after the one
 * before it.
 *
 * The **chain value** (16 bytes) is the log digest after the record (8
 * bytes) followed by the first 8 bytes of sha256(previous chain value ‖
 * bytes [28, frameBytes)): the SHA-256 part makes each record commit to the
 * whole log before it, cryptographically, at the cost of one hash per
 * record rather than per entry. It depends on record boundaries, so it is
 * only compared within one node's log (scans, repair).
 */

export const RECORD_MAGIC = 0x4f52_4432;
/** The fixed part of a record, before the per-entry digests. */
export const RECORD_FIXED_BYTES = 48;
/** The fixed part of an entry body, before its strings and payload. */
export const ENTRY_FIXED_BYTES = 44;
export const CHAIN_HASH_BYTES = 16;
/** Bytes of the log digest at the front of a chain value. */
export const LOG_DIGEST_BYTES = 8;
/** The chain value before the first record of a log that starts at seq 1. */
export const ZERO_CHAIN_HASH: Buffer = Buffer.alloc(CHAIN_HASH_BYTES);

const MAGIC_AT = 0;
const FRAME_BYTES_AT = 4;
const HEADER_CRC_AT = 8;
const CHAIN_AT = 12;
const FIRST_SEQ_AT = 28;
const COUNT_AT = 36;
const DIGEST_BEFORE_AT = 40;
const ENTRY_DIGESTS_AT = 48;

const BODY_SEQ_AT = 0;
const BODY_EPOCH_AT = 8;
const BODY_TIMESTAMP_AT = 16;
const BODY_PRODUCER_SEQ_AT = 24;
const BODY_KIND_AT = 32;
const BODY_FLAGS_AT = 33;
const BODY_PRODUCER_ID_LENGTH_AT = 34;
const BODY_TOPIC_LENGTH_AT = 36;
const BODY_OWNER_LENGTH_AT = 38;
const BODY_PAYLOAD_LENGTH_AT = 40;

/** The largest body any valid entry can produce. */
export const ENTRY_BODY_MAX_BYTES =
  ENTRY_FIXED_BYTES +
  LIMITS.maxProducerIdBytes +
  LIMITS.maxTopicBytes +
  LIMITS.maxIdentityBytes +
  LIMITS.maxPayloadBytes;

/**
 * The largest record a writer produces: it closes a record before it would
 * pass maxLogRecordBytes, unless the record holds a single entry.
 */
export const RECORD_MAX_BYTES =
  RECORD_FIXED_BYTES +
  4 * LIMITS.maxLogRecordEntries +
  Math.max(LIMITS.maxLogRecordBytes, ENTRY_BODY_MAX_BYTES);

/** What must be known of an entry to lay it out: its string fields' encoded sizes. */
export interface SizedEntry {
  readonly entry: Entry;
  /**
   * `entry.payload`, read once: an entry decoded from packed bytes makes a
   * new view each time its payload is read.
   */
  readonly payload: Uint8Array;
  readonly producerIdBytes: number;
  readonly topicBytes: number;
  /** 0 for an entry without an owner. */
  readonly ownerBytes: number;
  /** Bytes of its body in a record. */
  readonly bodyBytes: number;
}

export function sizeEntry(entry: Entry): SizedEntry {
  return sizeEntryWith(
    entry,
    entry.payload,
    Buffer.byteLength(entry.producerId, 'utf8'),
    Buffer.byteLength(entry.topic, 'utf8'),
    entry.owner ? Buffer.byteLength(entry.owner, 'utf8') : 0,
  );
}

/** A SizedEntry from sizes already measured (the validator measures each distinct string once per write). */
export function sizeEntryWith(
  entry: Entry,
  payload: Uint8Array,
  producerIdBytes: number,
  topicBytes: number,
  ownerBytes: number,
): SizedEntry {
  const bodyBytes = ENTRY_FIXED_BYTES + producerIdBytes + topicBytes + ownerBytes + payload.length;
  return { entry, payload, producerIdBytes, topicBytes, ownerBytes, bodyBytes };
}

/** Bytes of the record holding `sized[from, to)`. */
export function recordBytesOf(sized: readonly SizedEntry[], from: number, to: number): number {
  let bytes = RECORD_FIXED_BYTES + 4 * (to - from);
  for (let i = from; i < to; i++) bytes += sized[i]!.bodyBytes;
  return bytes;
}

/** The bytes a record of `count` entries adds to the bodies it holds. */
export function recordOverheadBytes(count: number): number {
  return RECORD_FIXED_BYTES + 4 * count;
}

/**
 * Writes the record of `sized[from, to)` (consecutive seqs) into `buf` at
 * `offset`, chained to `prevChain`, and returns its chain value and size.
 * Every byte of the frame is written, so `buf` may come from
 * Buffer.allocUnsafe.
 */
export function encodeRecord(
  buf: Buffer,
  offset: number,
  sized: readonly SizedEntry[],
  from: number,
  to: number,
  prevChain: Uint8Array,
): { chain: Buffer; frameBytes: number } {
  const count = to - from;
  if (count < 1 || count > LIMITS.maxLogRecordEntries)
    invariant(false, `a record of ${count} entries`);
  invariant(prevChain.length === CHAIN_HASH_BYTES, 'chain value has the wrong size');
  const frameBytes = recordBytesOf(sized, from, to);
  invariant(offset + frameBytes <= buf.length, 'record does not fit its buffer');
  const headerEnd = offset + RECORD_FIXED_BYTES + 4 * count;
  writeU32(buf, offset + MAGIC_AT, RECORD_MAGIC);
  writeU32(buf, offset + FRAME_BYTES_AT, frameBytes);
  writeU64(buf, offset + FIRST_SEQ_AT, sized[from]!.entry.seq);
  writeU32(buf, offset + COUNT_AT, count);
  buf.set(prevChain.subarray(0, LOG_DIGEST_BYTES), offset + DIGEST_BEFORE_AT);
  let crcC = readU32(prevChain, 0);
  let at = headerEnd;
  let prev: SizedEntry | null = null;
  let prevAt = 0;
  const firstSeq = sized[from]!.entry.seq;
  for (let i = from; i < to; i++) {
    const one = sized[i]!;
    invariant(one.entry.seq === firstSeq + (i - from), 'record seqs must be consecutive');
    const bodyAt = at;
    at = encodeBody(buf, at, one, prev, prevAt);
    prev = one;
    prevAt = bodyAt;
    crcC = crc32c(buf, bodyAt, at, crcC);
    writeU32(buf, offset + ENTRY_DIGESTS_AT + 4 * (i - from), crcC);
  }
  invariant(at === offset + frameBytes, 'record layout is inconsistent');
  const crcZ = crc32(buf.subarray(headerEnd, at), readU32(prevChain, 4));
  const chain = Buffer.allocUnsafe(CHAIN_HASH_BYTES);
  writeU32(chain, 0, crcC);
  writeU32(chain, 4, crcZ);
  // The chain slot is written before the SHA-256 part is known; it lies outside what that covers.
  shaPart(prevChain, buf, offset, frameBytes).copy(chain, LOG_DIGEST_BYTES);
  chain.copy(buf, offset + CHAIN_AT);
  writeU32(buf, offset + HEADER_CRC_AT, headerCrc(buf, offset, headerEnd));
  return { chain, frameBytes };
}

/**
 * The header CRC: CRC32C of frameBytes and of bytes [12, headerEnd), so that
 * an intact header also vouches for the record's length (a scan steps over
 * a record whose bodies are damaged by it exactly).
 */
function headerCrc(buf: Uint8Array, offset: number, headerEnd: number): number {
  return crc32c(
    buf,
    offset + CHAIN_AT,
    headerEnd,
    crc32c(buf, offset + FRAME_BYTES_AT, offset + HEADER_CRC_AT),
  );
}

/**
 * Writes the body of `one` at `at` and returns where it ends. A string equal
 * to the same field of `prev`, the body written just before at `prevAt`
 * (most entries of a record share their producer, owner and often topic),
 * is copied from there rather than encoded again.
 */
function encodeBody(
  buf: Buffer,
  at: number,
  one: SizedEntry,
  prev: SizedEntry | null,
  prevAt: number,
): number {
  const { entry, payload, producerIdBytes, topicBytes, ownerBytes } = one;
  // The validator checked every count is a non-negative safe integer.
  writeCheckedU64(buf, at + BODY_SEQ_AT, entry.seq);
  writeCheckedU64(buf, at + BODY_EPOCH_AT, entry.epoch);
  writeCheckedU64(buf, at + BODY_TIMESTAMP_AT, entry.timestampMs);
  writeCheckedU64(buf, at + BODY_PRODUCER_SEQ_AT, entry.producerSeq);
  buf[at + BODY_KIND_AT] = entry.kind;
  buf[at + BODY_FLAGS_AT] = 0;
  writeU16(buf, at + BODY_PRODUCER_ID_LENGTH_AT, producerIdBytes);
  writeU16(buf, at + BODY_TOPIC_LENGTH_AT, topicBytes);
  writeU16(buf, at + BODY_OWNER_LENGTH_AT, ownerBytes);
  writeU32(buf, at + BODY_PAYLOAD_LENGTH_AT, payload.length);
  let p = at + ENTRY_FIXED_BYTES;
  let q = prevAt + ENTRY_FIXED_BYTES;
  if (prev !== null && prev.entry.producerId === entry.producerId)
    copyInside(buf, q, p, producerIdBytes);
  else buf.write(entry.producerId, p, producerIdBytes, 'utf8');
  p += producerIdBytes;
  q += prev?.producerIdBytes ?? 0;
  if (prev !== null && prev.entry.topic === entry.topic) copyInside(buf, q, p, topicBytes);
  else buf.write(entry.topic, p, topicBytes, 'utf8');
  p += topicBytes;
  q += prev?.topicBytes ?? 0;
  if (ownerBytes > 0) {
    if (prev !== null && prev.entry.owner === entry.owner) copyInside(buf, q, p, ownerBytes);
    else buf.write(entry.owner!, p, ownerBytes, 'utf8');
    p += ownerBytes;
  }
  buf.set(payload, p);
  return p + payload.length;
}

/** Copies `length` bytes of `buf` from `from` to `to`; a loop beats a native call for short strings. */
function copyInside(buf: Buffer, from: number, to: number, length: number): void {
  if (length > 32) {
    buf.copyWithin(to, from, from + length);
    return;
  }
  for (let i = 0; i < length; i++) buf[to + i] = buf[from + i]!;
}

/** First 8 bytes of sha256(prevChain ‖ record bytes [28, frameBytes)). */
function shaPart(
  prevChain: Uint8Array,
  buf: Uint8Array,
  offset: number,
  frameBytes: number,
): Buffer {
  // The 16 bytes just before the hashed range are the chain slot: the previous
  // chain value is put there for one one-shot hash over a contiguous range,
  // and the slot's bytes are restored after.
  const slot = offset + CHAIN_AT;
  const saved = Buffer.from(buf.subarray(slot, slot + CHAIN_HASH_BYTES));
  buf.set(prevChain, slot);
  const digest = sha256(buf.subarray(slot, offset + frameBytes));
  buf.set(saved, slot);
  return digest.subarray(0, CHAIN_HASH_BYTES - LOG_DIGEST_BYTES);
}

/**
 * The chain value the record at `buf[offset]` (already accepted by
 * checkRecord) has when it follows `prevChain`, or null when it does not
 * follow it: its log digest before differs from the one `prevChain` ends.
 */
export function chainAfter(
  prevChain: Uint8Array,
  buf: Uint8Array,
  offset: number,
  frameBytes: number,
): Buffer | null {
  invariant(prevChain.length === CHAIN_HASH_BYTES, 'chain value has the wrong size');
  const before = buf.subarray(offset + DIGEST_BEFORE_AT, offset + DIGEST_BEFORE_AT + 8);
  if (!Buffer.from(before).equals(Buffer.from(prevChain.subarray(0, LOG_DIGEST_BYTES))))
    return null;
  const chain = Buffer.allocUnsafe(CHAIN_HASH_BYTES);
  chain.set(buf.subarray(offset + CHAIN_AT, offset + CHAIN_AT + LOG_DIGEST_BYTES), 0);
  shaPart(prevChain, buf, offset, frameBytes).copy(chain, LOG_DIGEST_BYTES);
  return chain;
}

/** crypto.hash (Node 20.12 and later) is about twice as fast as createHash for short inputs. */
const oneShotHash = (
  crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }
).hash;

function sha256(data: Uint8Array): Buffer {
  if (oneShotHash !== undefined) return oneShotHash('sha256', data, 'buffer');
  return crypto.createHash('sha256').update(data).digest();
}

/** An epoch change inside a record: from `seq` on, entries have `epoch`. */
export interface RecordEpochChange {
  readonly seq: number;
  readonly epoch: number;
}

/** The fields of a record that validation and indexing need, without decoding strings and payloads. */
export interface RecordMeta {
  readonly frameBytes: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly count: number;
  readonly firstEpoch: number;
  readonly lastEpoch: number;
  /** Where the epoch changes after the first entry, in seq order. */
  readonly epochChanges: readonly RecordEpochChange[];
  readonly lastTimestampMs: number;
  /** The stored chain value; a view into the buffer checked: copy it to keep it. */
  readonly chain: Uint8Array;
}

export type RecordCheck =
  | { readonly ok: true; readonly meta: RecordMeta }
  | { readonly ok: false; readonly reason: string };

/** What the header of the record at `buf[offset]` announces, once its own CRC holds. */
export interface RecordHeader {
  readonly frameBytes: number;
  readonly firstSeq: number;
  readonly count: number;
}

/**
 * The header of the record at `buf[offset]`, once its magic, size fields and
 * CRC agree; otherwise why they do not. Needs the whole header present
 * (RECORD_FIXED_BYTES + 4 × count), and says so when it is not.
 */
export function checkRecordHeader(
  buf: Uint8Array,
  offset: number,
  available: number,
): RecordHeader | string {
  if (available < RECORD_FIXED_BYTES) return `only ${available} bytes left of a record header`;
  if (readU32(buf, offset + MAGIC_AT) !== RECORD_MAGIC) return 'bad record magic';
  const frameBytes = readU32(buf, offset + FRAME_BYTES_AT);
  const count = readU32(buf, offset + COUNT_AT);
  if (count < 1 || count > LIMITS.maxLogRecordEntries) return `record count ${count} out of range`;
  const headerBytes = RECORD_FIXED_BYTES + 4 * count;
  if (frameBytes < headerBytes + count * ENTRY_FIXED_BYTES || frameBytes > RECORD_MAX_BYTES) {
    return `record length ${frameBytes} does not match its count of ${count}`;
  }
  if (available < headerBytes) return `only ${available} bytes left of a record header`;
  if (headerCrc(buf, offset, offset + headerBytes) !== readU32(buf, offset + HEADER_CRC_AT)) {
    return 'record header CRC32C mismatch';
  }
  const firstSeq = readU64(buf, offset + FIRST_SEQ_AT);
  if (firstSeq < 1) return 'record fields out of range';
  return { frameBytes, firstSeq, count };
}

/** Bytes of the header of the record at `buf[offset]`, from its count (not checked). */
export function recordHeaderBytesAt(buf: Uint8Array, offset: number): number {
  return (
    RECORD_FIXED_BYTES + 4 * Math.min(readU32(buf, offset + COUNT_AT), LIMITS.maxLogRecordEntries)
  );
}

/**
 * Checks the record at `buf[offset]` with `available` bytes present from
 * there: framing, header CRC, every entry body against its stored digest,
 * lengths and field ranges. It never throws on bad bytes; it says what is
 * wrong.
 */
export function checkRecord(buf: Uint8Array, offset: number, available: number): RecordCheck {
  const header = checkRecordHeader(buf, offset, Math.min(available, RECORD_MAX_BYTES));
  if (typeof header === 'string') return { ok: false, reason: header };
  const { frameBytes, firstSeq, count } = header;
  if (available < frameBytes) {
    return { ok: false, reason: `record of ${frameBytes} bytes is cut off after ${available}` };
  }
  const walked = walkBodies(buf, offset, count, frameBytes, firstSeq);
  if (typeof walked === 'string') return { ok: false, reason: walked };
  const headerEnd = offset + RECORD_FIXED_BYTES + 4 * count;
  const crcZ = crc32(
    buf.subarray(headerEnd, offset + frameBytes),
    readU32(buf, offset + DIGEST_BEFORE_AT + 4),
  );
  if (crcZ !== readU32(buf, offset + CHAIN_AT + 4)) return { ok: false, reason: 'CRC-32 mismatch' };
  if (walked.crcC !== readU32(buf, offset + CHAIN_AT)) {
    return { ok: false, reason: 'log digest after the record differs from its last entry' };
  }
  return {
    ok: true,
    meta: {
      frameBytes,
      firstSeq,
      lastSeq: firstSeq + count - 1,
      count,
      firstEpoch: walked.firstEpoch,
      lastEpoch: walked.lastEpoch,
      epochChanges: walked.epochChanges,
      lastTimestampMs: walked.lastTimestampMs,
      chain: buf.subarray(offset + CHAIN_AT, offset + CHAIN_AT + CHAIN_HASH_BYTES),
    },
  };
}

/**
 * Walks the entry bodies of a record whose header was checked, checking
 * each against its stored CRC32C and its fields.
 */
function walkBodies(
  buf: Uint8Array,
  offset: number,
  count: number,
  frameBytes: number,
  firstSeq: number,
):
  | string
  | {
      crcC: number;
      firstEpoch: number;
      lastEpoch: number;
      epochChanges: RecordEpochChange[];
      lastTimestampMs: number;
    } {
  const end = offset + frameBytes;
  let at = offset + RECORD_FIXED_BYTES + 4 * count;
  let crcC = readU32(buf, offset + DIGEST_BEFORE_AT);
  let firstEpoch = -1;
  let lastEpoch = -1;
  let lastTimestampMs = -1;
  const epochChanges: RecordEpochChange[] = [];
  for (let i = 0; i < count; i++) {
    if (end - at < ENTRY_FIXED_BYTES) return `entry ${i + 1} of ${count} is cut off`;
    const bodyBytes =
      ENTRY_FIXED_BYTES +
      readU16(buf, at + BODY_PRODUCER_ID_LENGTH_AT) +
      readU16(buf, at + BODY_TOPIC_LENGTH_AT) +
      readU16(buf, at + BODY_OWNER_LENGTH_AT) +
      readU32(buf, at + BODY_PAYLOAD_LENGTH_AT);
    if (bodyBytes > end - at) return `entry ${i + 1} of ${count} runs past the record`;
    crcC = crc32c(buf, at, at + bodyBytes, crcC);
    if (crcC !== readU32(buf, offset + ENTRY_DIGESTS_AT + 4 * i)) {
      return `CRC32C mismatch in entry ${i + 1} of ${count}`;
    }
    const seq = readU64(buf, at + BODY_SEQ_AT);
    const epoch = readU64(buf, at + BODY_EPOCH_AT);
    const timestampMs = readU64(buf, at + BODY_TIMESTAMP_AT);
    const producerSeq = readU64(buf, at + BODY_PRODUCER_SEQ_AT);
    const kind = buf[at + BODY_KIND_AT]!;
    if (
      seq !== firstSeq + i ||
      epoch < 0 ||
      epoch < lastEpoch ||
      timestampMs < 0 ||
      producerSeq < 0 ||
      !isEntryKind(kind) ||
      buf[at + BODY_FLAGS_AT] !== 0 ||
      readU16(buf, at + BODY_OWNER_LENGTH_AT) > LIMITS.maxIdentityBytes
    ) {
      return `entry ${i + 1} of ${count}: fields out of range`;
    }
    if (i === 0) firstEpoch = epoch;
    else if (epoch !== lastEpoch) epochChanges.push({ seq, epoch });
    lastEpoch = epoch;
    lastTimestampMs = timestampMs;
    at += bodyBytes;
  }
  if (at !== end) return `record length ${frameBytes} does not match its entries`;
  return { crcC, firstEpoch, lastEpoch, epochChanges, lastTimestampMs };
}

/**
 * The CRC32C part of the log digest before the record at `buf[offset]`
 * and after each of its entries, from its header (when the header's CRC
 * holds); null otherwise.
 */
export function storedEntryDigests(
  buf: Uint8Array,
  offset: number,
  available: number,
): { firstSeq: number; before: number; after: number[] } | null {
  const header = checkRecordHeader(buf, offset, available);
  if (typeof header === 'string') return null;
  const after: number[] = [];
  for (let i = 0; i < header.count; i++)
    after.push(readU32(buf, offset + ENTRY_DIGESTS_AT + 4 * i));
  return { firstSeq: header.firstSeq, before: readU32(buf, offset + DIGEST_BEFORE_AT), after };
}

/**
 * How many leading entries of `candidates` match CRC32C digests `after`
 * (the state after each entry), starting from the state `before`.
 */
export function matchingDigests(
  before: number,
  after: readonly number[],
  candidates: readonly SizedEntry[],
): number {
  const n = Math.min(after.length, candidates.length);
  let scratchBytes = 0;
  for (let i = 0; i < n; i++) scratchBytes = Math.max(scratchBytes, candidates[i]!.bodyBytes);
  const scratch = Buffer.allocUnsafe(scratchBytes);
  let crcC = before;
  for (let i = 0; i < n; i++) {
    const end = encodeBody(scratch, 0, candidates[i]!, null, 0);
    crcC = crc32c(scratch, 0, end, crcC);
    if (crcC !== after[i]) return i;
  }
  return n;
}

/**
 * The log digest after entry `seq` of the record at `buf[offset]` (already
 * accepted by checkRecord): the CRC32C part is stored per entry, the CRC-32
 * part is run over the bodies up to that entry.
 */
export function digestAfterSeq(buf: Uint8Array, offset: number, seq: number): Buffer {
  const count = readU32(buf, offset + COUNT_AT);
  const firstSeq = readU64(buf, offset + FIRST_SEQ_AT);
  const i = seq - firstSeq;
  if (i < 0 || i >= count) invariant(false, `seq ${seq} is not in the record`);
  const headerEnd = offset + RECORD_FIXED_BYTES + 4 * count;
  let at = headerEnd;
  for (let k = 0; k <= i; k++) at += bodyBytesAt(buf, at);
  const out = Buffer.allocUnsafe(LOG_DIGEST_BYTES);
  writeU32(out, 0, readU32(buf, offset + ENTRY_DIGESTS_AT + 4 * i));
  writeU32(out, 4, crc32(buf.subarray(headerEnd, at), readU32(buf, offset + DIGEST_BEFORE_AT + 4)));
  return out;
}

function bodyBytesAt(buf: Uint8Array, at: number): number {
  return (
    ENTRY_FIXED_BYTES +
    readU16(buf, at + BODY_PRODUCER_ID_LENGTH_AT) +
    readU16(buf, at + BODY_TOPIC_LENGTH_AT) +
    readU16(buf, at + BODY_OWNER_LENGTH_AT) +
    readU32(buf, at + BODY_PAYLOAD_LENGTH_AT)
  );
}

/**
 * Decodes the entries of a record that `checkRecord` accepted whose seqs
 * lie in [fromSeq, toSeq], in order. Payloads are copied out of `buf`.
 */
export function decodeRecord(
  buf: Uint8Array,
  offset: number,
  fromSeq = 0,
  toSeq: number = Number.MAX_SAFE_INTEGER,
): Entry[] {
  const count = readU32(buf, offset + COUNT_AT);
  const firstSeq = readU64(buf, offset + FIRST_SEQ_AT);
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const entries: Entry[] = [];
  let at = offset + RECORD_FIXED_BYTES + 4 * count;
  for (let i = 0; i < count; i++) {
    const seq = firstSeq + i;
    const bodyBytes = bodyBytesAt(buf, at);
    if (seq > toSeq) break;
    if (seq >= fromSeq) entries.push(decodeBody(view, at));
    at += bodyBytes;
  }
  return entries;
}

function decodeBody(view: Buffer, at: number): Entry {
  const producerIdBytes = readU16(view, at + BODY_PRODUCER_ID_LENGTH_AT);
  const topicBytes = readU16(view, at + BODY_TOPIC_LENGTH_AT);
  const ownerBytes = readU16(view, at + BODY_OWNER_LENGTH_AT);
  const payloadBytes = readU32(view, at + BODY_PAYLOAD_LENGTH_AT);
  let p = at + ENTRY_FIXED_BYTES;
  const producerId = view.toString('utf8', p, p + producerIdBytes);
  p += producerIdBytes;
  const topic = view.toString('utf8', p, p + topicBytes);
  p += topicBytes;
  const owner = ownerBytes > 0 ? view.toString('utf8', p, p + ownerBytes) : '';
  p += ownerBytes;
  const payload = new Uint8Array(payloadBytes);
  payload.set(view.subarray(p, p + payloadBytes));
  const entry: Entry = {
    seq: readU64(view, at + BODY_SEQ_AT),
    epoch: readU64(view, at + BODY_EPOCH_AT),
    kind: view[at + BODY_KIND_AT] as EntryKind,
    producerId,
    producerSeq: readU64(view, at + BODY_PRODUCER_SEQ_AT),
    topic,
    payload,
    timestampMs: readU64(view, at + BODY_TIMESTAMP_AT),
  };
  return ownerBytes > 0 ? { ...entry, owner } : entry;
}

/** Where the next record magic starts in `buf[from, to)`, or -1. */
export function findRecordMagic(buf: Buffer, from: number, to: number): number {
  return buf.subarray(0, to).indexOf(MAGIC_BYTES, from);
}

const MAGIC_BYTES = Buffer.alloc(4);
writeU32(MAGIC_BYTES, 0, RECORD_MAGIC);

function isEntryKind(kind: number): kind is EntryKind {
  return kind === EntryKind.data || kind === EntryKind.epochStart || kind === EntryKind.config;
}
