import test from 'ava';
import {
  type Entry,
  EntryKind,
  makeEpochStartEntry,
  ProducerTable,
  ProtocolNode,
} from '../../src/core/index.js';
import {
  type Checker,
  checkAckedNotLost,
  checkCoreInvariants,
  checkElectionSafety,
  checkFifo,
  checkHistory,
  checkIntegrity,
  checkLiveness,
  checkLogTime,
  checkTotalOrder,
} from './checkers.js';
import { hashChain } from './hash-chain.js';
import type { History } from './history.js';
import { replayCommand, runSeed } from './run-seed.js';

/** Seeds 1..SEED_COUNT run on every `npm test`; measured at about 25 seeds/s on one core. */
const SEED_COUNT = 1000;
const SEEDS_PER_TEST = 50;

for (let first = 1; first <= SEED_COUNT; first += SEEDS_PER_TEST) {
  const last = Math.min(SEED_COUNT, first + SEEDS_PER_TEST - 1);
  test(`seeds ${first}..${last} keep every property`, (t) => {
    const failures: string[] = [];
    for (let seed = first; seed <= last; seed++) {
      const result = runSeed(seed);
      for (const v of result.violations) {
        failures.push(`seed ${seed} ${v.property}: ${v.message} (replay: ${replayCommand(seed)})`);
      }
    }
    t.deepEqual(failures, [], `failing seeds:\n${failures.join('\n')}`);
  });
}

// With retention, a node restarted from its shortened log took a late retry
// of a producer's first message for a new one; dedup checkpoints (restart
// from the saved table plus the entries after it) closed these seeds.
const CHECKPOINT_SEEDS: readonly { seed: number; faultTicks?: number }[] = [
  { seed: 2594 },
  { seed: 3374 },
  { seed: 3555 },
  { seed: 50042, faultTicks: 8000 },
];

test('seeds closed by dedup checkpoints keep every property, restarting from checkpoints', (t) => {
  const failures: string[] = [];
  for (const { seed, faultTicks } of CHECKPOINT_SEEDS) {
    const result = runSeed(seed, faultTicks === undefined ? {} : { faultTicks });
    for (const v of result.violations) {
      const replay = `${replayCommand(seed)}${faultTicks === undefined ? '' : ` --ticks ${faultTicks}`}`;
      failures.push(`seed ${seed} ${v.property}: ${v.message} (replay: ${replay})`);
    }
    t.true(
      result.stats.restartsFromCheckpoint > 0,
      `seed ${seed} never restarted from a checkpoint`,
    );
  }
  t.deepEqual(failures, [], `failing seeds:\n${failures.join('\n')}`);
});

test('a seed replays exactly', (t) => {
  const digest = (seed: number): string => {
    const r = runSeed(seed);
    const chains = r.history.nodeIds.map((id) => hashChain(r.history.delivered.get(id)!).at(-1));
    return JSON.stringify({
      stats: r.stats,
      chains,
      violations: r.violations,
      drain: r.drainTicks,
    });
  };
  t.is(digest(7), digest(7));
  t.not(digest(7), digest(8));
});

// ------------------------------------------------------------------ checkers

const PAYLOAD = new Uint8Array([1, 2, 3]);

function data(seq: number, epoch: number, producerSeq: number, timestampMs = seq * 10): Entry {
  return {
    seq,
    epoch,
    kind: EntryKind.data,
    producerId: 'p1',
    producerSeq,
    topic: 't',
    payload: PAYLOAD,
    timestampMs,
  };
}

function epochStart(seq: number, epoch: number): Entry {
  return makeEpochStartEntry(seq, epoch, seq * 10);
}

/** Three nodes that all delivered the epoch-1 no-op and p1#1..3, all acknowledged. */
function goodHistory(): History {
  const log = [epochStart(1, 1), data(2, 1, 1), data(3, 1, 2), data(4, 1, 3)];
  return {
    nodeIds: ['n1', 'n2', 'n3'],
    delivered: new Map([
      ['n1', log],
      ['n2', log],
      ['n3', log.slice(0, 3)],
    ]),
    skipped: new Map(),
    deliveryAnomalies: [],
    published: new Map([
      [
        'p1',
        new Map([
          [1, '010203'],
          [2, '010203'],
          [3, '010203'],
        ]),
      ],
    ]),
    acks: [
      { producerId: 'p1', producerSeq: 1, seq: 2, tick: 5 },
      { producerId: 'p1', producerSeq: 2, seq: 3, tick: 6 },
    ],
    leaders: [{ epoch: 1, nodeId: 'n1', tick: 1 }],
    liveness: { healedAtTick: 100, completedAtTick: 120, boundTicks: 50, outstanding: [] },
    coreFailures: [],
  };
}

