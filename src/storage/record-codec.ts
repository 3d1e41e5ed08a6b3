import * as crypto from 'node:crypto';
import { invariant } from '../core/assert.js';
import { type Entry, EntryKind } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { crc32c } from './crc32c.js';
import { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from './uint64.js';

/**
 * The binary framing of one log entry on disk (little-endian throughout):
 *
 * | offset | bytes | field                                                        |
 * |--------|-------|--------------------------------------------------------------|
 * | 0      | 4     | magic 0x4F52_4431, to resynchronise after a damaged record   |
 * | 4      | 4     | frameBytes: length of the whole record, these fields included|
 * | 8      | 4     | CRC32C of bytes [12, frameBytes)                             |
 * | 12     | 16    | chain hash: sha256(previous chain hash ‖ bytes [28, frameBytes)), first 16 bytes |
 * | 28     | 8     | seq                                                          |
 * | 36     | 8     | epoch                                                        |
 * | 44     | 8     | timestampMs                                                  |
 * | 52     | 8     | producerSeq                                                  |
 * | 60     | 1     | kind                                                         |
 * | 61     | 1     | flags: bit 0 set when the record ends with an owner          |
 * | 62     | 2     | producerId bytes (P)                                         |
 * | 64     | 2     | topic bytes (T)                                              |
 * | 66     | 4     | payload bytes (L)                                            |
 * | 70     | P+T+L | producerId (UTF-8), topic (UTF-8), payload                   |
 * | 70+P+T+L | O   | with flag bit 0: owner (UTF-8), the rest of the record       |
 *
 * frameBytes is not covered by the CRC but must equal 70 + P + T + L (plus
 * 1 to maxIdentityBytes owner bytes when the flag says so), which are, so a
 * damaged length is caught by that consistency check. Records written before
 * owners were recorded have flags 0 and read as entries without an owner;
 * an entry without an owner is written the same way, so its record and
 * chain hash are unchanged.
 */

export const RECORD_MAGIC = 0x4f52_4431;
export const RECORD_FIXED_BYTES = 70;
export const CHAIN_HASH_BYTES = 16;
/** The chain hash before the first record of a log that starts at seq 1. */
export const ZERO_CHAIN_HASH: Buffer = Buffer.alloc(CHAIN_HASH_BYTES);

const MAGIC_AT = 0;
const FRAME_BYTES_AT = 4;
const CRC_AT = 8;
const HASH_AT = 12;
const SEQ_AT = 28;
const EPOCH_AT = 36;
const TIMESTAMP_AT = 44;
const PRODUCER_SEQ_AT = 52;
const KIND_AT = 60;
const FLAGS_AT = 61;
const PRODUCER_ID_LENGTH_AT = 62;
const TOPIC_LENGTH_AT = 64;
const PAYLOAD_LENGTH_AT = 66;
/** Flag bit: the owner's bytes fill the record after the payload. */
const FLAG_OWNER = 0x01;

/** The largest record any valid entry can produce; a larger length field is damage. */
export const RECORD_MAX_BYTES =
  RECORD_FIXED_BYTES +
  LIMITS.maxProducerIdBytes +
  LIMITS.maxTopicBytes +
  LIMITS.maxPayloadBytes +
  LIMITS.maxIdentityBytes;

/** What must be known of an entry to lay it out: its string fields' encoded sizes. */
export interface SizedEntry {
  readonly entry: Entry;
  readonly producerIdBytes: number;
  readonly topicBytes: number;
  /** 0 for an entry without an owner. */
  readonly ownerBytes: number;
  readonly frameBytes: number;
}

export function sizeEntry(entry: Entry): SizedEntry {
  const producerIdBytes = Buffer.byteLength(entry.producerId, 'utf8');
  const topicBytes = Buffer.byteLength(entry.topic, 'utf8');
  const ownerBytes = entry.owner ? Buffer.byteLength(entry.owner, 'utf8') : 0;
  const frameBytes =
    RECORD_FIXED_BYTES + producerIdBytes + topicBytes + entry.payload.length + ownerBytes;
  return { entry, producerIdBytes, topicBytes, ownerBytes, frameBytes };
}

/**
 * Writes the record of `sized` into `buf` at `offset`, chained to
 * `prevHash`, and returns its chain hash. Every byte of the frame is
 * written, so `buf` may come from Buffer.allocUnsafe.
 */
export function encodeRecord(
  buf: Buffer,
  offset: number,
  sized: SizedEntry,
  prevHash: Uint8Array,
): Buffer {
  const { entry, producerIdBytes, topicBytes, ownerBytes, frameBytes } = sized;
  invariant(offset + frameBytes <= buf.length, 'record does not fit its buffer');
  writeU32(buf, offset + MAGIC_AT, RECORD_MAGIC);
  writeU32(buf, offset + FRAME_BYTES_AT, frameBytes);
  writeU64(buf, offset + SEQ_AT, entry.seq);
  writeU64(buf, offset + EPOCH_AT, entry.epoch);
  writeU64(buf, offset + TIMESTAMP_AT, entry.timestampMs);
  writeU64(buf, offset + PRODUCER_SEQ_AT, entry.producerSeq);
  buf[offset + KIND_AT] = entry.kind;
  buf[offset + FLAGS_AT] = ownerBytes > 0 ? FLAG_OWNER : 0;
  writeU16(buf, offset + PRODUCER_ID_LENGTH_AT, producerIdBytes);
  writeU16(buf, offset + TOPIC_LENGTH_AT, topicBytes);
  writeU32(buf, offset + PAYLOAD_LENGTH_AT, entry.payload.length);
  let at = offset + RECORD_FIXED_BYTES;
  at += buf.write(entry.producerId, at, producerIdBytes, 'utf8');
  at += buf.write(entry.topic, at, topicBytes, 'utf8');
  buf.set(entry.payload, at);
  at += entry.payload.length;
  if (ownerBytes > 0) at += buf.write(entry.owner!, at, ownerBytes, 'utf8');
  invariant(at === offset + frameBytes, 'record layout is inconsistent');
  const hash = chainHashOf(prevHash, buf, offset, frameBytes);
  hash.copy(buf, offset + HASH_AT);
  writeU32(buf, offset + CRC_AT, crc32c(buf, offset + HASH_AT, offset + frameBytes));
  return hash;
}

/**
 * sha256 over the previous hash and this record's body, cut to 16 bytes.
 * The hash slot sits just before the body, so the previous hash is put in
 * it for the time of one one-shot hash over a contiguous range, and the
 * slot's bytes are restored after.
 */
export function chainHashOf(
  prevHash: Uint8Array,
  buf: Uint8Array,
  offset: number,
  frameBytes: number,
): Buffer {
  invariant(prevHash.length === CHAIN_HASH_BYTES, 'chain hash has the wrong size');
  const slot = offset + HASH_AT;
  const saved = Buffer.from(buf.subarray(slot, slot + CHAIN_HASH_BYTES));
  buf.set(prevHash, slot);
  const digest = sha256(buf.subarray(slot, offset + frameBytes));
  buf.set(saved, slot);
  return digest.subarray(0, CHAIN_HASH_BYTES);
}

/** crypto.hash (Node 20.12 and later) is about twice as fast as createHash for short inputs. */
const oneShotHash = (
  crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }
).hash;

