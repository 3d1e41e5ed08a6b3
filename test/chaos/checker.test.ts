import test from 'ava';
import { availabilityOf } from '../../chaos/availability.js';
import { checkHistory, type ViolationKind } from '../../chaos/checker.js';
import type { DeliveredMessage, History, PublishRecord } from '../../chaos/history.js';

// A clean history: two producers, an epoch-start at seq 1, five messages,
// two deliverers that read everything, two nodes and two replicas agreeing.
const publish = (
  producerId: string,
  producerSeq: number,
  seq: number,
  endMs = 1000 + seq,
): PublishRecord => ({
  publisher: producerId,
  producerId,
  producerSeq,
  payload: `${producerId}-${producerSeq}`,
  startMs: endMs - 5,
  endMs,
  outcome: 'ok',
  seq,
});

const message = (seq: number, producerId: string, producerSeq: number): DeliveredMessage => ({
  seq,
  kind: 'data',
  producerId,
  producerSeq,
  payload: `${producerId}-${producerSeq}`,
});

const epochStart = (seq: number): DeliveredMessage => ({
  seq,
  kind: 'epoch-start',
  producerId: '',
  producerSeq: 0,
  payload: '',
});

const stream: DeliveredMessage[] = [
  epochStart(1),
  message(2, 'a', 1),
  message(3, 'b', 1),
  message(4, 'a', 2),
  message(5, 'b', 2),
  message(6, 'a', 3),
];

function cleanHistory(): History {
  return {
    version: 1,
    startMs: 1000,
    healedMs: 1010,
    endMs: 1020,
    publishes: [
      publish('a', 1, 2),
      publish('b', 1, 3),
      publish('a', 2, 4),
      publish('b', 2, 5),
      publish('a', 3, 6),
    ],
    deliverers: [
      { name: 's1', fromSeq: 1, everySeq: true, messages: [...stream] },
      { name: 's2', fromSeq: 1, everySeq: true, messages: [...stream] },
    ],
    nodes: [
      { id: 'n1', lastSeq: 6, commitSeq: 6, logChainHash: 'abc' },
      { id: 'n2', lastSeq: 6, commitSeq: 6, logChainHash: 'abc' },
    ],
    replicas: [
      { id: 'r1', appliedSeq: 6, digests: [{ seq: 6, digest: 'd6' }] },
      { id: 'r2', appliedSeq: 6, digests: [{ seq: 6, digest: 'd6' }] },
    ],
    faults: [],
  };
}

function onlyKinds(
  t: import('ava').ExecutionContext,
  history: History,
  expected: ViolationKind[],
): void {
  const result = checkHistory(history);
  t.false(result.ok, 'the checker accepted a broken history');
  const found = Object.entries(result.counts)
    .filter(([, n]) => n > 0)
    .map(([k]) => k)
    .sort();
  t.deepEqual(found, [...expected].sort(), JSON.stringify(result.violations));
}

// The publish of seq `seq` timed out: the message may or may not be in the stream.
const uncertainAt = (h: History, seq: number): History => ({
  ...h,
  publishes: h.publishes.map((p) =>
    p.seq === seq ? { ...p, outcome: 'uncertain', error: 'TimeoutError' } : p,
  ),
});

const withStream = (h: History, name: string, messages: DeliveredMessage[]): History => ({
  ...h,
  deliverers: h.deliverers.map((d) => (d.name === name ? { ...d, messages } : d)),
});

test('a clean history passes', (t) => {
  const result = checkHistory(cleanHistory());
  t.true(result.ok, JSON.stringify(result.violations));
  t.deepEqual(result.publishes, { attempted: 5, acknowledged: 5, failed: 0, uncertain: 0 });
});

test('an acknowledged message missing from every deliverer is lost', (t) => {
  const h = cleanHistory();
  onlyKinds(t, { ...h, publishes: [...h.publishes, publish('c', 1, 7)] }, ['lost']);
});

test('an acknowledged message missing from one deliverer is lost there (and that stream is no prefix)', (t) => {
  const h = cleanHistory();
  const result = checkHistory(
    withStream(
      h,
      's2',
      stream.filter((m) => m.seq !== 4),
    ),
  );
  t.true(
    result.counts.lost === 1 &&
      result.violations.some((v) => v.kind === 'lost' && v.where === 's2'),
  );
  t.true(result.counts.gap === 1);
});

test('a message delivered at another seq than it was acknowledged with is flagged', (t) => {
  const h = cleanHistory();
  onlyKinds(t, { ...h, publishes: h.publishes.map((p) => (p.seq === 4 ? { ...p, seq: 5 } : p)) }, [
    'wrong-seq',
  ]);
});

test('a message never published is unexpected', (t) => {
  const h = cleanHistory();
  const extra = [...stream, message(7, 'z', 1)];
  onlyKinds(t, withStream(withStream(h, 's1', extra), 's2', extra), ['unexpected']);
});

test('a message whose publish failed for sure is unexpected when delivered', (t) => {
  const h = cleanHistory();
  const failed: PublishRecord = {
    ...publish('c', 0, 0),
    payload: 'c-1',
    outcome: 'failed',
    error: 'InvalidRequestError',
  };
  const extra = [...stream, message(7, 'c', 1)];
  onlyKinds(
    t,
    { ...withStream(withStream(h, 's1', extra), 's2', extra), publishes: [...h.publishes, failed] },
    ['unexpected'],
  );
});

