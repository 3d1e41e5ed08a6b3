import { InvalidRequestError } from './errors.js';

/**
 * Checks of the numbers a client is constructed with. A client given
 * nonsense (a negative window, a timeout of NaN) throws from its
 * constructor, naming the option, instead of misbehaving later.
 */

/** `value` if it is a whole number from `min` to `max`, `fallback` if it is undefined. */
export function wholeNumberOption(
  value: number | undefined,
  name: string,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new InvalidRequestError(`${name} must be a whole number ${range}, got ${String(value)}`);
  }
  return value;
}

/** `value` if it is one of `choices`, `fallback` if it is undefined. */
export function choiceOption<T extends string>(
  value: T | undefined,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value))
    throw new InvalidRequestError(
      `${name} must be one of ${choices.join(', ')}, got ${String(value)}`,
    );
  return value;
}
