/** A configuration that cannot be used; the message names the field and what is wrong with it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly retriable = false;
}
