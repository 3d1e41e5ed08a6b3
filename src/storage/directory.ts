import { type FileSystem, nodeFileSystem } from './file-system.js';

/**
 * Makes the directory's entries durable: a created, renamed or deleted file
 * is only sure to stay so once its directory has been fsynced.
 */
export function syncDirectory(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  return fs.syncDirectory(dir);
}

/** Deletes a file; a file already gone is fine (a crash may have removed it before). */
export async function removeFile(path: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if (!isMissingFile(error)) throw error;
  }
}

export function isMissingFile(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
