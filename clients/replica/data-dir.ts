import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DataDirLockedError } from './replica-errors.js';
import { SnapshotStore, type SnapshotStoreOptions, syncDirectory } from './snapshot-store.js';

/** Data folders held by replicas of this process (the lock file alone cannot tell them apart). */
const heldHere = new Set<string>();

/**
 * A replica's data folder: `snapshots/` (the SnapshotStore), `replica-id`
 * (so a restarted replica reports under the same name) and `replica.lock`
 * (the pid of the process using it, so two replicas never write the same
 * snapshots). A lock left by a process that no longer runs is taken over.
 */
export class ReplicaDataDir {
  private constructor(
    readonly path: string,
    readonly replicaId: string,
    readonly snapshots: SnapshotStore,
    private readonly locked: boolean,
  ) {}

  static async open(
    folder: string,
    options: {
      replicaId?: string;
      idPrefix: string;
      readOnly?: boolean;
      snapshots?: SnapshotStoreOptions;
    },
  ): Promise<ReplicaDataDir> {
    const path = resolve(folder);
    const readOnly = options.readOnly ?? false;
    if (readOnly) {
      const snapshots = await SnapshotStore.open(join(path, 'snapshots'), {
        ...options.snapshots,
        readOnly,
      });
      const replicaId = options.replicaId ?? `${options.idPrefix}-query-${process.pid}`;
      return new ReplicaDataDir(path, replicaId, snapshots, false);
    }
    await mkdir(path, { recursive: true });
    await lock(path);
    try {
      const replicaId = options.replicaId ?? (await loadOrCreateId(path, options.idPrefix));
      const snapshots = await SnapshotStore.open(join(path, 'snapshots'), options.snapshots ?? {});
      return new ReplicaDataDir(path, replicaId, snapshots, true);
    } catch (error) {
      await unlock(path);
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.locked) await unlock(this.path);
  }
}

async function lock(path: string): Promise<void> {
  const lockPath = join(path, 'replica.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      heldHere.add(path);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holderPid = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    const heldByUs = holderPid === process.pid && heldHere.has(path);
    if (
      Number.isInteger(holderPid) &&
      (heldByUs || (holderPid !== process.pid && isRunning(holderPid)))
    ) {
      throw new DataDirLockedError(
        `data folder ${path} is in use by process ${holderPid}`,
        holderPid,
      );
    }
    // The holder is gone (it crashed): take the folder over.
    await rm(lockPath, { force: true });
  }
  throw new DataDirLockedError(`could not lock data folder ${path}`, 0);
}

async function unlock(path: string): Promise<void> {
  heldHere.delete(path);
  await rm(join(path, 'replica.lock'), { force: true });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function loadOrCreateId(path: string, prefix: string): Promise<string> {
  const idPath = join(path, 'replica-id');
  const stored = (await readFile(idPath, 'utf8').catch(() => '')).trim();
  if (stored !== '') return stored;
  const replicaId = `${prefix}-${randomUUID().slice(0, 8)}`;
  const handle = await open(`${idPath}.tmp`, 'w');
  try {
    await handle.writeFile(`${replicaId}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(`${idPath}.tmp`, idPath);
  await syncDirectory(path);
  return replicaId;
}
