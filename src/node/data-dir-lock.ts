import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Another live process holds the node's data folder. */
export class NodeDataDirLockedError extends Error {
  override readonly name = 'NodeDataDirLockedError';
  readonly retriable = false;

  constructor(
    readonly dir: string,
    readonly holderPid: number,
  ) {
    super(
      `data folder ${dir} is in use by another process (pid ${holderPid}); stop that process first, or delete ${join(dir, LOCK_FILE)} if it is not an Ordo node`,
    );
  }
}

const LOCK_FILE = 'LOCK';

/**
 * One process per data folder: a node takes the folder's LOCK file (holding
 * its pid) before it opens anything else there, and gives it back on exit.
 * The file appears whole or not at all (written aside, then hard-linked into
 * place, which fails if it exists), so a second process always reads the
 * holder's pid. A lock left by a process that no longer runs is taken over.
 */
export class DataDirLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(
    readonly dir: string,
    private readonly path: string,
  ) {
    process.once('exit', this.onExit);
  }

  /** Takes the lock or throws NodeDataDirLockedError naming the holder's pid. */
  static acquire(dir: string): DataDirLock {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, LOCK_FILE);
    const aside = join(dir, `${LOCK_FILE}.${process.pid}.tmp`);
    writeFileSync(aside, `${process.pid}\n`);
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(aside, path);
          return new DataDirLock(dir, path);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const holder = readHolder(path);
        if (holder !== null && holder !== process.pid && isAlive(holder))
          throw new NodeDataDirLockedError(dir, holder);
        // The holder is gone (or the file is unreadable): the lock is stale.
        unlinkSync(path);
      }
      throw new NodeDataDirLockedError(dir, readHolder(path) ?? -1);
    } finally {
      unlinkSync(aside);
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    try {
      if (readHolder(this.path) === process.pid) unlinkSync(this.path);
    } catch {
      // Already removed: nothing to give back.
    }
  }
}

function readHolder(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
