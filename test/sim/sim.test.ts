import test from 'ava';
import { type Entry, EntryKind, makeEpochStartEntry, PlantedDefect } from '../../src/core/index.js';
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
  checkOwnEpochCommit,
  checkPersistBeforeSend,
  checkReadIndex,
  checkTotalOrder,
  checkWitness,
} from './checkers.js';
import { hashChain } from './hash-chain.js';
import type { History } from './history.js';
import { replayCommand, runSeed } from './run-seed.js';
import type { PlanOverrides } from './seed-plan.js';
import { runSeedsInParallel } from './seed-pool.js';

/**
 * Seeds 1..SEED_COUNT run on every `npm test`, on one worker thread per core.
 * ORDO_SIM_SEEDS changes how many (the printed replay command runs one alone).
 */
const SEED_COUNT = Number(process.env['ORDO_SIM_SEEDS'] ?? 1000);
const SEEDS_PER_TEST = 250;

function failuresOf(
  summaries: readonly {
    seed: number;
    violations: readonly { property: string; message: string }[];
  }[],
): string[] {
  return summaries.flatMap((s) =>
    s.violations.map(
      (v) => `seed ${s.seed} ${v.property}: ${v.message} (replay: ${replayCommand(s.seed)})`,
    ),
  );
}

for (let first = 1; first <= SEED_COUNT; first += SEEDS_PER_TEST) {
  const last = Math.min(SEED_COUNT, first + SEEDS_PER_TEST - 1);
  test.serial(`seeds ${first}..${last} keep every property`, async (t) => {
    t.timeout(20 * 60_000);
    const seeds = Array.from({ length: last - first + 1 }, (_, i) => first + i);
    const summaries = await runSeedsInParallel(seeds, {});
    t.is(summaries.length, seeds.length);
    const failures = failuresOf(summaries);
    t.deepEqual(failures, [], `failing seeds:\n${failures.join('\n')}`);
  });
}

// Seeds that once failed, kept as regressions (docs/simulator.md, "Bugs it
// found"): 26 a follower that could never catch up at the sequencer's log
// start; 138 the Publisher resending a message whose first attempt was still
// unanswered under a new producer session; 173 two repairing nodes waiting
// for each other; 706 and 1004 a damaged, never committed entry keeping a
// node from starting; 1559 an uncertain message landing after later ones;
// 1784 retention by age deleting segments of epoch-start entries; 4683 a
// deposed sequencer's unsent entries truncated without telling its host;
// 1511 two uncommitted membership changes after which a node refused the
// campaign of the only node with the newest log;
// 5116 the Publisher taking "expected 1" after a busy first message for a
// forgotten producer and sending that message again under a new session;
// 3182 bit flips in a membership of 2 voters; 5406 a spare retired whose
// addition another sequencer committed later; 4466 and 6255 a damaged data
// node out for good beside a witness whose tail then filled; 6241 a crash in
// the middle of a log reset leaving one empty segment file.
const REGRESSION_SEEDS: readonly number[] = [
  26, 138, 173, 481, 706, 1004, 1511, 1559, 1784, 2326, 3182, 4466, 4683, 5116, 5406, 6241, 6255,
];

test('seeds that once failed keep every property', async (t) => {
  const failures: string[] = [];
  for (const seed of REGRESSION_SEEDS) {
    const result = await runSeed(seed);
    failures.push(...failuresOf([result]));
  }
  t.deepEqual(failures, [], `failing seeds:\n${failures.join('\n')}`);
});

test('a seed replays exactly', async (t) => {
  const digest = async (seed: number): Promise<string> => {
    const r = await runSeed(seed);
    const chains = r.history.nodeIds.map((id) => hashChain(r.history.delivered.get(id)!).at(-1));
    return JSON.stringify({
      stats: r.stats,
      chains,
      violations: r.violations,
      drain: r.drainTicks,
    });
  };
  const first = await digest(7);
  t.is(first, await digest(7));
  t.not(first, await digest(8));
});

// ------------------------------------------------------------------ checkers

/** The payload of publisher p1's message `n` (payloads are unique, as the simulator's are). */
function payloadOf(n: number): Uint8Array {
  return new TextEncoder().encode(`p1:${n}`);
}

