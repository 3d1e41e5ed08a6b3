import test from 'ava';
import { crc32c } from '../../src/storage/crc32c.js';

test('crc32c matches the published check values', (t) => {
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.is(crc32c(new Uint8Array(0)), 0);
  // RFC 3720 B.4: 32 bytes of zeros, and 32 bytes of 0xFF.
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
});

test('crc32c over pieces equals crc32c over the whole, at every split and alignment', (t) => {
  const data = Buffer.alloc(67);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
  const whole = crc32c(data);
  for (let split = 0; split <= data.length; split++) {
    t.is(crc32c(data, split, data.length, crc32c(data, 0, split)), whole);
  }
});

/** The checksum one bit at a time, straight from the polynomial: the reference the tables must match. */
function bitwiseCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

test('crc32c equals the bitwise checksum for every length up to three table steps, at any offset', (t) => {
  const data = Buffer.alloc(64);
  for (let i = 0; i < data.length; i++) data[i] = (i * 151 + 89) & 0xff;
  let mismatches = 0;
  for (let start = 0; start < 8; start++) {
    for (let end = start; end <= start + 50; end++) {
      if (crc32c(data, start, end) !== bitwiseCrc32c(data.subarray(start, end))) mismatches++;
    }
  }
  t.is(mismatches, 0);
});
