import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';

/**
 * The file operations the durable storage uses, and nothing more. Production
 * passes `nodeFileSystem` (node:fs/promises); the deterministic simulator
 * passes a simulated disk that loses unsynced writes on a crash, tears them,
 * fails fsync and flips bits, so the very storage code that ships runs under
 * those faults.
 *
 * Errors follow node:fs: an Error with a `code` ('ENOENT' for a missing file,
 * 'EEXIST' when 'wx' finds one, 'EIO' for a failed device operation).
 */
export interface FileSystem {
  /**
   * Opens a file: 'r' to read, 'r+' to read and write an existing file,
   * 'wx' to create a new one (EEXIST if it exists), 'w' to create or empty one.
   */
  open(path: string, mode: OpenMode): Promise<FsFile>;
  /** The whole file; meant for small files (indexes, metadata). */
  readFile(path: string): Promise<Buffer>;
  /** Creates or replaces the file's bytes, without any fsync. */
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  /** Renames a file, replacing `to` if it exists; durable only after syncDirectory. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file (ENOENT when there is none); durable only after syncDirectory. */
  unlink(path: string): Promise<void>;
  /** The names in a directory, in no particular order. */
  readdir(dir: string): Promise<string[]>;
  /** Creates a directory and any missing parents; a directory that exists is fine. */
  mkdirp(dir: string): Promise<void>;
  /** The file's size in bytes. */
  size(path: string): Promise<number>;
  /** Makes the directory's entries (files created, renamed, removed) durable. */
  syncDirectory(dir: string): Promise<void>;
  /**
   * Reads up to `length` bytes at `position`, synchronously: for the few
   * callers that must answer without awaiting (SegmentedLogStore.chainHash).
   */
  readRangeSync(path: string, position: number, length: number): Buffer;
  /** The whole file, synchronously; meant for small files. */
  readFileSync(path: string): Buffer;
}

export type OpenMode = 'r' | 'r+' | 'wx' | 'w';

/** An open file. Positions are byte offsets from the file's start. */
export interface FsFile {
  /** Reads up to `length` bytes at `position` into `buf[offset..]`; fewer only at the end of the file. */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes `length` bytes of `buf[offset..]` at `position`; may write fewer (writeFully loops). */
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  truncate(length: number): Promise<void>;
  /** fsync: the file's data and metadata reach stable storage. */
  sync(): Promise<void>;
  /** fdatasync: the file's data (and its size) reach stable storage. */
  datasync(): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

class NodeFile implements FsFile {
  constructor(private readonly handle: FileHandle) {}

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.handle.read(buf, offset, length, position)).bytesRead;
  }

  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.handle.write(buf, offset, length, position)).bytesWritten;
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** The production file system: node:fs/promises on the local disk. */
export const nodeFileSystem: FileSystem = {
  async open(path, mode) {
    return new NodeFile(await open(path, mode));
  },
  readFile: (path) => readFile(path),
  writeFile: (path, bytes) => writeFile(path, bytes),
  rename: (from, to) => rename(from, to),
  unlink: (path) => unlink(path),
  readdir: (dir) => readdir(dir),
  async mkdirp(dir) {
    await mkdir(dir, { recursive: true });
  },
  async size(path) {
    return (await stat(path)).size;
  },
  async syncDirectory(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  readRangeSync(path, position, length) {
    const buf = Buffer.alloc(length);
    const fd = openSync(path, 'r');
    try {
      let done = 0;
      while (done < length) {
        const got = readSync(fd, buf, done, length - done, position + done);
        if (got === 0) break;
        done += got;
      }
      return done === length ? buf : buf.subarray(0, done);
    } finally {
      closeSync(fd);
    }
  },
  readFileSync: (path) => readFileSync(path),
};
