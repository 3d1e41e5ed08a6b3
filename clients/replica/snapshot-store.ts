import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LIMITS } from '../../src/limits.js';
import { syncDirectory } from '../../src/storage/directory.js';
import { SnapshotError } from './replica-errors.js';
import { decodeSnapshotFile, encodeSnapshotFile, type SnapshotRecord } from './snapshot-file.js';

/** A snapshot file that was found damaged and passed over. */
export interface SkippedSnapshot {
  readonly file: string;
  readonly reason: string;
}

/**
 * Test-only fault: the `nth` save (counting from 1) writes half of its bytes
 * to the temporary file, or straight to the final name as a file system
 * that reorders the rename before the data would, then calls `onHalt` and
 * never completes, so that a test can kill the process mid-snapshot.
 */
export interface SnapshotSaveFault {
  readonly nth: number;
  readonly torn: 'temp' | 'final';
  readonly onHalt: (seq: number) => void;
}

export interface SnapshotStoreOptions {
  /** Read only (a `--query` run beside a live replica): nothing is created, renamed or deleted. */
  readonly readOnly?: boolean;
  readonly fault?: SnapshotSaveFault;
}

const filePattern = /^snapshot-(\d{16})\.snap$/;
const damagedSuffix = '.damaged';

function fileName(seq: number): string {
  return `snapshot-${String(seq).padStart(16, '0')}.snap`;
}

/**
 * Crash-safe snapshot files in one folder. A save writes a temporary file,
 * fsyncs it, renames it over its final name and fsyncs the folder, so after
 * a crash the final name holds either nothing or a complete file. The store
 * keeps the newest snapshot and the previous good one: should the newest be
 * damaged after all (its trailing checksum does not match, as after a torn
 * write on a file system that reordered the rename), opening skips it,
 * renames it aside with a `.damaged` suffix, and uses the previous one.
 */
export class SnapshotStore {
  private newestGood: string | null;
  private saves = 0;
  private saving = false;

  private constructor(
    readonly dir: string,
    private readonly options: SnapshotStoreOptions,
    readonly latest: SnapshotRecord | null,
    readonly skipped: readonly SkippedSnapshot[],
  ) {
    this.newestGood = latest === null ? null : fileName(latest.seq);
  }

  /** Opens (creating unless read-only) the folder and loads the newest good snapshot. */
  static async open(dir: string, options: SnapshotStoreOptions = {}): Promise<SnapshotStore> {
    const readOnly = options.readOnly ?? false;
    if (!readOnly) await mkdir(dir, { recursive: true });
    const names = await listOrEmpty(dir);
    if (!readOnly) {
      // A temporary file is a save that never finished: it was never the snapshot of record.
      for (const name of names.filter((n) => n.endsWith('.tmp')))
        await rm(join(dir, name), { force: true });
    }
    const candidates = names
      .filter((n) => filePattern.test(n))
      .sort()
      .reverse();
    const skipped: SkippedSnapshot[] = [];
    let latest: SnapshotRecord | null = null;
    for (const name of candidates) {
      try {
        latest = decodeSnapshotFile(await readFile(join(dir, name)));
        const seqInName = Number(filePattern.exec(name)![1]);
        if (latest.seq !== seqInName)
          throw new SnapshotError(`file name says seq ${seqInName}, header says ${latest.seq}`);
        break;
      } catch (error) {
        latest = null;
        const reason = (error as Error).message;
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // Pruned under a read-only reader.
        skipped.push({ file: join(dir, name), reason });
        if (!readOnly) await setAside(dir, name);
      }
    }
    return new SnapshotStore(dir, options, latest, skipped);
  }

  /** Durably stores a snapshot and prunes all but it and the previous good one. Resolves with its path. */
  async save(record: SnapshotRecord): Promise<string> {
    if (this.options.readOnly) throw new SnapshotError('this snapshot store was opened read-only');
    if (this.saving) throw new SnapshotError('a snapshot save is already in progress');
    if (record.data.length > LIMITS.maxReplicaSnapshotBytes) {
      throw new SnapshotError(
        `state snapshot of ${record.data.length} bytes exceeds the limit of ${LIMITS.maxReplicaSnapshotBytes} bytes`,
      );
    }
    this.saving = true;
    try {
      const name = fileName(record.seq);
      const finalPath = join(this.dir, name);
      const tempPath = `${finalPath}.tmp`;
      const bytes = encodeSnapshotFile(record);
      this.saves++;
      const fault = this.options.fault;
      if (fault !== undefined && this.saves === fault.nth) {
        await writeDurably(
          fault.torn === 'temp' ? tempPath : finalPath,
          bytes.subarray(0, bytes.length >> 1),
        );
        fault.onHalt(record.seq);
        await new Promise<never>(() => {});
      }
      await writeDurably(tempPath, bytes);
      await rename(tempPath, finalPath);
      await syncDirectory(this.dir);
      const previous = this.newestGood;
      this.newestGood = name;
      await this.prune(new Set([name, ...(previous === null ? [] : [previous])]));
      return finalPath;
    } finally {
      this.saving = false;
    }
  }

  private async prune(keep: ReadonlySet<string>): Promise<void> {
    for (const name of await listOrEmpty(this.dir)) {
      if (filePattern.test(name) && !keep.has(name))
        await rm(join(this.dir, name), { force: true });
    }
  }
}

async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Moves a damaged snapshot out of the way, keeping only the latest damaged file for inspection. */
async function setAside(dir: string, name: string): Promise<void> {
  for (const old of await listOrEmpty(dir)) {
    if (old.endsWith(damagedSuffix)) await rm(join(dir, old), { force: true });
  }
  await rename(join(dir, name), join(dir, name + damagedSuffix));
  await syncDirectory(dir);
}

async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export { syncDirectory };
