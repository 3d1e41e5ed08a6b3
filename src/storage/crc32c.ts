/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * iSCSI, ext4 and Kafka record batches. It is computed slice-by-8: eight
 * 256-entry tables let the loop consume eight bytes per step, which keeps the
 * checksum cheap next to the write syscall without a native dependency.
 */

const POLYNOMIAL = 0x82f63b78;
const TABLE_COUNT = 8;

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const base = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    base[n] = c >>> 0;
  }
  tables.push(base);
  for (let t = 1; t < TABLE_COUNT; t++) {
    const previous = tables[t - 1]!;
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      const p = previous[n]!;
      table[n] = ((p >>> 8) ^ base[p & 0xff]!) >>> 0;
    }
    tables.push(table);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables() as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/**
 * The CRC32C of `data[start, end)`. Pass a previous result as `crc` to
 * continue a checksum over several pieces.
 */
export function crc32c(data: Uint8Array, start = 0, end = data.length, crc = 0): number {
  let c = ~crc >>> 0;
  let i = start;
  const stop8 = end - ((end - start) % 8);
  while (i < stop8) {
    const lo =
      (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      T7[lo & 0xff]! ^
      T6[(lo >>> 8) & 0xff]! ^
      T5[(lo >>> 16) & 0xff]! ^
      T4[lo >>> 24]! ^
      T3[data[i + 4]!]! ^
      T2[data[i + 5]!]! ^
      T1[data[i + 6]!]! ^
      T0[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) {
    c = (c >>> 8) ^ T0[(c ^ data[i]!) & 0xff]!;
    i++;
  }
  return ~c >>> 0;
}
