import { UsageError } from './usage-error.js';

/**
 * A whole-number flag (`--count`, `--from`, `--nodes`, timeouts) read while
 * the command line is parsed: a value that is not a whole number in
 * [min, max] is a UsageError naming the flag and the value, instead of a
 * NaN or a negative count that would make the command do nothing and exit 0.
 */
export function wholeNumberFlag(
  flag: string,
  describe: string,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
) {
  return {
    describe,
    requiresArg: true,
    coerce: (value: unknown): number => wholeNumber(flag, value, min, max),
  } as const;
}

export function wholeNumber(flag: string, value: unknown, min: number, max: number): number {
  if (Array.isArray(value)) throw new UsageError(`--${flag} is given more than once`);
  const text = String(value).trim();
  const number = /^-?[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new UsageError(`--${flag} must be a whole number ${range}, got '${text}'`);
  }
  return number;
}
