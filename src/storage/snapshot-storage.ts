import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  truncate,
} from 'node:fs/promises';
import { join } from 'node:path';
import { LIMITS } from '../limits.js';
import { syncDirectory } from './directory.js';
import { chunkChecksum, chunkCount, chunkLength, chunkProblem } from './snapshot-chunks.js';

/** A snapshot chunk as a replica uploads it (the fields of SnapshotChunkPut). */
export interface UploadChunk {
  readonly plugin: string;
  readonly replicaId: string;
  readonly seq: number;
  readonly digest: string;
  readonly totalBytes: number;
  readonly chunkBytes: number;
  readonly index: number;
  readonly data: Uint8Array;
  readonly sha256: Uint8Array;
  readonly probe: boolean;
}

/** The answer to an uploaded chunk (the fields of SnapshotUploadState). */
export interface UploadState {
  readonly nextIndex: number;
  readonly complete: boolean;
  readonly refused: string;
  readonly problem: string;
}

/** One chunk of a stored snapshot, or found false (the fields of SnapshotChunk). */
export interface StoredChunk {
  readonly found: boolean;
  readonly plugin: string;
  readonly seq?: number;
  readonly digest?: string;
  readonly totalBytes?: number;
  readonly chunkBytes?: number;
  readonly index?: number;
  readonly data?: Uint8Array;
  readonly sha256?: Uint8Array;
}

/** A complete snapshot on disk. */
export interface StoredSnapshot {
  readonly seq: number;
  readonly digest: string;
  readonly totalBytes: number;
  readonly path: string;
}

interface Upload {
  readonly plugin: string;
  readonly seq: number;
  readonly digest: string;
  readonly totalBytes: number;
  readonly chunkBytes: number;
  readonly path: string;
  nextIndex: number;
  lastChunkMs: number;
  /** Chunks of one upload are written one after the other. */
  queue: Promise<unknown>;
  /** The partial file, open while chunks come (at most LIMITS.maxSnapshotUploads). */
  handle: FileHandle | null;
}

/** A request the store refuses: bad arguments, not a storage failure. */
export class SnapshotRequestError extends Error {
  override readonly name = 'SnapshotRequestError';
  readonly retriable = false;
}

const storedPattern = /^(\d{16})-([0-9a-f]{64})\.snapshot$/;
const partPattern = /^(\d{16})-([0-9a-f]{64})-(\d+)-(\d+)\.part$/;
const safeName = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** The folder name of a plugin: the name itself when file-name safe, else `~` and its UTF-8 bytes in hex. */
export function pluginFolderName(plugin: string): string {
  return safeName.test(plugin) ? plugin : `~${Buffer.from(plugin, 'utf8').toString('hex')}`;
}

function pluginOfFolder(folder: string): string | null {
  if (safeName.test(folder)) return folder;
  if (folder.startsWith('~') && /^~([0-9a-f]{2})+$/.test(folder))
    return Buffer.from(folder.slice(1), 'hex').toString('utf8');
  return null;
}

const seqText = (seq: number) => String(seq).padStart(16, '0');

/**
 * The snapshots a broker node keeps on its disk for replicas that join after
 * the log prefix they need is gone: per plugin a folder under
 * `<data dir>/<node id>/snapshots/`, holding complete snapshots
 * (`<seq>-<digest>.snapshot`, the newest two) and partial uploads
 * (`<seq>-<digest>-<bytes>-<chunk bytes>.part`). A chunk is appended only
 * when it is the next one its upload lacks and its SHA-256 matches; once the
 * last is in, the file is fsynced, its SHA-256 checked against the digest,
 * and it is renamed into place and the folder fsynced. A partial file is
 * never served and never counts as stored, whatever a crash left of it; it
 * is resumed after a restart (from its whole chunks), and deleted when it
 * receives no chunk for LIMITS.snapshotUploadExpiryMs. Chunks stream between
 * the socket and the files: no snapshot is ever held whole in memory.
 */
export class SnapshotStorage {
  /** Plugin → its stored snapshots, newest first. */
  private readonly stored = new Map<string, StoredSnapshot[]>();
  private readonly uploads = new Map<string, Upload>();

  private constructor(readonly dir: string) {}

