import { createLogger } from '../../src/runtime/logger.js';

/** Where the replica host writes what it does; a winston logger fits, as does a small adapter. */
export interface ReplicaLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * The default: the project's logger on stderr, at ORDO_LOG_LEVEL or the given
 * level. Library users get warnings and errors (a divergence is one) unless
 * they ask for more.
 */
export function defaultReplicaLogger(component: string, level = 'warn'): ReplicaLogger {
  return createLogger(component, process.env['ORDO_LOG_LEVEL'] ?? level);
}
