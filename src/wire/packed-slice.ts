import { invariant } from '../core/assert.js';
import { EntryKind } from '../core/types.js';
import { PACKED_ENTRIES_VERSION } from './packed-entries.js';
import { PackedWriter, varintBytes } from './packed-writer.js';

const versionByte = Uint8Array.of(PACKED_ENTRIES_VERSION);

/**
 * A delivery's packed entries, cut out of packed runs a node holds (its log
 * in memory) without building an entry or copying a payload twice: a run
 * that lies wholly inside the range is taken as it is, and a run cut at its
 * start gets a header of its own (its first seq, count and producerSeq, its
 * first topic spelled out). The bytes must be well formed (packed by this
 * process, or checked when they arrived); anything else is a bug, and an
 * invariant says so.
 *
 * Entries are taken in seq order from `nextSeq` on, for as long as their
 * payload bytes fit `maxPayloadBytes` (the first always fits), as a read of
 * the log counts them.
 */
export class PackedSlice {
  private readonly pieces: Uint8Array[] = [versionByte];
  private size = 1;
  private payloadBytes = 0;
  private entries = 0;
  /** Seq of the last entry taken or passed over (control entries left out). */
  private last: number;
  private full = false;

  constructor(
    fromSeq: number,
    private readonly toSeq: number,
    private readonly maxPayloadBytes: number,
    /** Whether epoch starts and config entries go too. */
    private readonly includeControl: boolean,
  ) {
    this.last = fromSeq - 1;
  }

  /** Seq of the next entry it wants. */
  get nextSeq(): number {
    return this.last + 1;
  }

  /** True once it holds everything up to `toSeq`, or its byte bound stopped it. */
  get done(): boolean {
    return this.full || this.last >= this.toSeq;
  }

  /** Entries taken. */
  get entryCount(): number {
    return this.entries;
  }

  /** Seq of the last entry taken or passed over: the delivery covers up to here. */
  get lastSeq(): number {
    return this.last;
  }

  /** Payload bytes taken. */
  get takenPayloadBytes(): number {
    return this.payloadBytes;
  }

  /**
   * Takes what it wants of `bytes`, packed runs that hold seqs from
   * `firstSeq` on with no gap (what a log keeps); `firstSeq` may not lie
   * past `nextSeq`.
   */
  add(bytes: Uint8Array, firstSeq: number): void {
    if (firstSeq > this.nextSeq)
      invariant(false, `packed runs from ${firstSeq} leave a gap before ${this.nextSeq}`);
    const end = bytes.length;
    invariant(bytes[0] === PACKED_ENTRIES_VERSION, 'packed runs of an unknown version');
    let pos = 1;
    const varint = (): number => {
      let value = 0;
      let scale = 1;
      for (;;) {
        if (pos >= end) invariant(false, 'packed runs are cut short');
        const b = bytes[pos++]!;
        value += (b & 0x7f) * scale;
        if (b < 0x80) return value;
        scale *= 128;
      }
    };
    while (pos < end && !this.done) {
      const runStart = pos;
      const runFirstSeq = varint();
      const count = varint();
      const kind = bytes[pos++]!;
      const epochAt = pos;
      varint();
      varint();
      const timesEnd = pos;
      const firstProducerSeq = varint();
      const namesAt = pos;
      // The producer id and the owner: a length, then the bytes. (Not
      // `pos += varint()`: that would add to pos as it was before the varint.)
      const producerIdLength = varint();
      pos += producerIdLength;
      const ownerLength = varint();
      pos += ownerLength;
      const namesEnd = pos;
      // Walk the entries: the first wanted, the last that fits, where each starts.
      const wanted = this.nextSeq;
      let topicAt = -1;
      let topicLength = 0;
      let firstKept = -1;
      let firstKeptAt = 0;
      let firstKeptTagged = false;
      let firstKeptTopicAt = -1;
      let firstKeptTopicLength = 0;
      let keptEnd = 0;
      let kept = 0;
      const control = kind !== EntryKind.data;
      for (let k = 0; k < count; k++) {
        const seq = runFirstSeq + k;
        const entryAt = pos;
        const tag = varint();
        const tagEnd = pos;
        if (tag > 0) {
          topicAt = pos;
          topicLength = tag - 1;
          pos += topicLength;
        }
        const payloadLength = varint();
        pos += payloadLength;
        if (seq > this.toSeq) break;
        if (seq < wanted) continue;
        if (control && !this.includeControl) {
          this.last = seq;
          continue;
        }
        if (this.entries > 0 && this.payloadBytes + payloadLength > this.maxPayloadBytes) {
          this.full = true;
          break;
        }
        if (firstKept < 0) {
          firstKept = k;
          firstKeptAt = entryAt;
          firstKeptTagged = tag > 0;
          // A cut run whose first entry repeats the topic before it spells
          // it out: the topic in force here, not at the end of the walk.
          if (!firstKeptTagged) {
            firstKeptAt = tagEnd;
            firstKeptTopicAt = topicAt;
            firstKeptTopicLength = topicLength;
          }
        }
        keptEnd = pos;
        kept++;
        this.entries++;
        this.payloadBytes += payloadLength;
        this.last = seq;
      }
      if (kept > 0) {
        if (firstKept === 0 && kept === count) this.push(bytes.subarray(runStart, keptEnd));
        else {
          const epochAndTime = bytes.subarray(epochAt, timesEnd);
          const names = bytes.subarray(namesAt, namesEnd);
          const producerSeq = control ? firstProducerSeq : firstProducerSeq + firstKept;
          const topic = firstKeptTagged
            ? null
            : bytes.subarray(firstKeptTopicAt, firstKeptTopicAt + firstKeptTopicLength);
          invariant(
            firstKeptTagged || firstKeptTopicAt >= 0,
            'a run repeats a topic it never named',
          );
          const header = new PackedWriter(
            varintBytes(runFirstSeq + firstKept) +
              varintBytes(kept) +
              1 +
              epochAndTime.length +
              varintBytes(producerSeq) +
              names.length +
              (topic === null ? 0 : varintBytes(topic.length + 1) + topic.length),
          );
          header.varint(runFirstSeq + firstKept);
          header.varint(kept);
          header.byte(kind);
          header.bytes(epochAndTime);
          header.varint(producerSeq);
          header.bytes(names);
          if (topic !== null) {
            header.varint(topic.length + 1);
            header.bytes(topic);
          }
          this.push(header.written());
          this.push(bytes.subarray(firstKeptAt, keptEnd));
        }
      }
      if (runFirstSeq + count - 1 > this.toSeq) break;
    }
  }

  /** The packed entries taken, one byte string. */
  finish(): Uint8Array {
    if (this.entries === 0) return new Uint8Array(0);
    return Buffer.concat(this.pieces, this.size);
  }

  private push(piece: Uint8Array): void {
    this.pieces.push(piece);
    this.size += piece.length;
  }
}