  static async open(dir: string, nowMs: number): Promise<SnapshotStorage> {
    await mkdir(dir, { recursive: true });
    const storage = new SnapshotStorage(dir);
    for (const folder of (await readdir(dir)).sort()) {
      const plugin = pluginOfFolder(folder);
      if (plugin === null) continue;
      const pluginDir = join(dir, folder);
      if (!(await stat(pluginDir)).isDirectory()) continue;
      const snapshots: StoredSnapshot[] = [];
      for (const name of await readdir(pluginDir)) {
        const path = join(pluginDir, name);
        const done = storedPattern.exec(name);
        if (done !== null) {
          const size = (await stat(path)).size;
          snapshots.push({ seq: Number(done[1]), digest: done[2]!, totalBytes: size, path });
          continue;
        }
        const part = partPattern.exec(name);
        if (part !== null) {
          const chunkBytes = Number(part[4]);
          const totalBytes = Number(part[3]);
          const info = await stat(path);
          if (
            chunkBytes < 1 ||
            chunkBytes > LIMITS.snapshotChunkBytes ||
            totalBytes > LIMITS.maxReplicaSnapshotBytes ||
            storage.uploads.size >= LIMITS.maxSnapshotUploads
          ) {
            await rm(path, { force: true });
            continue;
          }
          // A crash may have torn the last chunk: keep whole chunks only.
          const whole = Math.min(
            Math.floor(info.size / chunkBytes),
            chunkCount(totalBytes, chunkBytes) - 1,
          );
          if (whole * chunkBytes !== info.size) await truncate(path, whole * chunkBytes);
          const upload: Upload = {
            plugin,
            seq: Number(part[1]),
            digest: part[2]!,
            totalBytes,
            chunkBytes,
            path,
            nextIndex: whole,
            lastChunkMs: Math.min(nowMs, info.mtimeMs),
            queue: Promise.resolve(),
            handle: null,
          };
          storage.uploads.set(uploadKey(upload), upload);
          continue;
        }
        // A leftover of an interrupted rename or a foreign file: never counts as stored.
        if (name.endsWith('.tmp')) await rm(path, { force: true });
      }
      snapshots.sort((a, b) => b.seq - a.seq);
      storage.stored.set(plugin, snapshots);
    }
    return storage;
  }

  /** Plugins this node keeps snapshots for (and holds its log for, see retentionFloorSeq). */
  plugins(): string[] {
    return [...this.stored.keys()];
  }

  /** Seq of the newest stored snapshot of `plugin`, 0 when none. */
  newestSeq(plugin: string): number {
    return this.stored.get(plugin)?.[0]?.seq ?? 0;
  }

  /**
   * The highest seq log retention may drop up to: a late joiner of a known
   * plugin needs every entry after that plugin's newest stored snapshot (all
   * of them while none is stored). Infinity when no plugin is known.
   */
  retentionFloorSeq(): number {
    let floor = Number.POSITIVE_INFINITY;
    for (const plugin of this.stored.keys()) floor = Math.min(floor, this.newestSeq(plugin));
    return floor;
  }

  /**
   * Records that replicas of `plugin` exist (a report came): from now on
   * retention keeps what their late joiners need. The folder makes it
   * durable. False when the plugin limit is reached.
   */
  async notePlugin(plugin: string): Promise<boolean> {
    if (this.stored.has(plugin)) return true;
    if (this.stored.size >= LIMITS.maxSnapshotPlugins) return false;
    this.stored.set(plugin, []);
    await mkdir(join(this.dir, pluginFolderName(plugin)), { recursive: true });
    await syncDirectory(this.dir);
    return true;
  }

