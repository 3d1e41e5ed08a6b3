import type { ProducerSnapshot } from '../core/producer-table.js';
import type { DedupCheckpoint } from '../core/types.js';
import { AtomicFile } from './atomic-file.js';
import { crc32c } from './crc32c.js';
import type { FileSystem } from './file-system.js';

/**
 * Version 2 adds each producer's owner (the identity its producer id belongs
 * to) as a seventh packed field; a version 1 file still loads, its producers
 * without an owner.
 */
const FORMAT_VERSION = 2;
const READABLE_VERSIONS: readonly unknown[] = [1, 2];

/**
 * Keeps the node's dedup table (see DedupCheckpoint) in one JSON file with a
 * CRC32C, replaced whole and crash-safely. A missing or damaged file is not
 * an error: the node then rebuilds the table from the recent end of its log,
 * as it would without checkpoints.
 */
export class DedupCheckpointStore {
  private readonly file: AtomicFile;

  constructor(dir: string, fileName = 'dedup.json', fs?: FileSystem) {
    this.file = new AtomicFile(dir, fileName, fs);
  }

  get path(): string {
    return this.file.path;
  }

  /** The saved checkpoint, or null when there is none or it is damaged (the reason is returned too). */
  async load(): Promise<{ checkpoint: DedupCheckpoint | null; problem: string | null }> {
    const bytes = await this.file.read();
    if (bytes === null) return { checkpoint: null, problem: null };
    try {
      return { checkpoint: parse(bytes.toString('utf8')), problem: null };
    } catch (error) {
      return { checkpoint: null, problem: `${this.file.path}: ${(error as Error).message}` };
    }
  }

  save(checkpoint: DedupCheckpoint): Promise<void> {
    const body = JSON.stringify({
      version: FORMAT_VERSION,
      seq: checkpoint.seq,
      producers: checkpoint.producers.map(pack),
    });
    const text = `${body.slice(0, -1)},"crc32c":${crc32c(Buffer.from(body, 'utf8'))}}\n`;
    return this.file.write(Buffer.from(text, 'utf8'));
  }

  async close(): Promise<void> {
    await this.file.settle();
  }
}

type Packed = [string, number, number[], number[], number | null, number | null, string?];

function pack(p: ProducerSnapshot): Packed {
  return [
    p.producerId,
    p.lastProducerSeq,
    [...p.producerSeqs],
    [...p.seqs],
    p.evictedProducerSeq,
    p.evictedSeq,
    p.owner,
  ];
}

function parse(text: string): DedupCheckpoint {
  const fields = JSON.parse(text) as Record<string, unknown>;
  if (!READABLE_VERSIONS.includes(fields['version']))
    throw new Error(`unknown format version ${String(fields['version'])}`);
  const { crc32c: saved, ...rest } = fields;
  const body = JSON.stringify(rest);
  if (saved !== crc32c(Buffer.from(body, 'utf8'))) throw new Error('CRC32C mismatch');
  const seq = fields['seq'];
  const producers = fields['producers'];
  if (!isCount(seq) || !Array.isArray(producers)) throw new Error('fields missing or out of range');
  return {
    seq,
    producers: producers.map((raw: unknown): ProducerSnapshot => {
      const p = raw as Packed;
      if (
        !Array.isArray(p) ||
        typeof p[0] !== 'string' ||
        !isCount(p[1]) ||
        !Array.isArray(p[2]) ||
        !Array.isArray(p[3]) ||
        p[2].length !== p[3].length ||
        !risingCounts(p[2]) ||
        !risingCounts(p[3]) ||
        (p[6] !== undefined && typeof p[6] !== 'string')
      ) {
        throw new Error('a producer entry is malformed');
      }
      return {
        producerId: p[0],
        lastProducerSeq: p[1],
        producerSeqs: p[2],
        seqs: p[3],
        evictedProducerSeq: p[4],
        evictedSeq: p[5],
        owner: p[6] ?? '',
      };
    }),
  };
}

/** A producer's remembered producerSeqs and seqs both rise strictly, as the table records them. */
function risingCounts(values: readonly unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!isCount(value) || (i > 0 && value <= (values[i - 1] as number))) return false;
  }
  return true;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