function hexOf(n: number): string {
  return Buffer.from(payloadOf(n)).toString('hex');
}

/** p1's message `producerSeq`, under producer id p-1, at `seq`. */
function data(seq: number, epoch: number, producerSeq: number, timestampMs = seq * 10): Entry {
  return {
    seq,
    epoch,
    kind: EntryKind.data,
    producerId: 'p-1',
    producerSeq,
    topic: 't',
    payload: payloadOf(producerSeq),
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
    published: new Map([['p1', [hexOf(1), hexOf(2), hexOf(3)]]]),
    acks: [
      { publisherId: 'p1', payload: hexOf(1), seq: 2, tick: 5 },
      { publisherId: 'p1', payload: hexOf(2), seq: 3, tick: 6 },
    ],
    leaders: [{ epoch: 1, nodeId: 'n1', tick: 1 }],
    liveness: { healedAtTick: 100, completedAtTick: 120, boundTicks: 50, outstanding: [] },
    coreFailures: [],
    ruleBreaches: [],
    readIndexes: [],
    retired: new Set(),
    uncertain: new Set(),
    witnesses: new Set(),
    witnessTailBreaches: [],
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

test('the witness check rejects a witness that leads or outgrows its tail', (t) => {
  const h: History = { ...goodHistory(), witnesses: new Set(['n3']) };
  rejects(
    t,
    checkWitness,
    { ...h, leaders: [...h.leaders, { epoch: 2, nodeId: 'n3', tick: 9 }] },
    /witness n3 became sequencer in epoch 2/,
  );
  rejects(
    t,
    checkWitness,
    {
      ...h,
      witnessTailBreaches: ['n3 holds up to seq 90 at tick 5, beyond its floor 10 + bound 64'],
    },
    /beyond its floor 10/,
  );
});

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
    /p1:1, acked at seq 2.*skipped by every node/,
  );
});

test('acked-not-lost rejects an ack whose message is missing, or not at the acked seq', (t) => {
  const h = goodHistory();
  const late = { publisherId: 'p1', payload: hexOf(3), seq: 4, tick: 7 };
  rejects(
    t,
    checkAckedNotLost,
    { ...h, acks: [...h.acks, late] },
    /p1:3, acked at seq 4.*not delivered by n3/,
  );
  const wrongSeq = { publisherId: 'p1', payload: hexOf(2), seq: 4, tick: 7 };
  rejects(t, checkAckedNotLost, { ...h, acks: [wrongSeq] }, /p1:2 was acked at seq 4/);
  const nowhere = { publisherId: 'p1', payload: hexOf(9), seq: null, tick: 7 };
  rejects(t, checkAckedNotLost, { ...h, acks: [nowhere] }, /never delivered/);
});

test('integrity rejects what was never published, a forged payload and a double delivery', (t) => {
  const h = goodHistory();
  const log = h.delivered.get('n1')!;
  rejects(
    t,
    checkIntegrity,
    withStream(h, 'n1', [...log, data(5, 1, 4)]),
    /at seq 5, never published/,
  );
  const forged = { ...data(2, 1, 1), payload: new Uint8Array([9]) };
  rejects(
    t,
    checkIntegrity,
    withStream(h, 'n1', [log[0]!, forged, ...log.slice(2)]),
    /at seq 2, never published/,
  );
  rejects(t, checkIntegrity, withStream(h, 'n1', [...log, data(5, 1, 2)]), /twice, at seq 3 and 5/);
  // A retry under a new producer session is the same message: still a double delivery.
  const again = { ...data(5, 1, 1), producerId: 'p-2', payload: payloadOf(2) };
  rejects(t, checkIntegrity, withStream(h, 'n1', [...log, again]), /p1:2 twice, at seq 3 and 5/);
});

