/**
 * Errors of the durable log and metadata store. None is retriable: each
 * means the stored data or the request is wrong, and retrying the same call
 * cannot make it right.
 */

/**
 * A record in the middle of the log is damaged: valid records follow it, so
 * it cannot be a write torn by a crash. The store refuses to open rather than
 * drop the records after it; an operator must restore the node (for example
 * wipe it and let it catch up from its peers).
 */
export class CorruptLogError extends Error {
  override readonly name = 'CorruptLogError';
  readonly retriable = false;
  constructor(
    readonly file: string,
    readonly offset: number,
    /** The seq the damaged record should hold (the one after the last valid record). */
    readonly seq: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`corrupt log: ${file} at byte offset ${offset} (seq ${seq}): ${reason}`, options);
  }
}

/**
 * A call the log refuses because its arguments are wrong: a `write` that
 * would break the log (a gap, an older epoch, a malformed entry, a
 * truncation below the log's start), or a read or retention call with bad
 * numbers. Nothing was changed.
 */
export class InvalidLogRequestError extends Error {
  override readonly name = 'InvalidLogRequestError';
  readonly retriable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(`invalid log request: ${message}`, options);
  }
}

/**
 * The store hit an I/O error while writing (disk full, device gone) or was
 * closed. What it holds in memory may be ahead of the disk, so it refuses
 * every further call; the host should stop and reopen it, which recovers
 * from the disk.
 */
export class LogStoreUnavailableError extends Error {
  override readonly name = 'LogStoreUnavailableError';
  readonly retriable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The metadata file exists but cannot be trusted (bad checksum, bad fields). */
export class CorruptMetaError extends Error {
  override readonly name = 'CorruptMetaError';
  readonly retriable = false;
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`corrupt metadata file ${file}: ${reason}`, options);
  }
}

/** A hard state handed to `save` that cannot be right (negative epoch, non-string vote). Nothing was written. */
export class InvalidHardStateError extends Error {
  override readonly name = 'InvalidHardStateError';
  readonly retriable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(`invalid hard state: ${message}`, options);
  }
}

/**
 * The disk failed an operation the store's durability rests on (an fsync
 * returned EIO, a write failed). After a failed fsync the kernel may have
 * dropped the unsynced pages and a later fsync could succeed without them,
 * so the store never retries: it refuses every later write, and the host
 * treats this like a crash and reopens the store from what the disk holds.
 */
export class StorageFailedError extends Error {
  override readonly name = 'StorageFailedError';
  readonly retriable = false;
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
  }
}

/**
 * The record of `seq` is damaged on disk (it fails its CRC or its chain
 * hash, or its framing is lost) and cannot be read until `repair()` writes
 * a good copy, fetched from a peer, back in its place.
 */
export class DamagedRecordError extends Error {
  override readonly name = 'DamagedRecordError';
  readonly retriable = false;
  constructor(
    readonly seq: number,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`the record of seq ${seq} in ${file} is damaged (${reason}); repair it from a peer`);
  }
}

/** A `repair()` candidate that does not fit the hash chain or the damaged slot; nothing was written. */
export class RepairRejectedError extends Error {
  override readonly name = 'RepairRejectedError';
  readonly retriable = false;
  constructor(
    readonly seq: number,
    readonly reason: string,
    /**
     * `mismatch`: the candidate for `seq` is not the entry that was stored
     * there, so its sender holds another entry at `seq`; `layout`: the
     * damage must be repaired another way (with its neighbours), or the
     * copy differs somewhere in a record of several entries without it
     * being known where.
     */
    readonly kind: 'mismatch' | 'layout' = 'layout',
  ) {
    super(`repair of seq ${seq} rejected: ${reason}`);
  }
}
