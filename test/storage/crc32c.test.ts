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
