import { InvalidRequestError } from '../errors.js';

/** Faults a test injects into a replica host; none in normal use. */
export interface ReplicaFaults {
  /** The `nth` snapshot save leaves a torn file (temporary or under the final name) and never completes. */
  readonly haltInSnapshot?: { readonly nth: number; readonly torn: 'temp' | 'final' };
}

/**
 * Parses ORDO_TEST_REPLICA_FAULTS, e.g. `halt-in-snapshot=3:final`, so that a
 * test can inject a fault into a replica it runs as a child process.
 */
export function replicaFaultsFromEnv(value: string | undefined): ReplicaFaults {
  if (value === undefined || value.trim() === '') return {};
  const match = /^halt-in-snapshot=(\d+):(temp|final)$/.exec(value.trim());
  if (match === null) {
    throw new InvalidRequestError(
      `ORDO_TEST_REPLICA_FAULTS must look like halt-in-snapshot=3:final, got '${value}'`,
    );
  }
  return { haltInSnapshot: { nth: Number(match[1]), torn: match[2] as 'temp' | 'final' } };
}
