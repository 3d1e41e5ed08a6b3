import { type Clock, type Random, systemClock, systemRandom } from '../src/runtime/clock.js';
import type { Credentials } from '../src/runtime/curve-keys.js';
import type { FrameDialer } from '../src/runtime/frame-dialer.js';
import { curveFrameDialer, zmqFrameDialer } from '../src/runtime/zmq-frame-dialer.js';

/**
 * The edges a client runs over: how it reaches brokers, how it tells time,
 * and where its randomness comes from. Every field is optional; production
 * leaves them all out (ZeroMQ, the system clock, `Math.random`), and the
 * deterministic simulator supplies its simulated network, its virtual clock
 * and its seeded generator, so that the shipped clients run unchanged in it.
 */
export interface ClientRuntime {
  readonly dialer?: FrameDialer;
  /**
   * The identity and keys to connect to a secured cluster with (see
   * `loadCredentials`): every connection then runs CurveZMQ. Ignored when a
   * `dialer` is given.
   */
  readonly credentials?: Credentials;
  readonly clock?: Clock;
  readonly random?: Random;
}

/** A ClientRuntime with every edge chosen. */
export interface ResolvedClientRuntime {
  readonly dialer: FrameDialer;
  readonly clock: Clock;
  readonly random: Random;
}

/** Fills in the production default for every edge the caller left out. */
export function resolveClientRuntime(runtime: ClientRuntime = {}): ResolvedClientRuntime {
  return {
    dialer:
      runtime.dialer ??
      (runtime.credentials === undefined ? zmqFrameDialer : curveFrameDialer(runtime.credentials)),
    clock: runtime.clock ?? systemClock,
    random: runtime.random ?? systemRandom,
  };
}

/** A fresh producer id: `p-` and 128 random bits in hex, drawn from the runtime's generator. */
export function randomProducerId(random: Random): string {
  let hex = '';
  for (let i = 0; i < 4; i++) {
    hex += Math.floor(random() * 2 ** 32)
      .toString(16)
      .padStart(8, '0');
  }
  return `p-${hex}`;
}

/** A random integer in [minInclusive, maxExclusive). */
export function randomIntBetween(
  random: Random,
  minInclusive: number,
  maxExclusive: number,
): number {
  return minInclusive + Math.floor(random() * (maxExclusive - minInclusive));
}
