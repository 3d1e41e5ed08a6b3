/** How many bytes `value` takes as a varint. */
export function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/**
 * Writes a packed form into a buffer measured beforehand: varints
 * (unsigned LEB128, at most 2^53), bytes and UTF-8 strings, one after the
 * other. The encoders of `packed-entries.ts` measure, then write with one.
 */
export class PackedWriter {
  readonly out: Buffer;
  /** Offset of the next byte to write. */
  pos = 0;

  constructor(sizeBytes: number) {
    this.out = Buffer.allocUnsafe(sizeBytes);
  }

  varint(value: number): void {
    while (value >= 0x80) {
      this.out[this.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.out[this.pos++] = value;
  }

  byte(value: number): void {
    this.out[this.pos++] = value;
  }

  /** `value`, whose UTF-8 form is `length` bytes long. */
  utf8(value: string, length: number): void {
    if (length > 0) this.pos += this.out.write(value, this.pos, length, 'utf8');
  }

  bytes(view: Uint8Array): void {
    this.out.set(view, this.pos);
    this.pos += view.length;
  }

  /** What was written. */
  written(): Buffer {
    return this.out.subarray(0, this.pos);
  }
}
