import { AtomicFile } from './atomic-file.js';
import { crc32c } from './crc32c.js';
import type { FileSystem } from './file-system.js';
import { CorruptMetaError, LogStoreUnavailableError } from './storage-errors.js';

/**
 * One small JSON document kept in its own file, replaced whole and
 * crash-safely (AtomicFile), for the node's metadata files. Reads and
 * writes after close() are refused, naming the document.
 */
export class JsonDocumentFile {
  private readonly file: AtomicFile;
  private closed = false;

  constructor(
    dir: string,
    fileName: string,
    fs: FileSystem | undefined,
    /** What the document is, for errors ("metadata store", ...). */
    private readonly what: string,
  ) {
    this.file = new AtomicFile(dir, fileName, fs);
  }

  get path(): string {
    return this.file.path;
  }

  /** The document's text, or null when the file does not exist yet. */
  async read(): Promise<string | null> {
    this.requireOpen();
    const bytes = await this.file.read();
    return bytes === null ? null : bytes.toString('utf8');
  }

  write(text: string): Promise<void> {
    try {
      this.requireOpen();
      return this.file.write(Buffer.from(text, 'utf8'));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.file.settle();
  }

  private requireOpen(): void {
    if (this.closed) throw new LogStoreUnavailableError(`${this.what} ${this.file.path} is closed`);
  }
}

/** `body` (a JSON object's text) with its CRC32C added as a last field, and a newline. */
export function sealJson(body: string): string {
  return `${body.slice(0, -1)},"crc32c":${crc32c(Buffer.from(body, 'utf8'))}}\n`;
}

/** Parses a document and checks that it is an object of format `version`; throws CorruptMetaError. */
export function openJson(path: string, text: string, version: number): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new CorruptMetaError(path, 'not valid JSON (a torn or damaged write)', { cause });
  }
  if (parsed === null || typeof parsed !== 'object')
    throw new CorruptMetaError(path, 'not a JSON object');
  const fields = parsed as Record<string, unknown>;
  if (fields['version'] !== version)
    throw new CorruptMetaError(path, `unknown format version ${String(fields['version'])}`);
  return fields;
}

/** Checks the CRC32C sealJson added against the body rebuilt from the parsed fields. */
export function checkJsonSeal(path: string, fields: Record<string, unknown>, body: string): void {
  if (fields['crc32c'] !== crc32c(Buffer.from(body, 'utf8')))
    throw new CorruptMetaError(path, 'CRC32C mismatch');
}

export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
