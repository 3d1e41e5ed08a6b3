import { open, rm } from 'node:fs/promises';

/**
 * Makes the directory's entries durable: a created, renamed or deleted file
 * is only sure to stay so once its directory has been fsynced.
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Deletes a file; a file already gone is fine (a crash may have removed it before). */
export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

export function isMissingFile(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
