import type { HardState } from '../core/types.js';
import { AtomicFile } from './atomic-file.js';
import { crc32c } from './crc32c.js';
import type { FileSystem } from './file-system.js';
import type { MetaStore } from './log-store.js';
import {
  CorruptMetaError,
  InvalidHardStateError,
  LogStoreUnavailableError,
} from './storage-errors.js';

export interface FileMetaStoreOptions {
  /** Directory of the metadata file; created on the first save. */
  readonly dir: string;
  /** Default 'meta.json'. */
  readonly fileName?: string;
  /** The file system to keep it on. Default nodeFileSystem. */
  readonly fs?: FileSystem;
}

const FORMAT_VERSION = 1;
const INITIAL_STATE: HardState = { epoch: 0, votedFor: null, commitSeq: 0 };

/**
 * Keeps the hard state (epoch, vote, commit point) in one small JSON file,
 * readable by an operator, with a CRC32C so a damaged file is reported
 * rather than trusted. `save` never overwrites the file in place: it writes
 * a temp file, fsyncs it, renames it over the old one and fsyncs the
 * directory, so after a crash the file holds either the old or the new
 * state, whole. A temp file left by a crash is ignored and removed.
 */
export class FileMetaStore implements MetaStore {
  private readonly file: AtomicFile;
  private closed = false;

  constructor(options: FileMetaStoreOptions) {
    this.file = new AtomicFile(options.dir, options.fileName ?? 'meta.json', options.fs);
  }

  async load(): Promise<HardState> {
    this.requireOpen();
    const bytes = await this.file.read();
    if (bytes === null) return INITIAL_STATE;
    return parseMeta(this.file.path, bytes.toString('utf8'));
  }

  save(state: HardState): Promise<void> {
    try {
      this.requireOpen();
      return this.file.write(Buffer.from(formatMeta(state), 'utf8'));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.file.settle();
  }

  private requireOpen(): void {
    if (this.closed)
      throw new LogStoreUnavailableError(`metadata store ${this.file.path} is closed`);
  }
}

function body(state: HardState): string {
  return JSON.stringify({
    version: FORMAT_VERSION,
    epoch: state.epoch,
    votedFor: state.votedFor,
    commitSeq: state.commitSeq,
  });
}

function formatMeta(state: HardState): string {
  if (state === null || typeof state !== 'object') throw new InvalidHardStateError('not an object');
  if (!isCount(state.epoch)) throw new InvalidHardStateError(`epoch ${String(state.epoch)}`);
  if (!isCount(state.commitSeq))
    throw new InvalidHardStateError(`commitSeq ${String(state.commitSeq)}`);
  if (state.votedFor !== null && typeof state.votedFor !== 'string') {
    throw new InvalidHardStateError(`votedFor ${String(state.votedFor)}`);
  }
  const text = body(state);
  return `${text.slice(0, -1)},"crc32c":${crc32c(Buffer.from(text, 'utf8'))}}\n`;
}

function parseMeta(path: string, text: string): HardState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new CorruptMetaError(path, 'not valid JSON (a torn or damaged write)', { cause });
  }
  if (parsed === null || typeof parsed !== 'object')
    throw new CorruptMetaError(path, 'not a JSON object');
  const fields = parsed as Record<string, unknown>;
  if (fields['version'] !== FORMAT_VERSION) {
    throw new CorruptMetaError(path, `unknown format version ${String(fields['version'])}`);
  }
  const { epoch, votedFor, commitSeq } = fields;
  if (
    !isCount(epoch) ||
    !isCount(commitSeq) ||
    (votedFor !== null && typeof votedFor !== 'string')
  ) {
    throw new CorruptMetaError(path, 'fields missing or out of range');
  }
  const state: HardState = { epoch, votedFor, commitSeq };
  const expected = crc32c(Buffer.from(body(state), 'utf8'));
  if (fields['crc32c'] !== expected) throw new CorruptMetaError(path, 'CRC32C mismatch');
  return state;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
