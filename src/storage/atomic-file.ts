import { join } from 'node:path';
import { isMissingFile, removeFile, syncDirectory } from './directory.js';
import { type FileSystem, nodeFileSystem } from './file-system.js';
import { writeFully } from './segment.js';
import { StorageFailedError } from './storage-errors.js';

/**
 * A small file replaced whole and crash-safely: each write goes to a temp
 * file that is fsynced and renamed over the old one, then the directory is
 * fsynced, so after a crash the file holds the old or the new bytes, whole.
 * Writes run one after another, so the last one called is the one that stays.
 * A failed fsync (EIO) fails that write and every later one with
 * StorageFailedError: the host must treat it as a crash and restart.
 */
export class AtomicFile {
  readonly path: string;
  private readonly tempPath: string;
  private writing: Promise<void> = Promise.resolve();
  private dirReady = false;
  private failure: StorageFailedError | null = null;

  constructor(
    private readonly dir: string,
    fileName: string,
    private readonly fs: FileSystem = nodeFileSystem,
  ) {
    this.path = join(dir, fileName);
    this.tempPath = `${this.path}.tmp`;
  }

  /** The file's bytes, or null when there is none. A temp file left by a crash is removed. */
  async read(): Promise<Buffer | null> {
    await removeFile(this.tempPath, this.fs);
    try {
      return await this.fs.readFile(this.path);
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
    if (this.failure !== null) throw this.failure;
    if (!this.dirReady) {
      await this.fs.mkdirp(this.dir);
      this.dirReady = true;
    }
    const handle = await this.fs.open(this.tempPath, 'w');
    try {
      await writeFully(handle, bytes, 0);
      await this.synced(() => handle.sync());
    } finally {
      await handle.close();
    }
    await this.fs.rename(this.tempPath, this.path);
    await this.synced(() => syncDirectory(this.dir, this.fs));
  }

  /** Runs an fsync; a failed one is never retried (the kernel may have dropped the pages). */
  private async synced(sync: () => Promise<void>): Promise<void> {
    try {
      await sync();
    } catch (cause) {
      // No descriptor for the directory (too many open files): no fsync ran,
      // nothing was dropped, and the whole write may be tried again.
      if (isOutOfDescriptors(cause)) throw cause;
      this.failure = new StorageFailedError(`fsync for ${this.path} failed; restart from disk`, {
        cause,
      });
      throw this.failure;
    }
  }
}

function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}
