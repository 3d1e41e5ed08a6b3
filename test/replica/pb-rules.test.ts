import test from 'ava';
import {
  decodePbEntry,
  encodePbEntry,
  pbTopics,
} from '../../clients/replica/primary-backup/pb-entries.js';
import {
  applyLease,
  applyRequest,
  applyUpdateEntry,
  emptyPbState,
  type LeaseEntry,
  nextPending,
  type PbEntry,
  type PbState,
  pbStateFromJson,
  pbStateToJson,
  ReplyTracker,
  type UpdateEntry,
} from '../../clients/replica/primary-backup/pb-rules.js';

const lease = (epoch: number, primary: string, leaseMs = 1000): LeaseEntry => ({
  type: 'lease',
  epoch,
  primary,
  leaseMs,
});
const update = (id: string, epoch: number, primary: string): UpdateEntry => ({
  type: 'update',
  id,
  epoch,
  primary,
  update: '1',
  reply: '1',
});

test('the first claim wins an empty lease; a second claim for that epoch is refused', (t) => {
  const s = emptyPbState();
  t.deepEqual(applyLease(s, lease(1, 'a'), 10), { accepted: true, kind: 'claim' });
  t.deepEqual(applyLease(s, lease(1, 'b'), 11), { accepted: false, reason: 'not-primary' });
  t.is(s.lease.primary, 'a');
  t.is(s.lease.expiresAtMs, 1010);
});

test('a claim before the lease expired in log time is refused; at expiry it wins', (t) => {
  const s = emptyPbState();
  applyLease(s, lease(1, 'a'), 0);
  applyLease(s, lease(1, 'a'), 500); // renewal: expires at 1500
  t.deepEqual(applyLease(s, lease(2, 'b'), 1499), { accepted: false, reason: 'lease-not-expired' });
  t.deepEqual(applyLease(s, lease(2, 'b'), 1500), { accepted: true, kind: 'claim' });
  t.deepEqual(applyLease(s, lease(1, 'a'), 1600), { accepted: false, reason: 'stale-epoch' });
  t.deepEqual(applyLease(s, lease(4, 'c'), 9000), { accepted: false, reason: 'stale-epoch' });
  t.deepEqual(applyLease(s, lease(3, 'c', 1), 9000), { accepted: false, reason: 'bad-lease' });
  t.is(s.counters.rejectedLeases, 4);
});

test('an update from a deposed primary is rejected; a request is applied once', (t) => {
  const s = emptyPbState();
  applyLease(s, lease(1, 'a'), 0);
  applyRequest(s, { type: 'request', id: 'r1', request: '{}' }, 5);
  applyRequest(s, { type: 'request', id: 'r2', request: '{}' }, 6);
  t.is(nextPending(s)?.id, 'r1');
  t.true(applyUpdateEntry(s, update('r1', 1, 'a')).accepted);
  t.deepEqual(applyUpdateEntry(s, update('r1', 1, 'a')), {
    accepted: false,
    reason: 'already-applied',
  });
  t.deepEqual(applyRequest(s, { type: 'request', id: 'r1', request: '{}' }, 9), {
    accepted: false,
    reason: 'already-applied',
  });
  applyLease(s, lease(2, 'b'), 2000);
  t.deepEqual(applyUpdateEntry(s, update('r2', 1, 'a')), {
    accepted: false,
    reason: 'stale-epoch',
  });
  t.deepEqual(applyUpdateEntry(s, update('r2', 2, 'a')), {
    accepted: false,
    reason: 'not-primary',
  });
  t.deepEqual(applyUpdateEntry(s, update('r9', 2, 'b')), {
    accepted: false,
    reason: 'unknown-request',
  });
  t.true(applyUpdateEntry(s, update('r2', 2, 'b')).accepted);
  t.is(s.counters.rejectedUpdates, 4);
  t.deepEqual(
    pbStateToJson(pbStateFromJson(JSON.parse(JSON.stringify(pbStateToJson(s))))),
    pbStateToJson(s),
  );
});

test('entries decode only from their own topic and shape', (t) => {
  const topics = pbTopics('app');
  const bytes = encodePbEntry(lease(1, 'a'));
  t.deepEqual(decodePbEntry(topics, topics.control, bytes), lease(1, 'a'));
  t.is(decodePbEntry(topics, topics.updates, bytes), null);
  t.is(decodePbEntry(topics, topics.control, new TextEncoder().encode('{"type":"lease"}')), null);
  t.is(decodePbEntry(topics, topics.control, new Uint8Array([0xff, 0xfe])), null);
  t.is(decodePbEntry(topics, topics.requests, new TextEncoder().encode('[1]')), null);
  t.throws(() => pbTopics(''), { message: /app name/ });
});

