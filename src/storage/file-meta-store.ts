import type { HardState } from '../core/types.js';
import type { FileSystem } from './file-system.js';
import { checkJsonSeal, isCount, JsonDocumentFile, openJson, sealJson } from './json-document.js';
import type { MetaStore } from './log-store.js';
import { CorruptMetaError, InvalidHardStateError } from './storage-errors.js';

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
  private readonly file: JsonDocumentFile;

  constructor(options: FileMetaStoreOptions) {
    this.file = new JsonDocumentFile(
      options.dir,
      options.fileName ?? 'meta.json',
      options.fs,
      'metadata store',
    );
  }

  async load(): Promise<HardState> {
    const text = await this.file.read();
    return text === null ? INITIAL_STATE : parseMeta(this.file.path, text);
  }

  save(state: HardState): Promise<void> {
    try {
      return this.file.write(formatMeta(state));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    return this.file.close();
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
  return sealJson(body(state));
}

function parseMeta(path: string, text: string): HardState {
  const fields = openJson(path, text, FORMAT_VERSION);
  const { epoch, votedFor, commitSeq } = fields;
  if (
    !isCount(epoch) ||
    !isCount(commitSeq) ||
    (votedFor !== null && typeof votedFor !== 'string')
  ) {
    throw new CorruptMetaError(path, 'fields missing or out of range');
  }
  const state: HardState = { epoch, votedFor, commitSeq };
  checkJsonSeal(path, fields, body(state));
  return state;
}
