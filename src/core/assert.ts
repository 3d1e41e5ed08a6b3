/**
 * Thrown when an invariant of the protocol is broken. It is never caught: a
 * node whose state is wrong must stop loudly rather than spread the damage.
 */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
  readonly retriable = false;
}

export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}
