import type { DeliveredMessage, DelivererRecord, History, PublishRecord } from './history.js';

/** The anomalies the checker looks for; each is a broken guarantee of docs/protocol.md. */
export const VIOLATION_KINDS = [
  'lost',
  'wrong-seq',
  'unexpected',
  'duplicated',
  'conflict',
  'not-prefix',
  'gap',
  'fifo',
  'nodes-not-converged',
  'chain-mismatch',
  'digest-mismatch',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  readonly kind: ViolationKind;
  /** The deliverer, node or replica it was found at ('' when it concerns the whole history). */
  readonly where: string;
  readonly detail: string;
}

export interface CheckResult {
  readonly ok: boolean;
  /** How many of each kind were found (all of them, also past the listed ones). */
  readonly counts: Readonly<Record<ViolationKind, number>>;
  /** The first violations of each kind, at most `maxListedPerKind` each. */
  readonly violations: readonly Violation[];
  readonly publishes: {
    attempted: number;
    acknowledged: number;
    failed: number;
    uncertain: number;
  };
  readonly deliverers: readonly { name: string; delivered: number; lastSeq: number }[];
}

export interface CheckOptions {
  /** Violations listed per kind; the rest are only counted (the report stays small). */
  readonly maxListedPerKind?: number;
}

const keyOf = (m: { producerId: string; producerSeq: number }) =>
  `${m.producerId}#${m.producerSeq}`;

const sameMessage = (a: DeliveredMessage, b: DeliveredMessage) =>
  a.kind === b.kind &&
  a.producerId === b.producerId &&
  a.producerSeq === b.producerSeq &&
  a.payload === b.payload;

const describe = (m: DeliveredMessage) =>
  m.kind === 'data' ? `${keyOf(m)} ${JSON.stringify(m.payload.slice(0, 40))}` : m.kind;

/**
 * Checks a recorded history against Ordo's guarantees. It expects the run
 * to have been healed and drained, so that every deliverer read to the end:
 * a deliverer that stopped early shows up as losing what it did not read.
 * Pure: no I/O, the same history gives the same result.
 */
export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  const maxListed = options.maxListedPerKind ?? 20;
  const counts = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<
    ViolationKind,
    number
  >;
  const violations: Violation[] = [];
  const report = (kind: ViolationKind, where: string, detail: string) => {
    counts[kind]++;
    if (counts[kind] <= maxListed) violations.push({ kind, where, detail });
  };

  // Publishes that failed carry no producerSeq (0): they are found by payload.
  const published = new Map<string, PublishRecord>();
  for (const p of history.publishes) {
    if (p.producerSeq > 0) published.set(keyOf(p), p);
    published.set(`payload:${p.payload}`, p);
  }

  // The reference stream: for each seq, the first message any deliverer saw
  // there. Two different messages at one seq break total order outright.
  const reference = new Map<number, DeliveredMessage>();
  const conflictsReported = new Set<number>();
  for (const d of history.deliverers) {
    for (const m of d.messages) {
      const seen = reference.get(m.seq);
      if (seen === undefined) reference.set(m.seq, m);
      else if (!sameMessage(seen, m) && !conflictsReported.has(m.seq)) {
        conflictsReported.add(m.seq);
        report(
          'conflict',
          d.name,
          `seq ${m.seq} carries ${describe(m)} here, ${describe(seen)} elsewhere`,
        );
      }
    }
  }
  const referenceLastSeq = Math.max(0, ...reference.keys());

  for (const d of history.deliverers)
    checkDeliverer(d, reference, referenceLastSeq, published, report);

  for (const p of history.publishes) {
    if (p.outcome !== 'ok') continue;
    for (const d of history.deliverers) {
      const ackSeq = p.seq ?? 0;
      // A deliverer that started later is not expected to hold what came before.
      if ((ackSeq > 0 && ackSeq < d.fromSeq) || (ackSeq === 0 && d.fromSeq > 1)) continue;
      const at = positionOf(d, p);
      if (at === undefined) {
        report(
          'lost',
          d.name,
          `${keyOf(p)} acknowledged at seq ${p.seq ?? '?'} but never delivered`,
        );
      } else if (p.seq !== undefined && p.seq > 0 && at !== p.seq) {
        report('wrong-seq', d.name, `${keyOf(p)} acknowledged at seq ${p.seq}, delivered at ${at}`);
      }
    }
  }

  checkNodes(history, report);
  checkReplicas(history, report);

  const outcomes = {
    attempted: history.publishes.length,
    acknowledged: 0,
    failed: 0,
    uncertain: 0,
  };
  for (const p of history.publishes) {
    if (p.outcome === 'ok') outcomes.acknowledged++;
    else if (p.outcome === 'failed') outcomes.failed++;
    else outcomes.uncertain++;
  }
  return {
    ok: violations.length === 0,
    counts,
    violations,
    publishes: outcomes,
    deliverers: history.deliverers.map((d) => ({
      name: d.name,
      delivered: d.messages.filter((m) => m.kind === 'data').length,
      lastSeq: d.messages.at(-1)?.seq ?? 0,
    })),
  };
}

// Each deliverer's own stream gets an index from message key to seq on first
// use, so that the loss check over every acknowledged publish stays linear.
const positions = new WeakMap<DelivererRecord, Map<string, number>>();

function positionOf(d: DelivererRecord, p: PublishRecord): number | undefined {
  let index = positions.get(d);
  if (index === undefined) {
    index = new Map();
    for (const m of d.messages)
      if (m.kind === 'data' && !index.has(keyOf(m))) index.set(keyOf(m), m.seq);
    positions.set(d, index);
  }
  return index.get(keyOf(p));
}

