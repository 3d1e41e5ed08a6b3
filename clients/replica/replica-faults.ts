import { InvalidRequestError } from '../errors.js';

/** Faults a test injects into a replica host; none in normal use. */
export interface ReplicaFaults {
  /** The `nth` snapshot save leaves a torn file (temporary or under the final name) and never completes. */
  readonly haltInSnapshot?: { readonly nth: number; readonly torn: 'temp' | 'final' };
  /** A download of a shared snapshot stops for good after this many chunks written in this run. */
  readonly haltInDownload?: { readonly afterChunks: number };
}

/**
 * Parses ORDO_TEST_REPLICA_FAULTS, e.g. `halt-in-snapshot=3:final` or
 * `halt-in-download=40`, so that a test can inject a fault into a replica it
 * runs as a child process.
 */
export function replicaFaultsFromEnv(value: string | undefined): ReplicaFaults {
  if (value === undefined || value.trim() === '') return {};
  const download = /^halt-in-download=(\d+)$/.exec(value.trim());
  if (download !== null && Number(download[1]) > 0)
    return { haltInDownload: { afterChunks: Number(download[1]) } };
  const match = /^halt-in-snapshot=(\d+):(temp|final)$/.exec(value.trim());
  if (match === null) {
    throw new InvalidRequestError(
      `ORDO_TEST_REPLICA_FAULTS must look like halt-in-snapshot=3:final or halt-in-download=40, got '${value}'`,
    );
  }
  return { haltInSnapshot: { nth: Number(match[1]), torn: match[2] as 'temp' | 'final' } };
}