  /** Takes one uploaded chunk (or a probe), writing it to the upload's partial file. */
  async putChunk(chunk: UploadChunk, nowMs: number): Promise<UploadState> {
    const newest = this.stored.get(chunk.plugin)?.[0];
    if (newest !== undefined && newest.seq >= chunk.seq) {
      const same = newest.seq === chunk.seq && newest.digest === chunk.digest;
      return same
        ? state(chunkCount(chunk.totalBytes, chunk.chunkBytes), true)
        : state(0, false, `a snapshot at seq ${newest.seq} is stored already`);
    }
    const key = uploadKey(chunk);
    let upload = this.uploads.get(key);
    if (upload === undefined) {
      this.expireUploads(nowMs);
      if (this.uploads.size >= LIMITS.maxSnapshotUploads)
        return state(0, false, `${this.uploads.size} snapshot uploads are in progress already`);
      if (!this.stored.has(chunk.plugin) && this.stored.size >= LIMITS.maxSnapshotPlugins)
        return state(
          0,
          false,
          `snapshots of ${LIMITS.maxSnapshotPlugins} plugins are kept already`,
        );
      const name = `${seqText(chunk.seq)}-${chunk.digest}-${chunk.totalBytes}-${chunk.chunkBytes}.part`;
      const created: Upload = {
        plugin: chunk.plugin,
        seq: chunk.seq,
        digest: chunk.digest,
        totalBytes: chunk.totalBytes,
        chunkBytes: chunk.chunkBytes,
        path: join(this.dir, pluginFolderName(chunk.plugin), name),
        nextIndex: 0,
        lastChunkMs: nowMs,
        queue: Promise.resolve(),
        handle: null,
      };
      // Registered at once, so that the chunks right behind this one queue behind its file.
      this.uploads.set(key, created);
      created.queue = (async () => {
        await this.notePlugin(chunk.plugin);
        await (await open(created.path, 'w')).close();
      })();
      upload = created;
    }
    const u = upload;
    const result = u.queue.then(
      () => this.writeChunk(u, chunk, nowMs),
      (error: Error) => {
        // The partial file could not be created: forget the upload, so that a retry starts afresh.
        if (this.uploads.get(key) === u) this.uploads.delete(key);
        throw error;
      },
    );
    u.queue = result.catch(() => {});
    return result;
  }

  private async writeChunk(u: Upload, chunk: UploadChunk, nowMs: number): Promise<UploadState> {
    if (this.uploads.get(uploadKey(u)) !== u) {
      // Completed, superseded or expired while this chunk waited.
      const newest = this.newestSeq(u.plugin);
      if (newest === u.seq) return state(chunkCount(u.totalBytes, u.chunkBytes), true);
      return newest > u.seq
        ? state(0, false, `a newer snapshot (seq ${newest}) is stored already`)
        : state(
            0,
            false,
            'the upload ended without storing the snapshot (expired, or its bytes did not match its digest); start again',
          );
    }
    u.lastChunkMs = nowMs;
    if (chunk.probe) return state(u.nextIndex, false);
    if (chunk.index !== u.nextIndex)
      return state(
        u.nextIndex,
        false,
        '',
        `chunk ${chunk.index} is not the next one (${u.nextIndex})`,
      );
    const problem = chunkProblem(u.totalBytes, u.chunkBytes, chunk.index, chunk.data, chunk.sha256);
    if (problem !== null) return state(u.nextIndex, false, '', problem);
    u.handle ??= await open(u.path, 'r+');
    await u.handle.write(chunk.data, 0, chunk.data.length, chunk.index * u.chunkBytes);
    u.nextIndex++;
    if (u.nextIndex < chunkCount(u.totalBytes, u.chunkBytes)) return state(u.nextIndex, false);
    return this.complete(u);
  }

  /** Checks the whole snapshot against its digest and moves it into place. */
  private async complete(u: Upload): Promise<UploadState> {
    // The upload stays registered until it is stored or refused: a chunk of
    // the same snapshot from another replica (the same partial file's name)
    // then queues behind this check instead of starting a new upload, whose
    // new partial file would replace this one's bytes while they are checked
    // and renamed into place.
    try {
      return await this.checkAndStore(u);
    } finally {
      if (this.uploads.get(uploadKey(u)) === u) this.uploads.delete(uploadKey(u));
    }
  }

  private async checkAndStore(u: Upload): Promise<UploadState> {
    await closeUpload(u, true);
    const actual = await sha256OfFile(u.path);
    if (actual !== u.digest) {
      await rm(u.path, { force: true });
      return state(
        0,
        false,
        `the uploaded snapshot's SHA-256 is ${actual}, not its digest ${u.digest}`,
      );
    }
    const newest = this.stored.get(u.plugin)?.[0];
    if (newest !== undefined && newest.seq >= u.seq) {
      // Another upload of a newer snapshot completed meanwhile.
      await rm(u.path, { force: true });
      return state(chunkCount(u.totalBytes, u.chunkBytes), newest.seq === u.seq);
    }
    const pluginDir = join(this.dir, pluginFolderName(u.plugin));
    const path = join(pluginDir, `${seqText(u.seq)}-${u.digest}.snapshot`);
    await rename(u.path, path);
    await syncDirectory(pluginDir);
    // Newest first, by seq: a newer snapshot may have been stored while
    // this one was checked and renamed, and it stays the newest.
    const list = [
      { seq: u.seq, digest: u.digest, totalBytes: u.totalBytes, path },
      ...(this.stored.get(u.plugin) ?? []),
    ].sort((a, b) => b.seq - a.seq);
    this.stored.set(u.plugin, list.slice(0, LIMITS.storedSnapshotsPerPlugin));
    for (const old of list.slice(LIMITS.storedSnapshotsPerPlugin))
      await rm(old.path, { force: true });
    // Partial uploads of older snapshots of this plugin can never be stored now.
    for (const [key, other] of this.uploads) {
      if (other !== u && other.plugin === u.plugin && other.seq <= u.seq) {
        this.uploads.delete(key);
        await closeUpload(other, false);
        await rm(other.path, { force: true });
      }
    }
    return state(chunkCount(u.totalBytes, u.chunkBytes), true);
  }

