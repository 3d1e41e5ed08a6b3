/**
 * The replicated app plugin API: a deterministic state machine that a replica
 * host feeds with the cluster's committed messages, in order, exactly once.
 *
 * Every replica of an app starts from the same state (empty, or a snapshot),
 * applies the same messages in the same order, and so must reach the same
 * state at every seq. That only holds when `apply` is deterministic: its
 * effect may depend on nothing but the current state, the message and the
 * context. Concretely, inside `apply` (and `snapshot`, `restore`):
 *
 * - **No wall clock.** Never read `Date.now()`, `new Date()`,
 *   `performance.now()` or `process.hrtime()`. Use `context.timestampMs`,
 *   the log time the sequencer gave the message (never decreasing along the
 *   log and the same on every replica).
 * - **No randomness.** Never call `Math.random()` or `crypto.randomUUID()`.
 *   Derive what must look random from the message (e.g. a hash of
 *   `context.seq`), so every replica derives the same value.
 * - **No I/O.** No files, network, environment variables or anything else
 *   outside the state: `apply` is synchronous and must not start
 *   asynchronous work whose result changes the state later.
 * - **No dependence on iteration order that is not itself deterministic.**
 *   Map and Set iterate in insertion order, which is fine; iterating an
 *   object's keys is fine too, but floating point sums in an order that
 *   differs between replicas are not.
 * - **No throwing for bad input.** A message that the app rejects (a
 *   malformed command, a transfer without funds) must be ignored or recorded
 *   as rejected in the state; an exception from `apply` stops the replica,
 *   because the state it left may be half-changed.
 *
 * Breaking a rule does not fail loudly at once: replicas drift apart
 * silently. That is why the host computes a digest of every replica's state
 * at agreed seqs and the brokers compare them: a replica whose digest differs
 * is flagged DIVERGED in `ordo status` and in the broker's log, naming the
 * first seq at which the digests differ.
 */
import type { Message } from '../subscriber.js';

/** What the host tells `apply` besides the message itself; identical on every replica. */
export interface ApplyContext {
  /** The message's position in the cluster's total order. */
  readonly seq: number;
  /** Epoch of the sequencer that ordered the message. */
  readonly epoch: number;
  /**
   * Log time assigned by the sequencer, in milliseconds since the epoch. It
   * never decreases along the log and is the same on every replica: use it
   * wherever the app needs "now".
   */
  readonly timestampMs: number;
}

/**
 * A replicated app. The host calls its methods from one thread, never
 * concurrently, and never calls `apply` with a message it already applied.
 */
export interface StateMachine<Request = unknown, Response = unknown> {
  /**
   * Applies one committed data message to the state (control entries such as
   * epoch starts are never passed). Must be deterministic: see the rules at
   * the top of this module. Must not throw for bad input.
   */
  apply(message: Message, context: ApplyContext): void;
  /**
   * Serialises the whole state. Called between two applies, so the bytes
   * describe the state at one seq. The bytes must be canonical: two replicas
   * in the same state must return identical bytes (sort map keys, avoid
   * floating point formatting that varies), because the digest that detects
   * divergence is the SHA-256 of these bytes. Return bytes the plugin does
   * not modify afterwards: the host writes them to disk while applying on.
   */
  snapshot(): Uint8Array;
  /**
   * Replaces the state with one that `snapshot()` produced (possibly on
   * another replica). Called on a fresh instance before any `apply`.
   */
  restore(snapshot: Uint8Array): void;
  /**
   * Optional read-only query. It must not change the state (a query that
   * did would make this replica diverge from the others, since queries are
   * local and not in the log).
   */
  query?(request: Request): Response;
}

/** What a plugin module default-exports: a function returning a fresh state machine. */
export type StateMachineFactory<Request = unknown, Response = unknown> = () => StateMachine<
  Request,
  Response
>;