test('FIFO exempts a message whose publish failed with an uncertain outcome, and only that one', (t) => {
  const h = goodHistory();
  const late = [
    epochStart(1, 1),
    data(2, 1, 2),
    data(3, 1, 3),
    { ...data(4, 1, 1), producerId: 'p-old' },
  ];
  const reordered = withStream(h, 'n1', late);
  t.regex(checkFifo(reordered)?.message ?? '', /message #1 at seq 4 after its message #3/);
  t.is(checkFifo({ ...reordered, uncertain: new Set([hexOf(1)]) }), null);
});

test('FIFO rejects a producer delivered out of its order', (t) => {
  const h = goodHistory();
  const swapped = [epochStart(1, 1), data(2, 1, 2), data(3, 1, 1), data(4, 1, 3)];
  rejects(
    t,
    checkFifo,
    withStream(h, 'n1', swapped),
    /n1 delivered p1's message #1 at seq 3 after its message #2/,
  );
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

test('persist-before-send rejects an ack or a vote sent before it was durable', (t) => {
  const breach = {
    property: 'persistBeforeSend' as const,
    nodeId: 'n3',
    tick: 7,
    message: 'n3 acknowledged seq 4 in epoch 1 while its log held seq 3 durably',
  };
  const h = { ...goodHistory(), ruleBreaches: [breach] };
  rejects(t, checkPersistBeforeSend, h, /at tick 7: n3 acknowledged seq 4/);
  t.is(checkOwnEpochCommit(h), null, 'a breach of one rule is not reported as another');
});

test('own-epoch commit rejects a sequencer that committed an earlier epoch by counting', (t) => {
  const breach = {
    property: 'ownEpochCommit' as const,
    nodeId: 'n2',
    tick: 40,
    message: 'n2, sequencer of epoch 3, committed seq 9 of epoch 2 by counting replicas',
  };
  rejects(
    t,
    checkOwnEpochCommit,
    { ...goodHistory(), ruleBreaches: [breach] },
    /at tick 40: n2, sequencer of epoch 3, committed seq 9 of epoch 2/,
  );
});

test('read index rejects an index below an earlier acknowledgement, or beyond what was delivered', (t) => {
  const h = goodHistory();
  const ack = h.acks.find((a) => a.seq !== null)!;
  const delivered = Math.max(...[...h.delivered.values()].map((s) => s.at(-1)?.seq ?? 0));
  t.is(checkReadIndex({ ...h, readIndexes: [{ startTick: ack.tick + 1, seq: delivered }] }), null);
  rejects(
    t,
    checkReadIndex,
    { ...h, readIndexes: [{ startTick: ack.tick + 1, seq: ack.seq! - 1 }] },
    /below seq \d+ acknowledged/,
  );
  rejects(
    t,
    checkReadIndex,
    { ...h, readIndexes: [{ startTick: 0, seq: delivered + 1 }] },
    /beyond everything delivered/,
  );
});

// ------------------------------------------------------------- planted bugs

/**
 * Runs seeds of a node with one deliberate bug until one fails, to show the
 * simulator catches real protocol bugs in the code that ships, not only
 * hand-made histories. The bound is several times the seeds each needed
 * when measured (see docs/simulator.md).
 */
async function firstFailure(
  overrides: PlanOverrides,
  maxSeeds: number,
): Promise<{ seed: number; properties: string[] } | null> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = await runSeed(seed, overrides);
    if (r.violations.length > 0) return { seed, properties: r.violations.map((v) => v.property) };
  }
  return null;
}

const DEFECT_BOUNDS: readonly { defect: PlantedDefect; maxSeeds: number }[] = [
  { defect: PlantedDefect.commitWithoutMajority, maxSeeds: 20 },
  { defect: PlantedDefect.skipDedup, maxSeeds: 20 },
  { defect: PlantedDefect.ackBeforePersist, maxSeeds: 20 },
  { defect: PlantedDefect.commitOldEpochByCount, maxSeeds: 20 },
  { defect: PlantedDefect.uncheckedRepair, maxSeeds: 100 },
  { defect: PlantedDefect.honourUnannouncedTransfer, maxSeeds: 60 },
];

for (const { defect, maxSeeds } of DEFECT_BOUNDS) {
  test(`the simulator catches the planted bug '${defect}' within ${maxSeeds} seeds`, async (t) => {
    t.timeout(10 * 60_000);
    // Measured without membership changes or witnesses, as the bounds were (docs/simulator.md).
    const found = await firstFailure(
      { plantedDefects: new Set([defect]), membershipChanges: false, witness: false },
      maxSeeds,
    );
    t.not(found, null, `no seed noticed '${defect}'`);
    t.log(`caught at seed ${found?.seed}: ${found?.properties.join(', ')}`);
  });
}