function withStream(history: History, nodeId: string, entries: Entry[]): History {
  const delivered = new Map(history.delivered);
  delivered.set(nodeId, entries);
  return { ...history, delivered };
}

test('the hand-made good history passes every checker', (t) => {
  t.deepEqual(checkHistory(goodHistory()), []);
});

function rejects(
  t: import('ava').ExecutionContext,
  checker: Checker,
  history: History,
  pattern: RegExp,
): void {
  const found = checker(history);
  t.not(found, null, `${checker.name} accepted a bad history`);
  t.regex(found?.message ?? '', pattern);
  t.is(checker(goodHistory()), null, `${checker.name} rejects the good history`);
}

test('total order rejects streams that diverge, at the first divergent seq', (t) => {
  const h = goodHistory();
  const forked = [epochStart(1, 1), data(2, 1, 1), data(3, 2, 2), data(4, 2, 3)];
  rejects(t, checkTotalOrder, withStream(h, 'n2', forked), /n2 diverges from n1 at seq 3/);
});

test('total order rejects a gap in seqs and a re-delivery with other content', (t) => {
  const h = goodHistory();
  rejects(
    t,
    checkTotalOrder,
    withStream(h, 'n3', [epochStart(1, 1), data(3, 1, 2)]),
    /seq 3 in position 2/,
  );
  const anomaly = { nodeId: 'n2', seq: 3, tick: 9, detail: 'delivered again as epoch 2' };
  rejects(t, checkTotalOrder, { ...h, deliveryAnomalies: [anomaly] }, /n2 at seq 3/);
});

/** n3's log was reset after seq 3: it skipped 1..3 and delivered seq 4 only. */
function withReset(history: History): History {
  const log = history.delivered.get('n1')!;
  const reset = withStream(history, 'n3', log.slice(3));
  return { ...reset, skipped: new Map([['n3', [{ fromSeq: 1, toSeq: 3 }]]]) };
}

test('a node whose log was reset is still checked at every seq it delivered', (t) => {
  const h = withReset(goodHistory());
  t.deepEqual(checkHistory(h), []);
  const forged = [{ ...data(4, 1, 3), timestampMs: 99 }];
  rejects(t, checkTotalOrder, withStream(h, 'n3', forged), /n3 diverges from n1 at seq 4/);
  // A gap the node never recorded as a reset is still a gap.
  const n2 = h.delivered.get('n2')!;
  rejects(
    t,
    checkTotalOrder,
    withStream(h, 'n2', [n2[0]!, n2[2]!, n2[3]!]),
    /n2 delivered seq 3 in position 2, where seq 2 was due/,
  );
  // A reset may skip only what some other node delivered.
  const everyone = new Map([
    ['n1', [{ fromSeq: 1, toSeq: 3 }]],
    ['n2', [{ fromSeq: 1, toSeq: 3 }]],
    ['n3', [{ fromSeq: 1, toSeq: 3 }]],
  ]);
  const all = ['n1', 'n2', 'n3'].reduce((acc, id) => withStream(acc, id, n2.slice(3)), h);
  rejects(t, checkTotalOrder, { ...all, skipped: everyone }, /no node delivered seq 1/);
  rejects(
    t,
    checkAckedNotLost,
    { ...all, skipped: everyone },
    /p1#1, acked at seq 2.*skipped by every node/,
  );
  // FIFO across a reset: a producer may jump ahead, never back.
  const back = withStream(h, 'n3', [{ ...data(4, 1, 3), producerSeq: 0 }]);
  t.regex(checkFifo(back)?.message ?? '', /after a log reset/);
});

