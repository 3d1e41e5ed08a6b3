import { posix } from 'node:path';
import type { FileSystem, FsFile, OpenMode } from '../../src/storage/file-system.js';
import type { Prng } from './prng.js';

/**
 * An in-memory file system that fails the way disks do, deterministically
 * from a seeded Prng, for running the real storage code in the simulator.
 *
 * Semantics (those of POSIX as ext4 honours them, taken strictly):
 * - Each file has durable bytes and a list of unsynced operations (writes,
 *   truncations). Reads see both. fsync/fdatasync makes the file's
 *   operations durable, data and size alike.
 * - Directory entries (a file created, renamed or removed) are durable only
 *   after the directory itself is fsynced; until then a crash keeps a
 *   random prefix of each directory's unsynced entry changes (a journal
 *   commits them in order). An fsynced file whose entry was never made
 *   durable is gone after a crash. Directories themselves (mkdirp) are
 *   durable at once: nodes create them once, at set-up.
 * - `crash()` drops everything not synced: each unsynced write is kept
 *   whole, lost whole or torn (a prefix of it kept, sometimes with the
 *   file's size already extended over zeros), each unsynced truncation is
 *   kept or lost, all by seeded choices. Every operation still pending from
 *   before the crash never completes nor has any effect, and handles opened
 *   before it are dead (their operations never settle); the same object
 *   then serves the restarted node with what survived.
 * - Faults: an fsync fails with EIO with `fsyncErrorChance` (or when forced
 *   by `failNextFsync`), and then leaves the file's unsynced operations
 *   unsynced; `flipRandomBit` flips one durably stored bit.
 *
 * Files are Buffers grown by doubling; no operation loops over bytes.
 */
export class SimFileSystem implements FileSystem {
  readonly counters: SimFileSystemCounters = {
    tornWrites: 0,
    lostUnsyncedWrites: 0,
    keptUnsyncedWrites: 0,
    lostDirectoryChanges: 0,
    fsyncErrors: 0,
    bitFlips: 0,
    crashes: 0,
  };
  private readonly prng: Prng;
  private readonly delay: (kind: DiskOpKind, path: string) => Promise<void>;
  /** Chance that an fsync fails with EIO; the simulator sets 0 when it heals every fault. */
  fsyncErrorChance: number;
  private readonly crashKeepChance: number;
  private readonly crashTearChance: number;
  private readonly dirs = new Map<string, SimDirectory>();
  private generation = 0;
  private forcedFsyncFailures = 0;

