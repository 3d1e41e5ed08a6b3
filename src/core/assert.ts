/**
 * Thrown when an invariant of the protocol is broken. It is never caught: a
 * node whose state is wrong must stop loudly rather than spread the damage.
 */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
  readonly retriable = false;
}

/**
 * Throws InvariantViolation when `condition` is false. On a path taken per
 * entry or per message, a message built from a template literal is written
 * `if (!condition) invariant(false, \`...\`)`: the arguments of a call are
 * evaluated on every call, and turning numbers into text there cost more
 * than the check itself.
 */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}
