import { decodeMembership } from '../core/membership.js';
import { type Entry, EntryKind } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { checkEpoch, checkSeq, checkUint, FrameError } from './frame-error.js';

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

function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

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
      const producerBytes = Buffer.byteLength(e.producerId);
      const ownerBytes = Buffer.byteLength(e.owner ?? '');
      size +=
        varintBytes(e.seq) +
        varintBytes(count) +
        1 +
        varintBytes(e.epoch) +
        varintBytes(e.timestampMs) +
        varintBytes(e.producerSeq) +
        varintBytes(producerBytes) +
        producerBytes +
        varintBytes(ownerBytes) +
        ownerBytes;
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
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const writeVarint = (value: number): void => {
    while (value >= 0x80) {
      out[pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    out[pos++] = value;
  };
  const writeString = (value: string): void => {
    const length = Buffer.byteLength(value);
    writeVarint(length);
    if (length > 0) pos += out.write(value, pos, length, 'utf8');
  };
  out[pos++] = PACKED_ENTRIES_VERSION;
  let i = 0;
  while (i < entries.length) {
    const first = entries[i]!;
    let count = 1;
    while (i + count < entries.length && sameRun(entries[i + count - 1]!, entries[i + count]!))
      count++;
    writeVarint(first.seq);
    writeVarint(count);
    out[pos++] = first.kind;
    writeVarint(first.epoch);
    writeVarint(first.timestampMs);
    writeVarint(first.producerSeq);
    writeString(first.producerId);
    writeString(first.owner ?? '');
    let topic: string | null = null;
    for (let k = 0; k < count; k++) {
      const e = entries[i + k]!;
      if (e.topic === topic) out[pos++] = 0;
      else {
        const length = Buffer.byteLength(e.topic);
        writeVarint(length + 1);
        if (length > 0) pos += out.write(e.topic, pos, length, 'utf8');
        topic = e.topic;
      }
      writeVarint(e.payload.length);
      out.set(e.payload, pos);
      pos += e.payload.length;
    }
    i += count;
  }
  if (pos !== size) throw new Error(`packed entries: wrote ${pos} bytes, measured ${size}`);
  return out;
}

/** How the decoded seqs must run: contiguous from `firstSeq`, or increasing inside [firstSeq, lastSeq]. */
export interface PackedSeqRule {
  readonly firstSeq: number;
  /** Set for a filtered range (a delivery): seqs may skip but stay inside it. Absent: contiguous. */
  readonly lastSeq?: number;
}

/**
 * Unpacks and validates packed entries: every field as `validateEntry`
 * checks it, seqs as `rule` says. Payloads are views into `bytes`. Throws
 * FrameError for anything malformed.
 */
export function decodePackedEntries(
  bytes: Uint8Array,
  rule: PackedSeqRule,
  field: string,
): Entry[] {
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
      const payload = buf.subarray(pos, pos + payloadLength);
      pos += payloadLength;
      if (kind === EntryKind.config) {
        try {
          decodeMembership(payload);
        } catch (error) {
          throw new FrameError('malformed', `${field}: ${(error as Error).message}`, {
            cause: error,
          });
        }
      }
      entries.push({
        seq: firstSeq + k,
        epoch,
        kind: kind as EntryKind,
        producerId,
        producerSeq: kind === EntryKind.data ? firstProducerSeq + k : firstProducerSeq,
        topic: topic!,
        payload,
        timestampMs,
        owner,
      });
    }
    nextSeq = lastSeq + 1;
  }
  return entries;
}
