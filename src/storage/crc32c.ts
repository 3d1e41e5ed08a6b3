/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * iSCSI, ext4 and Kafka record batches. It is computed slice-by-16: sixteen
 * 256-entry tables let the loop consume sixteen bytes per step, which keeps
 * the checksum cheap next to the write syscall without a native dependency.
 * (Slice-by-16 ran at 1.23-1.25 GB/s here against 0.96 for slice-by-8, on
 * 180-byte pieces as a record's entries are checksummed; a native call per
 * entry was no faster than either, its overhead being the call.)
 */

const POLYNOMIAL = 0x82f63b78;
const TABLE_COUNT = 16;

/**
 * The sixteen tables in one array, table t at [256 t, 256 t + 256): table 0
 * advances the checksum by one byte, table t by a byte followed by t zero
 * bytes.
 */
function buildTables(): Uint32Array {
  const tables = new Uint32Array(256 * TABLE_COUNT);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    tables[n] = c >>> 0;
  }
  for (let t = 1; t < TABLE_COUNT; t++) {
    for (let n = 0; n < 256; n++) {
      const p = tables[(t - 1) * 256 + n]!;
      tables[t * 256 + n] = ((p >>> 8) ^ tables[p & 0xff]!) >>> 0;
    }
  }
  return tables;
}

const T = buildTables();

/**
 * The CRC32C of `data[start, end)`. Pass a previous result as `crc` to
 * continue a checksum over several pieces.
 */
export function crc32c(data: Uint8Array, start = 0, end = data.length, crc = 0): number {
  let c = ~crc >>> 0;
  let i = start;
  const stop16 = end - ((end - start) % 16);
  while (i < stop16) {
    const lo =
      (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      T[3840 + (lo & 0xff)]! ^
      T[3584 + ((lo >>> 8) & 0xff)]! ^
      T[3328 + ((lo >>> 16) & 0xff)]! ^
      T[3072 + (lo >>> 24)]! ^
      T[2816 + data[i + 4]!]! ^
      T[2560 + data[i + 5]!]! ^
      T[2304 + data[i + 6]!]! ^
      T[2048 + data[i + 7]!]! ^
      T[1792 + data[i + 8]!]! ^
      T[1536 + data[i + 9]!]! ^
      T[1280 + data[i + 10]!]! ^
      T[1024 + data[i + 11]!]! ^
      T[768 + data[i + 12]!]! ^
      T[512 + data[i + 13]!]! ^
      T[256 + data[i + 14]!]! ^
      T[data[i + 15]!]!;
    i += 16;
  }
  while (i < end) {
    c = (c >>> 8) ^ T[(c ^ data[i]!) & 0xff]!;
    i++;
  }
  return ~c >>> 0;
}
