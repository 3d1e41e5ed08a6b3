import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  truncate,
} from 'node:fs/promises';
import { join } from 'node:path';
import { LIMITS } from '../../src/limits.js';
import { syncDirectory } from '../../src/storage/directory.js';
import { chunkCount } from '../../src/storage/snapshot-chunks.js';
import { SnapshotError } from './replica-errors.js';
import {
  decodeSnapshotFile,
  encodeSnapshotFile,
  type SnapshotRecord,
  snapshotFileParts,
  snapshotFilePrefix,
} from './snapshot-file.js';

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
      this.saves++;
      const fault = this.options.fault;
      if (fault !== undefined && this.saves === fault.nth) {
        const bytes = encodeSnapshotFile(record);
        await writeDurably(fault.torn === 'temp' ? tempPath : finalPath, [
          bytes.subarray(0, bytes.length >> 1),
        ]);
        fault.onHalt(record.seq);
        await new Promise<never>(() => {});
      }
      // The parts are written one after the other: the state is never copied into one buffer.
      await writeDurably(tempPath, snapshotFileParts(record));
      await rename(tempPath, finalPath);
      await syncDirectory(this.dir);
      await this.adopt(name);
      return finalPath;
    } finally {
      this.saving = false;
    }
  }

  /** Makes `name` (renamed into place and synced) the newest good snapshot and prunes. */
  private async adopt(name: string): Promise<void> {
    const previous = this.newestGood;
    this.newestGood = name;
    await this.prune(new Set([name, ...(previous === null ? [] : [previous])]));
  }

  /**
   * Starts, or resumes, downloading a snapshot of `totalBytes` in chunks of
   * `chunkBytes` into a partial file of this folder. A partial file of the
   * same snapshot left by an interrupted run is resumed from its whole
   * chunks; partial files of other snapshots are deleted.
   */
  async openDownload(
    meta: Omit<SnapshotRecord, 'data'>,
    totalBytes: number,
    chunkBytes: number,
  ): Promise<SnapshotDownload> {
    if (this.options.readOnly) throw new SnapshotError('this snapshot store was opened read-only');
    if (totalBytes > LIMITS.maxReplicaSnapshotBytes) {
      throw new SnapshotError(
        `shared snapshot of ${totalBytes} bytes exceeds the limit of ${LIMITS.maxReplicaSnapshotBytes} bytes`,
      );
    }
    const name = `download-${String(meta.seq).padStart(16, '0')}-${meta.digest}-${chunkBytes}.part`;
    for (const other of await listOrEmpty(this.dir)) {
      if (other.startsWith('download-') && other !== name)
        await rm(join(this.dir, other), { force: true });
    }
    const path = join(this.dir, name);
    const prefix = snapshotFilePrefix(meta, totalBytes);
    let nextIndex = 0;
    try {
      const size = (await stat(path)).size;
      const handle = await open(path, 'r');
      try {
        const head = Buffer.alloc(prefix.length);
        await handle.read(head, 0, head.length, 0);
        // Whole chunks only: the last one may be torn.
        if (head.equals(prefix) && size >= prefix.length)
          nextIndex = Math.min(
            Math.floor((size - prefix.length) / chunkBytes),
            chunkCount(totalBytes, chunkBytes) - 1,
          );
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (nextIndex === 0) await writeDurably(path, [prefix]);
    else await truncate(path, prefix.length + nextIndex * chunkBytes);
    return new SnapshotDownload(this, meta, path, prefix.length, totalBytes, chunkBytes, nextIndex);
  }

  /** @internal Moves a finished download into place as the newest snapshot. */
  async adoptDownload(partPath: string, seq: number): Promise<string> {
    const name = fileName(seq);
    const finalPath = join(this.dir, name);
    await rename(partPath, finalPath);
    await syncDirectory(this.dir);
    await this.adopt(name);
    return finalPath;
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

async function writeDurably(path: string, parts: readonly Uint8Array[]): Promise<void> {
  const handle = await open(path, 'w');
  try {
    for (const part of parts) await handle.writeFile(part);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A snapshot being downloaded chunk by chunk into a partial file in the
 * snapshot folder, laid out as a snapshot file (prefix, state bytes) so that
 * finishing it only appends the trailing checksum and renames it into place.
 * Chunks are written in order; `nextIndex` is the first one missing.
 */
export class SnapshotDownload {
  constructor(
    private readonly store: SnapshotStore,
    readonly meta: Omit<SnapshotRecord, 'data'>,
    readonly path: string,
    private readonly dataOffset: number,
    readonly totalBytes: number,
    readonly chunkBytes: number,
    public nextIndex: number,
  ) {
    this.resumedFrom = nextIndex;
  }

  /** The index the download resumed from (0 for a fresh one). */
  readonly resumedFrom: number;
  private handle: FileHandle | null = null;

  get chunkCount(): number {
    return chunkCount(this.totalBytes, this.chunkBytes);
  }

  /** Writes the next chunk (already checked against its SHA-256). */
  async write(index: number, data: Uint8Array): Promise<void> {
    if (index !== this.nextIndex)
      throw new SnapshotError(`chunk ${index} written out of order (next is ${this.nextIndex})`);
    this.handle ??= await open(this.path, 'r+');
    await this.handle.write(data, 0, data.length, this.dataOffset + index * this.chunkBytes);
    this.nextIndex++;
  }

  /** Closes the partial file (finish does it too); the download may be resumed later. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  /**
   * Checks the state bytes against the digest, appends the file checksum,
   * fsyncs and renames the file into place as the newest snapshot, and
   * resolves with its path and the snapshot (its state bytes read once, in
   * the same pass, for the plugin to restore). A mismatch deletes the
   * partial file and throws SnapshotError.
   */
  async finish(): Promise<{ readonly path: string; readonly record: SnapshotRecord }> {
    await this.close();
    const dataHash = createHash('sha256');
    const fileHash = createHash('sha256');
    const data = Buffer.allocUnsafe(this.totalBytes);
    const stream = createReadStream(this.path, { highWaterMark: 1024 * 1024 });
    let offset = 0;
    for await (const piece of stream as AsyncIterable<Buffer>) {
      fileHash.update(piece);
      const from = Math.max(0, this.dataOffset - offset);
      if (from < piece.length) {
        const part = piece.subarray(from);
        dataHash.update(part);
        const at = offset + from - this.dataOffset;
        if (at + part.length <= data.length) part.copy(data, at);
      }
      offset += piece.length;
    }
    const digest = dataHash.digest('hex');
    if (offset !== this.dataOffset + this.totalBytes || digest !== this.meta.digest) {
      await rm(this.path, { force: true });
      throw new SnapshotError(
        `downloaded snapshot at seq ${this.meta.seq} does not match its digest (${offset - this.dataOffset} bytes, SHA-256 ${digest}, expected ${this.totalBytes} bytes, ${this.meta.digest}); discarded`,
      );
    }
    const handle = await open(this.path, 'a');
    try {
      await handle.writeFile(fileHash.digest());
      await handle.sync();
    } finally {
      await handle.close();
    }
    const path = await this.store.adoptDownload(this.path, this.meta.seq);
    return { path, record: { ...this.meta, data } };
  }
}

export { syncDirectory };
