import type { Prng } from '../test/sim/prng.js';

/** What a schedule may do to the cluster; the harness implements it on real processes and namespaces. */
export interface FaultTarget {
  readonly nodeIds: readonly string[];
  /** The current sequencer's id, or null when none is known. */
  sequencer(): Promise<string | null>;
  kill(id: string): Promise<void>;
  restart(id: string): Promise<void>;
  pause(id: string): void;
  resume(id: string): void;
  cut(from: string, to: string): void;
  isolate(id: string): void;
  lose(fraction: number): void;
  duplicate(fraction: number): void;
  slow(rateKbit: number, queueMs: number): void;
  healNetwork(): void;
  jumpClock(id: string, offsetMs: number): void;
  stallSubscriber(): void;
  resumeSubscriber(): void;
}

/** One fault: applied, held for a while, then healed. */
export interface Fault {
  readonly kind: string;
  readonly detail: string;
  apply(): Promise<void>;
  heal(): Promise<void>;
}

export interface Schedule {
  readonly name: string;
  readonly description: string;
  /** How long a fault is held, and the quiet time between two (ms). */
  readonly holdMs: readonly [number, number];
  readonly quietMs: readonly [number, number];
  next(target: FaultTarget, rng: Prng): Promise<Fault>;
}

const pick = <T>(rng: Prng, items: readonly T[]): T => items[rng.int(0, items.length - 1)]!;