  constructor(options: SimFileSystemOptions) {
    this.prng = options.prng;
    this.delay = options.delay ?? (() => Promise.resolve());
    this.fsyncErrorChance = options.fsyncErrorChance ?? 0;
    this.crashKeepChance = options.crashKeepChance ?? 0.4;
    this.crashTearChance = options.crashTearChance ?? 0.3;
    for (const [name, value] of [
      ['fsyncErrorChance', this.fsyncErrorChance],
      ['crashKeepChance', this.crashKeepChance],
      ['crashTearChance', this.crashTearChance],
    ] as const) {
      if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be in [0, 1]`);
    }
    if (this.crashKeepChance + this.crashTearChance > 1) {
      throw new RangeError('crashKeepChance + crashTearChance must be at most 1');
    }
    this.dirs.set('/', new SimDirectory());
  }

  // ------------------------------------------------------------ FileSystem

  open(path: string, mode: OpenMode): Promise<FsFile> {
    return this.run(path, () => {
      const dir = this.parentOf(path);
      const name = basename(path);
      let inode = dir.visible.get(name);
      if (mode === 'r' || mode === 'r+') {
        if (inode === undefined) throw fsError('ENOENT', 'open', path);
      } else if (inode !== undefined) {
        if (mode === 'wx') throw fsError('EEXIST', 'open', path);
        inode.apply({ kind: 'truncate', length: 0 });
      } else {
        inode = new SimInode();
        dir.change({ kind: 'link', name, inode });
      }
      return new SimFile(this, inode, path, mode !== 'r', this.generation);
    });
  }

  readFile(path: string): Promise<Buffer> {
    return this.run(path, () => Buffer.from(this.inodeAt(path, 'open').current.view()));
  }

  writeFile(path: string, bytes: Uint8Array): Promise<void> {
    return this.run(path, () => {
      const dir = this.parentOf(path);
      const name = basename(path);
      let inode = dir.visible.get(name);
      if (inode === undefined) {
        inode = new SimInode();
        dir.change({ kind: 'link', name, inode });
      } else {
        inode.apply({ kind: 'truncate', length: 0 });
      }
      inode.apply({ kind: 'write', position: 0, bytes: Buffer.from(bytes) });
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.run(from, () => {
      const dir = this.parentOf(from);
      if (this.parentOf(to) !== dir) throw fsError('EXDEV', 'rename', from);
      const inode = dir.visible.get(basename(from));
      if (inode === undefined) throw fsError('ENOENT', 'rename', from);
      dir.change({ kind: 'rename', from: basename(from), to: basename(to), inode });
    });
  }

  unlink(path: string): Promise<void> {
    return this.run(path, () => {
      const dir = this.parentOf(path);
      const name = basename(path);
      if (!dir.visible.has(name)) throw fsError('ENOENT', 'unlink', path);
      dir.change({ kind: 'unlink', name });
    });
  }

  /** The file names in `path` as the running node sees them, at once (for fault injection). */
  listFiles(path: string): string[] {
    const dir = this.dirs.get(normalise(path));
    return dir === undefined ? [] : [...dir.visible.keys()];
  }

  readdir(path: string): Promise<string[]> {
    return this.run(path, () => {
      const dir = this.dirs.get(normalise(path));
      if (dir === undefined) throw fsError('ENOENT', 'scandir', path);
      const names = [...dir.visible.keys()];
      for (const other of this.dirs.keys()) {
        if (other !== '/' && dirname(other) === normalise(path)) names.push(basename(other));
      }
      return names;
    });
  }

  mkdirp(path: string): Promise<void> {
    return this.run(path, () => {
      let at = normalise(path);
      const missing: string[] = [];
      while (!this.dirs.has(at)) {
        missing.push(at);
        at = dirname(at);
      }
      for (const dir of missing) this.dirs.set(dir, new SimDirectory());
    });
  }

  size(path: string): Promise<number> {
    return this.run(path, () => this.inodeAt(path, 'stat').current.length);
  }

  syncDirectory(path: string): Promise<void> {
    return this.run(
      path,
      () => {
        const dir = this.dirs.get(normalise(path));
        if (dir === undefined) throw fsError('ENOENT', 'open', path);
        this.maybeFailFsync(path);
        dir.sync();
      },
      this.generation,
      'sync',
    );
  }

  readRangeSync(path: string, position: number, length: number): Buffer {
    const bytes = this.inodeAt(path, 'open').current.view();
    return Buffer.from(bytes.subarray(position, position + length));
  }

  readFileSync(path: string): Buffer {
    return Buffer.from(this.inodeAt(path, 'open').current.view());
  }

  // ------------------------------------------------------------ faults

  /**
   * The machine loses power: everything not synced is kept, lost or torn
   * (seeded, or as `choices` say, for tests that need one exact outcome),
   * operations in flight never complete, open handles die.
   */
  crash(choices: CrashChoices = {}): void {
    this.generation++;
    this.counters.crashes++;
    const survivors = new Map<SimInode, string>();
    for (const [dirPath, dir] of this.dirs) {
      this.counters.lostDirectoryChanges += dir.crash((pending) =>
        choices.directoryChangesKept === undefined
          ? this.prng.int(0, pending)
          : choices.directoryChangesKept(dirPath, pending),
      );
      for (const [name, inode] of dir.visible) survivors.set(inode, posix.join(dirPath, name));
    }
    for (const [inode, path] of survivors) this.crashFile(inode, path, choices);
  }

  /** Makes the next `count` fsyncs (of files or directories) fail with EIO. */
  failNextFsync(count = 1): void {
    this.forcedFsyncFailures += count;
  }

  /**
   * Flips one bit of a durably stored byte, chosen uniformly over the bytes
   * of the durably linked files that `pathFilter` accepts (by default the
   * log segments, `*.log`), within `range(path, durableBytes)` when given
   * (return null to skip a file). Returns what it flipped, or null when no
   * byte qualifies. The simulator calls it between operations.
   */
  flipRandomBit(
    prng: Prng,
    pathFilter: (path: string) => boolean = (path) => path.endsWith('.log'),
    range?: (path: string, durableBytes: number) => { from: number; to: number } | null,
  ): BitFlip | null {
    const candidates: { path: string; inode: SimInode; from: number; to: number }[] = [];
    let total = 0;
    for (const [dirPath, dir] of this.dirs) {
      for (const [name, inode] of dir.durable) {
        const path = dirPath === '/' ? `/${name}` : `${dirPath}/${name}`;
        if (!pathFilter(path)) continue;
        const bytes = inode.durable.length;
        const span = range === undefined ? { from: 0, to: bytes } : range(path, bytes);
        if (span === null) continue;
        const from = Math.max(0, span.from);
        const to = Math.min(bytes, span.to);
        if (to <= from) continue;
        candidates.push({ path, inode, from, to });
        total += to - from;
      }
    }
    if (total === 0) return null;
    let pick = prng.int(0, total - 1);
    for (const candidate of candidates) {
      const span = candidate.to - candidate.from;
      if (pick < span) {
        const position = candidate.from + pick;
        const bit = prng.int(0, 7);
        this.flip(candidate.inode, position, bit);
        return { path: candidate.path, position, bit };
      }
      pick -= span;
    }
    return null;
  }

  /** Flips bit `bit` of the durable byte at `position` of `path` (and of what reads see, unless overwritten since). */
  flipBit(path: string, position: number, bit: number): void {
    const inode = this.inodeAt(path, 'open');
    if (position < 0 || position >= inode.durable.length) {
      throw new RangeError(`${path} holds no durable byte at ${position}`);
    }
    this.flip(inode, position, bit);
  }

  /** The file's bytes as a crash right now would keep them at the least: its durable bytes. */
  durableBytes(path: string): Buffer {
    return Buffer.from(this.inodeAt(path, 'open').durable.view());
  }

  // ------------------------------------------------------------ internals

  /** Runs an operation after the latency hook, unless a crash happened meanwhile. */
  run<T>(
    path: string,
    body: () => T,
    handleGeneration = this.generation,
    kind: DiskOpKind = 'fast',
  ): Promise<T> {
    const generation = this.generation;
    if (handleGeneration !== generation) return never();
    return this.delay(kind, path).then(() => (this.generation === generation ? body() : never()));
  }

  maybeFailFsync(path: string): void {
    if (this.forcedFsyncFailures > 0 || this.prng.chance(this.fsyncErrorChance)) {
      if (this.forcedFsyncFailures > 0) this.forcedFsyncFailures--;
      this.counters.fsyncErrors++;
      throw fsError('EIO', 'fsync', path);
    }
  }

  private flip(inode: SimInode, position: number, bit: number): void {
    const mask = 1 << bit;
    const before = inode.durable.byteAt(position);
    inode.durable.xorByte(position, mask);
    if (position < inode.current.length && inode.current.byteAt(position) === before) {
      inode.current.xorByte(position, mask);
    }
    this.counters.bitFlips++;
  }

  private crashFile(inode: SimInode, path: string, choices: CrashChoices): void {
    const survived = inode.durable.clone();
    for (const op of inode.pending) {
      const outcome = this.crashOutcome(op, path, choices);
      if (outcome === 'keep') {
        applyTo(survived, op);
        this.counters.keptUnsyncedWrites++;
      } else if (outcome === 'lose' || op.kind !== 'write') {
        this.counters.lostUnsyncedWrites++;
      } else {
        survived.write(op.position, op.bytes.subarray(0, outcome.keptBytes));
        // The size may have reached the disk before the data: zeros where the rest was.
        if (outcome.sizeExtended) survived.extendTo(op.position + op.bytes.length);
        this.counters.tornWrites++;
      }
    }
    inode.durable = survived;
    inode.current = survived.clone();
    inode.pending = [];
  }

  private crashOutcome(op: DataOp, path: string, choices: CrashChoices): CrashOutcome {
    if (op.kind === 'write' && choices.write !== undefined) {
      return choices.write(path, op.position, op.bytes.length);
    }
    const roll = this.prng.next();
    if (roll < this.crashKeepChance) return 'keep';
    if (op.kind === 'write' && roll < this.crashKeepChance + this.crashTearChance) {
      return {
        keptBytes: this.prng.int(0, Math.max(0, op.bytes.length - 1)),
        sizeExtended: this.prng.chance(0.5),
      };
    }
    return 'lose';
  }

  private parentOf(path: string): SimDirectory {
    const dir = this.dirs.get(dirname(path));
    if (dir === undefined) throw fsError('ENOENT', 'open', path);
    return dir;
  }

  private inodeAt(path: string, syscall: string): SimInode {
    const inode = this.parentOf(path).visible.get(basename(path));
    if (inode === undefined) throw fsError('ENOENT', syscall, path);
    return inode;
  }
}

/** What a disk operation is, for its latency: an fsync waits for the device, the rest is the page cache. */
export type DiskOpKind = 'sync' | 'fast';

export interface SimFileSystemOptions {
  /** Draws every crash outcome and fsync failure. */
  readonly prng: Prng;
  /** Awaited at the start of every operation (virtual-time latency); default resolves at once. */
  readonly delay?: (kind: DiskOpKind, path: string) => Promise<void>;
  /** Chance that an fsync (of a file or a directory) fails with EIO. Default 0. */
  readonly fsyncErrorChance?: number;
  /** On a crash, chance that an unsynced write (or truncation) survives whole. Default 0.4. */
  readonly crashKeepChance?: number;
  /** On a crash, chance that an unsynced write is torn (a prefix kept); the rest are lost. Default 0.3. */
  readonly crashTearChance?: number;
}

export interface SimFileSystemCounters {
  tornWrites: number;
  lostUnsyncedWrites: number;
  keptUnsyncedWrites: number;
  /** Unsynced directory changes (create, rename, unlink) a crash undid. */
  lostDirectoryChanges: number;
  fsyncErrors: number;
  bitFlips: number;
  crashes: number;
}

/** What a crash does to one unsynced write: kept whole, lost whole, or torn after `keptBytes`. */
export type CrashOutcome = 'keep' | 'lose' | { keptBytes: number; sizeExtended: boolean };

/** Exact crash outcomes, for tests; anything left out is drawn from the Prng. */
export interface CrashChoices {
  /** The outcome of each unsynced write, by file, position and length. */
  write?(path: string, position: number, length: number): CrashOutcome;
  /** How many of a directory's `pending` unsynced entry changes survive (a prefix, in order). */
  directoryChangesKept?(dir: string, pending: number): number;
}

export interface BitFlip {
  readonly path: string;
  readonly position: number;
  readonly bit: number;
}

type DataOp =
  | { readonly kind: 'write'; readonly position: number; readonly bytes: Buffer }
  | { readonly kind: 'truncate'; readonly length: number };

type DirectoryChange =
  | { readonly kind: 'link'; readonly name: string; readonly inode: SimInode }
  | { readonly kind: 'unlink'; readonly name: string }
  | {
      readonly kind: 'rename';
      readonly from: string;
      readonly to: string;
      readonly inode: SimInode;
    };

class SimFile implements FsFile {
  private closed = false;

  constructor(
    private readonly fs: SimFileSystem,
    private readonly inode: SimInode,
    private readonly path: string,
    private readonly writable: boolean,
    private readonly generation: number,
  ) {}

  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.fs.run(
      this.path,
      () => {
        this.requireOpen('read');
        const bytes = this.inode.current.view();
        const end = Math.min(bytes.length, position + length);
        if (end <= position) return 0;
        buf.set(bytes.subarray(position, end), offset);
        return end - position;
      },
      this.generation,
    );
  }

  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.fs.run(
      this.path,
      () => {
        this.requireOpen('write');
        this.requireWritable('write');
        const bytes = Buffer.from(buf.subarray(offset, offset + length));
        this.inode.apply({ kind: 'write', position, bytes });
        return length;
      },
      this.generation,
    );
  }

  truncate(length: number): Promise<void> {
    return this.fs.run(
      this.path,
      () => {
        this.requireOpen('ftruncate');
        this.requireWritable('ftruncate');
        this.inode.apply({ kind: 'truncate', length });
      },
      this.generation,
    );
  }

  sync(): Promise<void> {
    return this.datasync();
  }

  datasync(): Promise<void> {
    return this.fs.run(
      this.path,
      () => {
        this.requireOpen('fsync');
        this.fs.maybeFailFsync(this.path);
        this.inode.sync();
      },
      this.generation,
      'sync',
    );
  }

  size(): Promise<number> {
    return this.fs.run(
      this.path,
      () => {
        this.requireOpen('fstat');
        return this.inode.current.length;
      },
      this.generation,
    );
  }

  close(): Promise<void> {
    return this.fs.run(
      this.path,
      () => {
        this.requireOpen('close');
        this.closed = true;
      },
      this.generation,
    );
  }

  private requireOpen(syscall: string): void {
    if (this.closed) throw fsError('EBADF', syscall, this.path);
  }

  private requireWritable(syscall: string): void {
    if (!this.writable) throw fsError('EBADF', syscall, this.path);
  }
}

class SimInode {
  durable = new GrowableBytes();
  current = new GrowableBytes();
  pending: DataOp[] = [];

  apply(op: DataOp): void {
    applyTo(this.current, op);
    this.pending.push(op);
  }

  sync(): void {
    for (const op of this.pending) applyTo(this.durable, op);
    this.pending = [];
  }
}

class SimDirectory {
  /** Entries as operations see them. */
  visible = new Map<string, SimInode>();
  /** Entries a crash keeps for sure. */
  durable = new Map<string, SimInode>();
  private pending: DirectoryChange[] = [];

  change(change: DirectoryChange): void {
    applyChange(this.visible, change);
    this.pending.push(change);
  }

  sync(): void {
    this.durable = new Map(this.visible);
    this.pending = [];
  }

  /** Keeps a prefix of the unsynced changes, as long as `keep` says; returns how many were undone. */
  crash(keep: (pending: number) => number): number {
    const kept = this.pending.length === 0 ? 0 : keep(this.pending.length);
    for (const change of this.pending.slice(0, kept)) applyChange(this.durable, change);
    const lost = this.pending.length - kept;
    this.pending = [];
    this.visible = new Map(this.durable);
    return lost;
  }
}

function applyChange(entries: Map<string, SimInode>, change: DirectoryChange): void {
  switch (change.kind) {
    case 'link':
      entries.set(change.name, change.inode);
      break;
    case 'unlink':
      entries.delete(change.name);
      break;
    case 'rename':
      entries.delete(change.from);
      entries.set(change.to, change.inode);
      break;
  }
}

function applyTo(bytes: GrowableBytes, op: DataOp): void {
  if (op.kind === 'write') bytes.write(op.position, op.bytes);
  else bytes.truncate(op.length);
}

/** A byte array that grows by doubling; bytes past `length` are always zero. */
class GrowableBytes {
  private buf = Buffer.alloc(0);
  length = 0;

  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  byteAt(position: number): number {
    return this.buf[position]!;
  }

  xorByte(position: number, mask: number): void {
    this.buf[position]! ^= mask;
  }

  write(position: number, data: Uint8Array): void {
    const end = position + data.length;
    this.reserve(end);
    this.buf.set(data, position);
    if (end > this.length) this.length = end;
  }

  extendTo(length: number): void {
    this.reserve(length);
    if (length > this.length) this.length = length;
  }

  truncate(length: number): void {
    if (length < this.length) this.buf.fill(0, length, this.length);
    else this.reserve(length);
    this.length = length;
  }

  clone(): GrowableBytes {
    const copy = new GrowableBytes();
    copy.buf = Buffer.alloc(Math.max(this.length, 64));
    this.buf.copy(copy.buf, 0, 0, this.length);
    copy.length = this.length;
    return copy;
  }

  private reserve(length: number): void {
    if (length <= this.buf.length) return;
    const grown = Buffer.alloc(Math.max(length, this.buf.length * 2, 64));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }
}

/** Paths are POSIX and absolute; a relative one is taken from the root. */
function normalise(path: string): string {
  return posix.resolve('/', path);
}

function dirname(path: string): string {
  return posix.dirname(normalise(path));
}

function basename(path: string): string {
  return posix.basename(normalise(path));
}

function fsError(code: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}