function sha256(data: Uint8Array): Buffer {
  if (oneShotHash !== undefined) return oneShotHash('sha256', data, 'buffer');
  return crypto.createHash('sha256').update(data).digest();
}

/** The fields of a record that validation and indexing need, without decoding strings and payload. */
export interface RecordMeta {
  readonly frameBytes: number;
  readonly seq: number;
  readonly epoch: number;
  readonly timestampMs: number;
  readonly payloadBytes: number;
  /** A view into the buffer checked; copy it to keep it. */
  readonly hash: Uint8Array;
}

export type RecordCheck =
  | { readonly ok: true; readonly meta: RecordMeta }
  | { readonly ok: false; readonly reason: string };

/**
 * The length of the record at `buf[offset]` as its fixed part announces it,
 * once the magic and the length fields agree; otherwise why they do not.
 * Needs RECORD_FIXED_BYTES present.
 */
export function announcedFrameBytes(buf: Uint8Array, offset: number): number | string {
  if (readU32(buf, offset + MAGIC_AT) !== RECORD_MAGIC) return 'bad record magic';
  const frameBytes = readU32(buf, offset + FRAME_BYTES_AT);
  const producerIdBytes = readU16(buf, offset + PRODUCER_ID_LENGTH_AT);
  const topicBytes = readU16(buf, offset + TOPIC_LENGTH_AT);
  const payloadBytes = readU32(buf, offset + PAYLOAD_LENGTH_AT);
  const flags = buf[offset + FLAGS_AT]!;
  const fieldBytes = RECORD_FIXED_BYTES + producerIdBytes + topicBytes + payloadBytes;
  const ownerBytes = frameBytes - fieldBytes;
  const lengthFits =
    flags === 0
      ? ownerBytes === 0
      : flags === FLAG_OWNER && ownerBytes >= 1 && ownerBytes <= LIMITS.maxIdentityBytes;
  if (frameBytes > RECORD_MAX_BYTES || !lengthFits) {
    return `record length ${frameBytes} does not match its fields`;
  }
  return frameBytes;
}