test('an uncertain publish may be delivered', (t) => {
  const h = cleanHistory();
  const uncertain: PublishRecord = {
    ...publish('c', 0, 0),
    payload: 'c-1',
    outcome: 'uncertain',
    error: 'TimeoutError',
  };
  const extra = [...stream, message(7, 'c', 1)];
  const result = checkHistory({
    ...withStream(withStream(h, 's1', extra), 's2', extra),
    publishes: [...h.publishes, uncertain],
    nodes: h.nodes.map((n) => ({ ...n, lastSeq: 7, commitSeq: 7 })),
  });
  t.true(result.ok, JSON.stringify(result.violations));
});

test('a message delivered twice is duplicated', (t) => {
  const h = cleanHistory();
  const twice = [...stream, { ...message(7, 'a', 2) }];
  onlyKinds(t, withStream(withStream(h, 's1', twice), 's2', twice), ['duplicated']);
});

test('one seq delivered twice to one deliverer is duplicated', (t) => {
  const h = cleanHistory();
  const result = checkHistory(withStream(h, 's1', [...stream, message(6, 'a', 3)]));
  t.false(result.ok);
  t.is(result.counts.duplicated, 1);
});

test('two payloads at one seq are a conflict', (t) => {
  const h = cleanHistory();
  const other = stream.map((m) => (m.seq === 5 ? { ...m, payload: 'forged' } : m));
  const result = checkHistory(withStream(h, 's2', other));
  t.false(result.ok);
  t.is(result.counts.conflict, 1);
  t.is(result.counts['not-prefix'], 1);
});

test('a stream that skips a seq has a gap and is no prefix of the longest', (t) => {
  const h = cleanHistory();
  onlyKinds(
    t,
    withStream(
      uncertainAt(h, 4),
      's2',
      stream.filter((m) => m.seq !== 4),
    ),
    ['gap', 'not-prefix'],
  );
});

test('a data-only stream that misses a data entry is no prefix of the longest', (t) => {
  const h = cleanHistory();
  const dataOnly = stream.filter((m) => m.kind === 'data' && m.seq !== 3);
  const history: History = {
    ...uncertainAt(h, 3),
    deliverers: [
      ...h.deliverers,
      { name: 'replica-feed', fromSeq: 1, everySeq: false, messages: dataOnly },
    ],
  };
  onlyKinds(t, history, ['not-prefix']);
});

test('a stream that stops short of the others is no prefix of the longest', (t) => {
  const h = cleanHistory();
  onlyKinds(t, withStream(uncertainAt(h, 6), 's2', stream.slice(0, -1)), ['not-prefix']);
});

test("a producer's messages out of order break FIFO", (t) => {
  const h = cleanHistory();
  const swapped = stream.map((m) =>
    m.seq === 2 ? message(2, 'a', 2) : m.seq === 4 ? message(4, 'a', 1) : m,
  );
  const publishes = h.publishes.map((p) =>
    p.producerId === 'a' && p.producerSeq === 1
      ? { ...p, seq: 4 }
      : p.producerId === 'a' && p.producerSeq === 2
        ? { ...p, seq: 2 }
        : p,
  );
  onlyKinds(t, { ...withStream(withStream(h, 's1', swapped), 's2', swapped), publishes }, ['fifo']);
});

test('nodes ending at different seqs have not converged', (t) => {
  const h = cleanHistory();
  onlyKinds(t, { ...h, nodes: [h.nodes[0]!, { ...h.nodes[1]!, lastSeq: 5, logChainHash: 'x' }] }, [
    'nodes-not-converged',
  ]);
});

test('different hash chains at one seq are a mismatch', (t) => {
  const h = cleanHistory();
  onlyKinds(t, { ...h, nodes: [h.nodes[0]!, { ...h.nodes[1]!, logChainHash: 'abd' }] }, [
    'chain-mismatch',
  ]);
});

test('replicas with different digests at one seq are a mismatch', (t) => {
  const h = cleanHistory();
  onlyKinds(
    t,
    {
      ...h,
      replicas: [h.replicas[0]!, { id: 'r2', appliedSeq: 6, digests: [{ seq: 6, digest: 'e6' }] }],
    },
    ['digest-mismatch'],
  );
});

test('only a bounded number of violations is listed, all are counted', (t) => {
  const h = cleanHistory();
  const many = Array.from({ length: 50 }, (_, i) => publish('lost', i + 1, 100 + i));
  const result = checkHistory(
    { ...h, publishes: [...h.publishes, ...many] },
    { maxListedPerKind: 5 },
  );
  t.is(result.counts.lost, 100);
  t.is(result.violations.length, 5);
});

test('availability: the longest stretch without an acknowledgement and the time from heal to commit', (t) => {
  const h = cleanHistory();
  const history: History = {
    ...h,
    startMs: 0,
    healedMs: 10_000,
    endMs: 12_000,
    publishes: [
      publish('a', 1, 2, 1000),
      publish('a', 2, 3, 2000),
      publish('a', 3, 4, 7000),
      publish('a', 4, 5, 11_000),
    ],
    faults: [{ kind: 'kill', detail: 'n1', startMs: 2500, endMs: 6000 }],
  };
  const a = availabilityOf(history);
  t.is(a.longestNoCommitMs, 5000);
  t.is(a.longestNoCommitFromMs, 2000);
  t.deepEqual(a.healToCommitMs, [{ fault: 'kill n1', ms: 1000 }]);
});
