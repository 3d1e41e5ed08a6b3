/**
 * A command line the `ordo` command cannot run: a missing or malformed flag
 * value. It is reported after the command's usage text, in one line, with
 * exit code 2, before anything connects anywhere.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
