import type { ClientRuntime } from '../../clients/client-runtime.js';
import { parseEndpoint } from '../../clients/endpoint.js';
import { loadCredentials } from '../runtime/curve-keys.js';
import { UsageError } from './usage-error.js';

/** The environment variable that gives `--brokers` when the flag is absent. */
export const brokersEnvironmentVariable = 'ORDO_BROKERS';

/**
 * Parses `--brokers`: comma-separated endpoints, each `host:port` or
 * `tcp://host:port`, returned as `tcp://host:port`. A malformed one is a
 * UsageError naming it.
 */
export function parseBrokers(value: string | readonly string[] | undefined): string[] {
  const parts = (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .flatMap((v) => String(v).split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0)
    throw new UsageError(
      `--brokers needs at least one endpoint, e.g. 127.0.0.1:7001 (or set ${brokersEnvironmentVariable})`,
    );
  return parts.map((part) => {
    try {
      return parseEndpoint(part);
    } catch (error) {
      throw new UsageError(`--brokers: ${(error as Error).message}`);
    }
  });
}

const fromEnvironment = process.env[brokersEnvironmentVariable]?.trim() || undefined;

/**
 * The `--brokers` option every client command takes. It defaults to
 * $ORDO_BROKERS, and is parsed while the command line is read, so a bad
 * endpoint is a usage error before anything connects.
 */
export const brokersOption = {
  type: 'string',
  demandOption: fromEnvironment === undefined,
  ...(fromEnvironment === undefined ? {} : { default: fromEnvironment }),
  coerce: parseBrokers,
  describe: `Broker client endpoints, comma-separated, host:port or tcp://host:port (default: $${brokersEnvironmentVariable})`,
} as const;

/** The environment variable that gives `--credentials` when the flag is absent. */
export const credentialsEnvironmentVariable = 'ORDO_CREDENTIALS';

/** The `--credentials` option of every client command (default $ORDO_CREDENTIALS). */
export const credentialsOption = {
  type: 'string',
  describe: `Credentials file for a secured cluster (identity, key pair, broker keys; written by ordo keygen or ordo dev) (environment: ${credentialsEnvironmentVariable})`,
} as const;

/**
 * The client runtime a command connects with: CurveZMQ under the
 * credentials named by `--credentials` or $ORDO_CREDENTIALS, or the default
 * (no keys) when neither is given. A file that cannot be used is a UsageError.
 */
export function clientRuntimeFrom(credentials: string | undefined): ClientRuntime {
  const path = credentials ?? process.env[credentialsEnvironmentVariable]?.trim();
  if (path === undefined || path === '') return {};
  try {
    return { credentials: loadCredentials(path) };
  } catch (error) {
    throw new UsageError(`--credentials: ${(error as Error).message}`);
  }
}