function shuffled<T>(rng: Prng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The sequencer half the time (the interesting case), any node otherwise. */
async function victim(target: FaultTarget, rng: Prng): Promise<string> {
  const sequencer = rng.chance(0.5) ? await target.sequencer() : null;
  return sequencer ?? pick(rng, target.nodeIds);
}

const networkHeal = (target: FaultTarget) => async () => target.healNetwork();

const killSequencer: Schedule = {
  name: 'kill-sequencer',
  description: 'kill -9 the sequencer, restart it a few seconds later',
  holdMs: [1000, 4000],
  quietMs: [2000, 4000],
  async next(target, rng) {
    const id = (await target.sequencer()) ?? pick(rng, target.nodeIds);
    return {
      kind: 'kill',
      detail: id,
      apply: () => target.kill(id),
      heal: () => target.restart(id),
    };
  },
};

const killAny: Schedule = {
  name: 'kill-random',
  description: 'kill -9 a random node, restart it',
  holdMs: [1000, 4000],
  quietMs: [1000, 3000],
  async next(target, rng) {
    const id = pick(rng, target.nodeIds);
    return {
      kind: 'kill',
      detail: id,
      apply: () => target.kill(id),
      heal: () => target.restart(id),
    };
  },
};

const pause: Schedule = {
  name: 'pause',
  description:
    'SIGSTOP a node (the sequencer half the time) past the election timeout, then SIGCONT',
  holdMs: [1000, 5000],
  quietMs: [1500, 3000],
  async next(target, rng) {
    const id = await victim(target, rng);
    return {
      kind: 'pause',
      detail: id,
      apply: async () => target.pause(id),
      heal: async () => target.resume(id),
    };
  },
};

const partitionHalves: Schedule = {
  name: 'partition-halves',
  description: 'cut the cluster into a majority and a minority',
  holdMs: [2000, 6000],
  quietMs: [1500, 3000],
  async next(target, rng) {
    const order = shuffled(rng, target.nodeIds);
    const minority = order.slice(0, Math.floor(order.length / 2));
    const majority = order.slice(minority.length);
    return {
      kind: 'partition',
      detail: `${minority.join(',')} | ${majority.join(',')}`,
      apply: async () => {
        for (const a of minority)
          for (const b of majority) {
            target.cut(a, b);
            target.cut(b, a);
          }
      },
      heal: networkHeal(target),
    };
  },
};

const partitionRing: Schedule = {
  name: 'partition-ring',
  description:
    'each node reaches only its ring neighbours: every node sees a majority, no two the same',
  holdMs: [2000, 6000],
  quietMs: [1500, 3000],
  async next(target, rng) {
    const ring = shuffled(rng, target.nodeIds);
    const n = ring.length;
    const cuts: [string, string][] = [];
    if (n === 3) {
      // With three nodes every pair is adjacent on a ring; cutting one pair
      // leaves the middle node bridging two overlapping majorities.
      cuts.push([ring[0]!, ring[2]!]);
    } else {
      for (let i = 0; i < n; i++)
        for (let j = i + 1; j < n; j++) {
          const distance = Math.min(j - i, n - (j - i));
          if (distance > 1) cuts.push([ring[i]!, ring[j]!]);
        }
    }
    return {
      kind: 'partition-ring',
      detail: cuts.map(([a, b]) => `${a}x${b}`).join(' '),
      apply: async () => {
        for (const [a, b] of cuts) {
          target.cut(a, b);
          target.cut(b, a);
        }
      },
      heal: networkHeal(target),
    };
  },
};

const isolate: Schedule = {
  name: 'isolate',
  description: 'cut one node (the sequencer half the time) off from peers and clients',
  holdMs: [2000, 6000],
  quietMs: [1500, 3000],
  async next(target, rng) {
    const id = await victim(target, rng);
    return {
      kind: 'isolate',
      detail: id,
      apply: async () => target.isolate(id),
      heal: networkHeal(target),
    };
  },
};

const oneWay: Schedule = {
  name: 'one-way',
  description: 'drop everything one node sends to another, but not the way back',
  holdMs: [2000, 6000],
  quietMs: [1500, 3000],
  async next(target, rng) {
    const from = await victim(target, rng);
    const to = pick(
      rng,
      target.nodeIds.filter((id) => id !== from),
    );
    return {
      kind: 'one-way',
      detail: `${from}->${to}`,
      apply: async () => target.cut(from, to),
      heal: networkHeal(target),
    };
  },
};

const lossy: Schedule = {
  name: 'lossy',
  description: 'every node drops 10-30% of the packets it sends',
  holdMs: [3000, 8000],
  quietMs: [1000, 2000],
  async next(target, rng) {
    const fraction = Math.round(rng.float(0.1, 0.3) * 100) / 100;
    return {
      kind: 'loss',
      detail: `${fraction}`,
      apply: async () => target.lose(fraction),
      heal: networkHeal(target),
    };
  },
};

const duplicating: Schedule = {
  name: 'duplicate',
  description: 'every node sends a second copy of 20-50% of its packets to its peers',
  holdMs: [3000, 8000],
  quietMs: [1000, 2000],
  async next(target, rng) {
    const fraction = Math.round(rng.float(0.2, 0.5) * 100) / 100;
    return {
      kind: 'duplicate',
      detail: `${fraction}`,
      apply: async () => target.duplicate(fraction),
      heal: networkHeal(target),
    };
  },
};

const slowLinks: Schedule = {
  name: 'slow-links',
  description: 'every node sends through a narrow token bucket (0.5-2 Mbit/s, 100-400 ms of queue)',
  holdMs: [3000, 8000],
  quietMs: [1000, 2000],
  async next(target, rng) {
    const rateKbit = rng.int(500, 2000);
    const queueMs = rng.int(100, 400);
    return {
      kind: 'slow',
      detail: `${rateKbit}kbit ${queueMs}ms`,
      apply: async () => target.slow(rateKbit, queueMs),
      heal: networkHeal(target),
    };
  },
};

const fullRestart: Schedule = {
  name: 'full-restart',
  description: 'kill -9 every node at once, restart them all',
  holdMs: [500, 2000],
  quietMs: [3000, 6000],
  async next(target) {
    return {
      kind: 'full-restart',
      detail: target.nodeIds.join(','),
      apply: async () => {
        await Promise.all(target.nodeIds.map((id) => target.kill(id)));
      },
      heal: async () => {
        await Promise.all(target.nodeIds.map((id) => target.restart(id)));
      },
    };
  },
};

const clockJump: Schedule = {
  name: 'clock-jump',
  description: "jump one node's wall clock 1-10 minutes forward or back, then back to true time",
  holdMs: [2000, 6000],
  quietMs: [1000, 3000],
  async next(target, rng) {
    const id = await victim(target, rng);
    const offsetMs = (rng.chance(0.5) ? 1 : -1) * rng.int(60, 600) * 1000;
    return {
      kind: 'clock-jump',
      detail: `${id} ${offsetMs > 0 ? '+' : ''}${offsetMs / 1000}s`,
      apply: async () => target.jumpClock(id, offsetMs),
      heal: async () => target.jumpClock(id, 0),
    };
  },
};

const stalledSubscriber: Schedule = {
  name: 'stalled-subscriber',
  description:
    'one subscriber stops reading for most of the run at full publish rate, then catches up',
  holdMs: [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  quietMs: [2000, 2000],
  async next(target) {
    return {
      kind: 'stall',
      detail: 'stalled-subscriber',
      apply: async () => target.stallSubscriber(),
      heal: async () => target.resumeSubscriber(),
    };
  },
};

const baseline: Schedule = {
  name: 'none',
  description: 'no fault at all: the baseline for the availability and memory figures',
  holdMs: [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  quietMs: [0, 0],
  async next() {
    return { kind: 'none', detail: '', apply: async () => undefined, heal: async () => undefined };
  },
};

const single = [
  killSequencer,
  killAny,
  pause,
  partitionHalves,
  partitionRing,
  isolate,
  oneWay,
  lossy,
  duplicating,
  slowLinks,
  fullRestart,
  clockJump,
  stalledSubscriber,
];

const mixed: Schedule = {
  name: 'mixed',
  description: 'any of the faults above, one at a time, chosen at random',
  holdMs: [1000, 5000],
  quietMs: [1000, 3000],
  async next(target, rng) {
    return pick(
      rng,
      single.filter((s) => s !== stalledSubscriber),
    ).next(target, rng);
  },
};

export const SCHEDULES: readonly Schedule[] = [...single, mixed, baseline];

export function scheduleNamed(name: string): Schedule {
  const schedule = SCHEDULES.find((s) => s.name === name);
  if (schedule === undefined) {
    throw new Error(
      `unknown schedule '${name}'; known: ${SCHEDULES.map((s) => s.name).join(', ')}`,
    );
  }
  return schedule;
}