type Report = (kind: ViolationKind, where: string, detail: string) => void;

function checkDeliverer(
  d: DelivererRecord,
  reference: ReadonlyMap<number, DeliveredMessage>,
  referenceLastSeq: number,
  published: ReadonlyMap<string, PublishRecord>,
  report: Report,
): void {
  const seqsSeen = new Set<number>();
  const keysSeen = new Map<string, number>();
  const lastProducerSeq = new Map<string, number>();
  let previousSeq = d.fromSeq - 1;
  let notPrefixReported = false;
  for (const m of d.messages) {
    if (seqsSeen.has(m.seq)) {
      report('duplicated', d.name, `seq ${m.seq} delivered twice`);
      continue;
    }
    seqsSeen.add(m.seq);
    if (m.seq <= previousSeq) {
      report('not-prefix', d.name, `seq ${m.seq} delivered after seq ${previousSeq}`);
      notPrefixReported = true;
    } else if (d.everySeq && m.seq !== previousSeq + 1) {
      report('gap', d.name, `seqs ${previousSeq + 1}..${m.seq - 1} skipped`);
    }
    previousSeq = Math.max(previousSeq, m.seq);
    if (!notPrefixReported && !sameMessage(reference.get(m.seq)!, m)) {
      report('not-prefix', d.name, `differs from the other deliverers at seq ${m.seq}`);
      notPrefixReported = true;
    }
    if (m.kind !== 'data') continue;
    const key = keyOf(m);
    const earlier = keysSeen.get(key);
    if (earlier !== undefined) {
      report('duplicated', d.name, `${key} delivered at seqs ${earlier} and ${m.seq}`);
      continue;
    }
    keysSeen.set(key, m.seq);
    const publish = published.get(key) ?? published.get(`payload:${m.payload}`);
    if (publish === undefined) {
      report('unexpected', d.name, `seq ${m.seq}: ${key} was never published`);
    } else if (
      publish.payload !== m.payload ||
      (publish.producerSeq > 0 && keyOf(publish) !== key)
    ) {
      report(
        'unexpected',
        d.name,
        `seq ${m.seq}: ${key} carries a payload that was never published`,
      );
    } else if (publish.outcome === 'failed') {
      report(
        'unexpected',
        d.name,
        `seq ${m.seq}: ${key} delivered although its publish failed for sure (${publish.error ?? 'failed'})`,
      );
    }
    const last = lastProducerSeq.get(m.producerId) ?? 0;
    if (m.producerSeq <= last) {
      report(
        'fifo',
        d.name,
        `producer ${m.producerId}: producerSeq ${m.producerSeq} at seq ${m.seq} after ${last}`,
      );
    }
    lastProducerSeq.set(m.producerId, Math.max(last, m.producerSeq));
  }
  // A stream that reads every seq but stops short of the others' end, or a
  // data-only stream that misses a data entry the others have before its own
  // end, is not a prefix of the longest.
  if (notPrefixReported) return;
  const end = d.everySeq ? referenceLastSeq : previousSeq;
  for (let seq = d.fromSeq; seq <= end; seq++) {
    const m = reference.get(seq);
    if (m === undefined || seqsSeen.has(seq)) continue;
    if (!d.everySeq && m.kind !== 'data') continue;
    report('not-prefix', d.name, `lacks seq ${seq} (${describe(m)}) that others delivered`);
    return;
  }
}

function checkNodes(history: History, report: Report): void {
  const nodes = history.nodes;
  if (nodes.length === 0) return;
  const lastSeqs = new Set(nodes.map((n) => n.lastSeq));
  if (lastSeqs.size > 1) {
    report(
      'nodes-not-converged',
      '',
      `after draining the nodes end at different seqs: ${nodes.map((n) => `${n.id}=${n.lastSeq}`).join(', ')}`,
    );
  }
  const byLastSeq = new Map<number, { id: string; hash: string }[]>();
  for (const n of nodes) {
    if (n.logChainHash === '') continue;
    const group = byLastSeq.get(n.lastSeq) ?? [];
    group.push({ id: n.id, hash: n.logChainHash });
    byLastSeq.set(n.lastSeq, group);
  }
  for (const [seq, group] of byLastSeq) {
    if (new Set(group.map((g) => g.hash)).size > 1) {
      report(
        'chain-mismatch',
        group.map((g) => g.id).join(','),
        `hash chains differ at seq ${seq}: ${group.map((g) => `${g.id}=${g.hash.slice(0, 12)}`).join(', ')}`,
      );
    }
  }
}

function checkReplicas(history: History, report: Report): void {
  const bySeq = new Map<number, { id: string; digest: string }[]>();
  for (const r of history.replicas) {
    for (const d of r.digests) {
      const group = bySeq.get(d.seq) ?? [];
      if (!group.some((g) => g.id === r.id)) group.push({ id: r.id, digest: d.digest });
      bySeq.set(d.seq, group);
    }
  }
  for (const [seq, group] of [...bySeq].sort((a, b) => a[0] - b[0])) {
    if (new Set(group.map((g) => g.digest)).size > 1) {
      report(
        'digest-mismatch',
        group.map((g) => g.id).join(','),
        `replica digests differ at seq ${seq}: ${group.map((g) => `${g.id}=${g.digest.slice(0, 12)}`).join(', ')}`,
      );
    }
  }
}
