import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { isMissingFile, removeFile, syncDirectory } from './directory.js';
import { writeFully } from './segment.js';

/**
 * A small file replaced whole and crash-safely: each write goes to a temp
 * file that is fsynced and renamed over the old one, then the directory is
 * fsynced, so after a crash the file holds the old or the new bytes, whole.
 * Writes run one after another, so the last one called is the one that stays.
 */
export class AtomicFile {
  readonly path: string;
  private readonly tempPath: string;
  private writing: Promise<void> = Promise.resolve();
  private dirReady = false;

  constructor(
    private readonly dir: string,
    fileName: string,
  ) {
    this.path = join(dir, fileName);
    this.tempPath = `${this.path}.tmp`;
  }

  /** The file's bytes, or null when there is none. A temp file left by a crash is removed. */
  async read(): Promise<Buffer | null> {
    await removeFile(this.tempPath);
    try {
      return await readFile(this.path);
    } catch (error) {
      if (isMissingFile(error)) return null;
      throw error;
    }
  }

  write(bytes: Uint8Array): Promise<void> {
    const next = this.writing.then(() => this.replace(bytes));
    this.writing = next.catch(() => {});
    return next;
  }

  /** Resolves once every write called so far is done. */
  async settle(): Promise<void> {
    await this.writing;
  }

  private async replace(bytes: Uint8Array): Promise<void> {
    if (!this.dirReady) {
      await mkdir(this.dir, { recursive: true });
      this.dirReady = true;
    }
    const handle = await open(this.tempPath, 'w');
    try {
      await writeFully(handle, bytes, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(this.tempPath, this.path);
    await syncDirectory(this.dir);
  }
}