// ------------------------------------------------------------ simulation

/** A small seeded generator (mulberry32): one seed replays one run exactly. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface LogEntry {
  readonly entry: PbEntry;
  /** Log time the "sequencer" stamped. */
  readonly ts: number;
}

interface Actor {
  readonly id: string;
  readonly state: PbState;
  /** Entries applied so far. */
  cursor: number;
  /** Updates this actor made, some of which it sends again later (a paused primary's late publishes). */
  readonly made: UpdateEntry[];
}

const simLeaseMs = 300;
const simSteps = 400;

function applyEntry(state: PbState, e: LogEntry, seq: number) {
  if (e.entry.type === 'lease') return applyLease(state, e.entry, e.ts);
  if (e.entry.type === 'request') return applyRequest(state, e.entry, seq);
  return applyUpdateEntry(state, e.entry);
}

/** One random run: actors claim, renew, execute, lag, repeat and replay old updates; then every property is checked. */
function simulate(seed: number): { problems: string[]; stats: Record<string, number> } {
  const random = generator(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const log: LogEntry[] = [];
  const actors: Actor[] = ['a', 'b', 'c'].map((id) => ({
    id,
    state: emptyPbState(),
    cursor: 0,
    made: [],
  }));
  let now = 0;
  let nextRequest = 0;
  const append = (entry: PbEntry) => log.push({ entry, ts: now });
  for (let step = 0; step < simSteps; step++) {
    const actor = pick(actors);
    const roll = random();
    if (roll < 0.15) now += Math.floor(random() * 120);
    else if (roll < 0.3) {
      // A new request, or now and then a repeated one.
      const id =
        nextRequest > 0 && random() < 0.1
          ? `r${Math.floor(random() * nextRequest)}`
          : `r${nextRequest++}`;
      append({ type: 'request', id, request: '{}' });
    } else if (roll < 0.55) {
      // The actor applies what it has not yet (lagging actors are the paused ones).
      const upTo = Math.min(log.length, actor.cursor + 1 + Math.floor(random() * 6));
      for (; actor.cursor < upTo; actor.cursor++)
        applyEntry(actor.state, log[actor.cursor]!, actor.cursor + 1);
    } else if (roll < 0.65) {
      const view = actor.state.lease;
      if (view.primary === actor.id) append(lease(view.epoch, actor.id, simLeaseMs));
      // A backup claims when, caught up, it sees the lease expired; now and then also early or
      // on a stale view, as a skewed clock or a lagging backup would.
      else if ((actor.cursor === log.length && now >= view.expiresAtMs) || random() < 0.03)
        append(lease(view.epoch + 1, actor.id, simLeaseMs));
    } else if (roll < 0.9) {
      const view = actor.state;
      if (view.lease.primary !== actor.id) continue;
      const next = nextPending(view);
      if (next === undefined) continue;
      const made = update(next.id, view.lease.epoch, actor.id);
      actor.made.push(made);
      append(made);
    } else if (actor.made.length > 0) {
      // A late or repeated publish of an update made earlier.
      append(pick(actor.made));
    }
  }

  // Every actor applies the whole log; a reference run records each verdict.
  const problems: string[] = [];
  const reference = emptyPbState();
  const verdicts = log.map((e, i) => applyEntry(reference, e, i + 1));
  for (const actor of actors) {
    for (; actor.cursor < log.length; actor.cursor++)
      applyEntry(actor.state, log[actor.cursor]!, actor.cursor + 1);
    if (JSON.stringify(pbStateToJson(actor.state)) !== JSON.stringify(pbStateToJson(reference)))
      problems.push(`${actor.id} ends in another state than the reference`);
  }

  // Properties, checked from the log and the verdicts, not from the rules' own state.
  const primaryOf = new Map<number, string>();
  let epoch = 0;
  let primary = '';
  let expiresAtMs = 0;
  const applied = new Set<string>();
  const requested = new Set<string>();
  const acceptedUpdateAt = new Map<string, number>();
  let staleRejected = 0;
  let invalidClaims = 0;
  log.forEach((e, i) => {
    const accepted = verdicts[i]!.accepted;
    const entry = e.entry;
    if (entry.type === 'lease') {
      const isClaim = entry.epoch === epoch + 1;
      if (accepted && isClaim) {
        if (primaryOf.has(entry.epoch)) problems.push(`epoch ${entry.epoch} has two primaries`);
        if (e.ts < expiresAtMs) problems.push(`claim of epoch ${entry.epoch} won before expiry`);
        primaryOf.set(entry.epoch, entry.primary);
        epoch = entry.epoch;
        primary = entry.primary;
      } else if (accepted && (entry.epoch !== epoch || entry.primary !== primary)) {
        problems.push(
          `lease entry ${i + 1} accepted but neither a claim nor the primary's renewal`,
        );
      }
      if (isClaim && !accepted) invalidClaims++;
      if (accepted) expiresAtMs = e.ts + entry.leaseMs;
    } else if (entry.type === 'request') {
      requested.add(entry.id);
    } else if (accepted) {
      if (entry.epoch !== epoch || entry.primary !== primary)
        problems.push(`update ${i + 1} of epoch ${entry.epoch} applied under epoch ${epoch}`);
      if (applied.has(entry.id)) problems.push(`request ${entry.id} applied twice`);
      if (!requested.has(entry.id)) problems.push(`request ${entry.id} applied before requested`);
      applied.add(entry.id);
      acceptedUpdateAt.set(entry.id, i);
    } else if (entry.epoch < epoch) {
      staleRejected++;
    } else if (entry.epoch === epoch && !applied.has(entry.id) && requested.has(entry.id)) {
      problems.push(`update ${i + 1} of the current epoch for a pending request rejected`);
    }
  });

  // A caller reading from its request on: never an answer that did not commit.
  let answered = 0;
  let missed = 0;
  log.forEach((e, i) => {
    if (e.entry.type !== 'request') return;
    const id = e.entry.id;
    // Only the first request for an id is a call awaiting its update (a repeat comes after it may have applied).
    if (log.findIndex((x) => x.entry.type === 'request' && x.entry.id === id) !== i) return;
    const tracker = new ReplyTracker(id);
    let decidedAt = -1;
    for (let j = i + 1; j < log.length && decidedAt < 0; j++)
      if (tracker.offer(log[j]!.entry) !== null) decidedAt = j;
    const committedAt = acceptedUpdateAt.get(id);
    if (decidedAt >= 0 && decidedAt !== committedAt)
      problems.push(`caller of ${id} took update ${decidedAt + 1}, committed is ${committedAt}`);
    if (decidedAt >= 0) answered++;
    else if (committedAt !== undefined) {
      missed++;
      // The one way to wait in vain: a claim that was refused came between the request and its update.
      const committed = log[committedAt]!.entry as UpdateEntry;
      const refusedClaimBetween = log
        .slice(i + 1, committedAt)
        .some(
          (x, k) =>
            x.entry.type === 'lease' &&
            x.entry.epoch > committed.epoch &&
            !verdicts[i + 1 + k]!.accepted,
        );
      if (!refusedClaimBetween)
        problems.push(`caller of ${id} missed its committed update ${committedAt + 1}`);
    }
  });
  return {
    problems,
    stats: {
      entries: log.length,
      epochs: epoch,
      applied: applied.size,
      staleRejected,
      invalidClaims,
      answered,
      missed,
    },
  };
}

test('simulation: at most one primary per epoch, no stale update applied, each request once, callers never answered early', (t) => {
  const firstSeed = Number(process.env['ORDO_PB_SIM_SEED'] ?? 1);
  const seeds = Number(process.env['ORDO_PB_SIM_SEEDS'] ?? 500);
  t.log(`seeds ${firstSeed} to ${firstSeed + seeds - 1} (ORDO_PB_SIM_SEED, ORDO_PB_SIM_SEEDS)`);
  const totals: Record<string, number> = {};
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const { problems, stats } = simulate(seed);
    if (problems.length > 0) return t.fail(`seed ${seed}: ${problems.slice(0, 5).join('; ')}`);
    for (const [k, v] of Object.entries(stats)) totals[k] = (totals[k] ?? 0) + v;
  }
  t.log(JSON.stringify(totals));
  // The runs did exercise the rules: failovers, fenced updates, refused early claims.
  t.true(totals['epochs']! > seeds);
  t.true(totals['staleRejected']! > 0);
  t.true(totals['invalidClaims']! > 0);
  t.true(totals['applied']! > seeds);
});