test('acked-not-lost rejects an ack whose message is missing, or not at the acked seq', (t) => {
  const h = goodHistory();
  const late = { producerId: 'p1', producerSeq: 3, seq: 4, tick: 7 };
  rejects(
    t,
    checkAckedNotLost,
    { ...h, acks: [...h.acks, late] },
    /p1#3, acked at seq 4.*not delivered by n3/,
  );
  const wrongSeq = { producerId: 'p1', producerSeq: 2, seq: 4, tick: 7 };
  rejects(t, checkAckedNotLost, { ...h, acks: [wrongSeq] }, /p1#2 was acked at seq 4/);
  const nowhere = { producerId: 'p1', producerSeq: 9, seq: null, tick: 7 };
  rejects(t, checkAckedNotLost, { ...h, acks: [nowhere] }, /never delivered/);
});

test('integrity rejects what was never published, a forged payload and a double delivery', (t) => {
  const h = goodHistory();
  const log = h.delivered.get('n1')!;
  rejects(
    t,
    checkIntegrity,
    withStream(h, 'n1', [...log, data(5, 1, 4)]),
    /p1#4 at seq 5, never published/,
  );
  const forged = { ...data(2, 1, 1), payload: new Uint8Array([9]) };
  rejects(t, checkIntegrity, withStream(h, 'n1', [log[0]!, forged, ...log.slice(2)]), /payload/);
  rejects(t, checkIntegrity, withStream(h, 'n1', [...log, data(5, 1, 2)]), /twice, at seq 3 and 5/);
});

test('FIFO rejects a producer delivered out of its order', (t) => {
  const h = goodHistory();
  const swapped = [epochStart(1, 1), data(2, 1, 2), data(3, 1, 1), data(4, 1, 3)];
  rejects(t, checkFifo, withStream(h, 'n1', swapped), /p1#2 at seq 2 after p1#0/);
});

test('election safety rejects two sequencers in one epoch', (t) => {
  const h = goodHistory();
  const second = { epoch: 1, nodeId: 'n2', tick: 40 };
  rejects(
    t,
    checkElectionSafety,
    { ...h, leaders: [...h.leaders, second] },
    /two sequencers in epoch 1/,
  );
});

test('liveness rejects a run that never drained or drained too late', (t) => {
  const h = goodHistory();
  const never = {
    healedAtTick: 100,
    completedAtTick: null,
    boundTicks: 50,
    outstanding: ['p1: 1 unacked'],
  };
  rejects(t, checkLiveness, { ...h, liveness: never }, /p1: 1 unacked/);
  const late = { healedAtTick: 100, completedAtTick: 151, boundTicks: 50, outstanding: [] };
  rejects(t, checkLiveness, { ...h, liveness: late }, /not drained 50 ticks/);
});

test('log time rejects a timestamp that goes backwards', (t) => {
  const h = goodHistory();
  const log = h.delivered.get('n1')!;
  rejects(t, checkLogTime, withStream(h, 'n1', [...log, data(5, 1, 4, 5)]), /seq 5 has time 5 ms/);
});

test('core invariants reject a core that threw', (t) => {
  const failure = { nodeId: 'n2', tick: 3, message: 'InvariantViolation: boom' };
  rejects(
    t,
    checkCoreInvariants,
    { ...goodHistory(), coreFailures: [failure] },
    /n2 threw at tick 3/,
  );
});

// ----------------------------------------------------------------- mutations

/**
 * Runs seeds against a deliberately broken core until one fails, to show the
 * simulator catches real protocol bugs, not only hand-made histories.
 */
function firstFailure(maxSeeds: number): { seed: number; properties: string[] } | null {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = runSeed(seed);
    if (r.violations.length > 0) return { seed, properties: r.violations.map((v) => v.property) };
  }
  return null;
}

function patch<T extends object>(target: T, name: string, replacement: unknown): () => void {
  const slots = target as unknown as Record<string, unknown>;
  const original = slots[name];
  if (typeof original !== 'function')
    throw new Error(`${name} is no longer a method; update this mutation test`);
  slots[name] = replacement;
  return () => {
    slots[name] = original;
  };
}

interface CommitInternals {
  selfMatchSeq: number;
  commitSeq: number;
  epoch: number;
  log: { epochAt(seq: number): number | undefined };
}

test.serial('the simulator catches a sequencer that commits without a majority', (t) => {
  const restore = patch(ProtocolNode.prototype, 'maybeCommit', function (this: CommitInternals) {
    if (this.selfMatchSeq > this.commitSeq && this.log.epochAt(this.selfMatchSeq) === this.epoch) {
      this.commitSeq = this.selfMatchSeq;
    }
  });
  try {
    const found = firstFailure(200);
    t.not(found, null, 'no seed noticed commits on a single copy');
    t.log(`caught at seed ${found?.seed}: ${found?.properties.join(', ')}`);
  } finally {
    restore();
  }
});

test.serial('the simulator catches a sequencer without deduplication', (t) => {
  const restore = patch(ProducerTable.prototype, 'check', () => ({ kind: 'new' }));
  try {
    const found = firstFailure(200);
    t.not(found, null, 'no seed noticed retries appended twice');
    t.log(`caught at seed ${found?.seed}: ${found?.properties.join(', ')}`);
  } finally {
    restore();
  }
});