  /** Deletes partial uploads that received no chunk for LIMITS.snapshotUploadExpiryMs. */
  expireUploads(nowMs: number): void {
    for (const [key, u] of this.uploads) {
      // One whose last chunk came is being checked and moved into place (complete).
      if (
        u.nextIndex >= chunkCount(u.totalBytes, u.chunkBytes) ||
        nowMs - u.lastChunkMs < LIMITS.snapshotUploadExpiryMs
      )
        continue;
      this.uploads.delete(key);
      void closeUpload(u, false)
        .then(() => rm(u.path, { force: true }))
        .catch(() => {});
    }
  }

  /** Closes the partial files of uploads in progress (they stay on disk and resume when reopened). */
  async close(): Promise<void> {
    for (const u of this.uploads.values()) await closeUpload(u, false);
  }

  /** Partial uploads now, for status and tests. */
  uploadsInProgress(): { plugin: string; seq: number; nextIndex: number }[] {
    return [...this.uploads.values()].map((u) => ({
      plugin: u.plugin,
      seq: u.seq,
      nextIndex: u.nextIndex,
    }));
  }

  /**
   * Chunk `index` (of LIMITS.snapshotChunkBytes) of the stored snapshot of
   * `plugin` at `seq` (0: the newest), or only its description.
   */
  async getChunk(
    plugin: string,
    seq: number,
    index: number,
    describe: boolean,
  ): Promise<StoredChunk> {
    const list = this.stored.get(plugin) ?? [];
    const s = seq === 0 ? list[0] : list.find((x) => x.seq === seq);
    if (s === undefined) return { found: false, plugin };
    const chunkBytes = LIMITS.snapshotChunkBytes;
    const head = {
      found: true,
      plugin,
      seq: s.seq,
      digest: s.digest,
      totalBytes: s.totalBytes,
      chunkBytes,
      index,
    };
    if (describe) return head;
    const count = chunkCount(s.totalBytes, chunkBytes);
    if (index >= count)
      throw new SnapshotRequestError(
        `snapshot of ${plugin} at seq ${s.seq} has ${count} chunks; there is no chunk ${index}`,
      );
    const data = Buffer.allocUnsafe(chunkLength(s.totalBytes, chunkBytes, index));
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(s.path, 'r');
    } catch (error) {
      // Pruned by a newer snapshot meanwhile.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { found: false, plugin };
      throw error;
    }
    try {
      const { bytesRead } = await handle.read(data, 0, data.length, index * chunkBytes);
      if (bytesRead !== data.length) throw new Error(`${s.path} is shorter than its snapshot`);
    } finally {
      await handle.close();
    }
    return { ...head, data, sha256: chunkChecksum(data) };
  }
}

function uploadKey(u: {
  plugin: string;
  seq: number;
  digest: string;
  totalBytes: number;
  chunkBytes: number;
}): string {
  return `${pluginFolderName(u.plugin)}/${u.seq}-${u.digest}-${u.totalBytes}-${u.chunkBytes}`;
}

/** Closes an upload's partial file, fsyncing it first when it is to be kept. */
async function closeUpload(u: Upload, sync: boolean): Promise<void> {
  const handle = u.handle;
  u.handle = null;
  if (handle === null) return;
  try {
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
}

function state(nextIndex: number, complete: boolean, refused = '', problem = ''): UploadState {
  return { nextIndex, complete, refused, problem };
}

/** SHA-256 (hex) of a file, read as a stream. */
export async function sha256OfFile(path: string, start = 0, end?: number): Promise<string> {
  const hash = createHash('sha256');
  if (end !== undefined && end <= start) return hash.digest('hex');
  const stream = createReadStream(path, {
    start,
    ...(end === undefined ? {} : { end: end - 1 }),
    highWaterMark: 1024 * 1024,
  });
  for await (const piece of stream) hash.update(piece as Buffer);
  return hash.digest('hex');
}
