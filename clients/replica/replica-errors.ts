import { OrdoError } from '../errors.js';

/**
 * The plugin broke its contract: the module does not export a state machine
 * factory, `apply` threw, `snapshot` returned something other than bytes.
 * The replica stops, because the state may be half-changed.
 */
export class PluginError extends OrdoError {
  override readonly name = 'PluginError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retriable: false });
  }
}

/**
 * A snapshot file is damaged (torn write, bit rot, foreign file) or belongs
 * to another plugin. A damaged file is skipped in favour of the previous
 * good one; this error is raised only when nothing usable is left or the
 * data folder belongs to another app.
 */
export class SnapshotError extends OrdoError {
  override readonly name = 'SnapshotError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retriable: false });
  }
}

/** Another replica process holds this data folder. */
export class DataDirLockedError extends OrdoError {
  override readonly name = 'DataDirLockedError';
  constructor(
    message: string,
    readonly holderPid: number,
  ) {
    super(message, { retriable: true });
  }
}