/**
 * Checks the record at `buf[offset]` with `available` bytes present from
 * there: framing, lengths, CRC and field ranges. It never throws on bad
 * bytes; it says what is wrong.
 */
export function checkRecord(buf: Uint8Array, offset: number, available: number): RecordCheck {
  if (available < RECORD_FIXED_BYTES) {
    return { ok: false, reason: `only ${available} bytes left of a record header` };
  }
  const frameBytes = announcedFrameBytes(buf, offset);
  if (typeof frameBytes === 'string') return { ok: false, reason: frameBytes };
  if (available < frameBytes) {
    return { ok: false, reason: `record of ${frameBytes} bytes is cut off after ${available}` };
  }
  const storedCrc = readU32(buf, offset + CRC_AT);
  if (crc32c(buf, offset + HASH_AT, offset + frameBytes) !== storedCrc) {
    return { ok: false, reason: 'CRC32C mismatch' };
  }
  const seq = readU64(buf, offset + SEQ_AT);
  const epoch = readU64(buf, offset + EPOCH_AT);
  const timestampMs = readU64(buf, offset + TIMESTAMP_AT);
  const producerSeq = readU64(buf, offset + PRODUCER_SEQ_AT);
  const kind = buf[offset + KIND_AT]!;
  if (seq < 1 || epoch < 0 || timestampMs < 0 || producerSeq < 0 || !isEntryKind(kind)) {
    return { ok: false, reason: 'record fields out of range' };
  }
  const payloadBytes = readU32(buf, offset + PAYLOAD_LENGTH_AT);
  const hash = buf.subarray(offset + HASH_AT, offset + HASH_AT + CHAIN_HASH_BYTES);
  return { ok: true, meta: { frameBytes, seq, epoch, timestampMs, payloadBytes, hash } };
}

/** Decodes a record that `checkRecord` accepted. The payload is copied out of `buf`. */
export function decodeRecord(buf: Uint8Array, offset: number): Entry {
  const producerIdBytes = readU16(buf, offset + PRODUCER_ID_LENGTH_AT);
  const topicBytes = readU16(buf, offset + TOPIC_LENGTH_AT);
  const payloadBytes = readU32(buf, offset + PAYLOAD_LENGTH_AT);
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = offset + RECORD_FIXED_BYTES;
  const producerId = view.toString('utf8', at, at + producerIdBytes);
  at += producerIdBytes;
  const topic = view.toString('utf8', at, at + topicBytes);
  at += topicBytes;
  const payload = new Uint8Array(payloadBytes);
  payload.set(buf.subarray(at, at + payloadBytes));
  at += payloadBytes;
  const entry: Entry = {
    seq: readU64(buf, offset + SEQ_AT),
    epoch: readU64(buf, offset + EPOCH_AT),
    kind: buf[offset + KIND_AT] as EntryKind,
    producerId,
    producerSeq: readU64(buf, offset + PRODUCER_SEQ_AT),
    topic,
    payload,
    timestampMs: readU64(buf, offset + TIMESTAMP_AT),
  };
  if (buf[offset + FLAGS_AT] !== FLAG_OWNER) return entry;
  const frameBytes = readU32(buf, offset + FRAME_BYTES_AT);
  return { ...entry, owner: view.toString('utf8', at, offset + frameBytes) };
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
