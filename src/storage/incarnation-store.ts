import type { FileSystem } from './file-system.js';
import { JsonDocumentFile, openJson } from './json-document.js';
import { CorruptMetaError } from './storage-errors.js';

/**
 * The incarnation of a node's data folder, written at the node's first
 * start, and the incarnations this node has heard from its peers. A voter
 * that comes back with an empty or another folder has another incarnation:
 * its peers tell it, and it refuses to start as that voter (it may have
 * forgotten its vote and the entries it acknowledged).
 */
export interface IncarnationRecord {
  readonly nodeId: string;
  readonly incarnation: string;
  /** Peer id to the incarnation first heard from it while it was a member. */
  readonly peers: Readonly<Record<string, string>>;
}

export interface IncarnationStorage {
  /** Null when the folder has none (a new folder). */
  load(): Promise<IncarnationRecord | null>;
  save(record: IncarnationRecord): Promise<void>;
  close(): Promise<void>;
}

const FORMAT_VERSION = 1;

export class FileIncarnationStore implements IncarnationStorage {
  private readonly file: JsonDocumentFile;

  constructor(dir: string, fs?: FileSystem) {
    this.file = new JsonDocumentFile(dir, 'incarnation.json', fs, 'incarnation store');
  }

  async load(): Promise<IncarnationRecord | null> {
    const text = await this.file.read();
    if (text === null) return null;
    const { nodeId, incarnation, peers } = openJson(this.file.path, text, FORMAT_VERSION);
    if (
      typeof nodeId !== 'string' ||
      typeof incarnation !== 'string' ||
      peers === null ||
      typeof peers !== 'object' ||
      Object.values(peers as object).some((v) => typeof v !== 'string')
    )
      throw new CorruptMetaError(this.file.path, 'fields missing or of the wrong type');
    return { nodeId, incarnation, peers: peers as Record<string, string> };
  }

  save(record: IncarnationRecord): Promise<void> {
    return this.file.write(`${JSON.stringify({ version: FORMAT_VERSION, ...record })}\n`);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
