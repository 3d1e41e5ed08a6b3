import type { ExecutionContext } from 'ava';
import type { Message, PublishAck } from '../../clients/index.js';

const key = (m: { producerId: string; producerSeq: number }) => `${m.producerId}#${m.producerSeq}`;

/**
 * Checks the guarantees on what subscribers received (read with
 * includeControl, from seq 1): every stream is a prefix of the longest, seqs
 * contiguous from 1; no (producerId, producerSeq) twice; every acknowledged
 * message present at the seq it was acknowledged with; each producer's
 * messages in producerSeq order.
 */
export function checkStreams(
  t: ExecutionContext,
  streams: readonly (readonly Message[])[],
  acks: readonly PublishAck[],
): void {
  const longest = streams.reduce((a, b) => (b.length > a.length ? b : a), [] as readonly Message[]);
  for (const [i, m] of longest.entries()) {
    t.is(m.seq, i + 1, `seq ${m.seq} at position ${i}: the stream is not contiguous from 1`);
  }
  for (const [s, stream] of streams.entries()) {
    for (let i = 0; i < stream.length; i++) {
      const a = stream[i]!;
      const b = longest[i]!;
      if (
        a.seq !== b.seq ||
        a.epoch !== b.epoch ||
        key(a) !== key(b) ||
        Buffer.compare(a.payload, b.payload) !== 0
      ) {
        t.fail(`stream ${s} differs from the longest at seq ${b.seq}`);
        return;
      }
    }
  }
  const data = longest.filter((m) => m.kind === 'data');
  const seen = new Map<string, number>();
  const lastByProducer = new Map<string, number>();
  for (const m of data) {
    const k = key(m);
    t.false(seen.has(k), `${k} delivered twice (seqs ${seen.get(k)} and ${m.seq})`);
    seen.set(k, m.seq);
    const last = lastByProducer.get(m.producerId) ?? 0;
    t.true(m.producerSeq > last, `producer ${m.producerId} out of order at seq ${m.seq}`);
    lastByProducer.set(m.producerId, m.producerSeq);
  }
  for (const ack of acks) {
    t.is(
      seen.get(key(ack)),
      ack.seq,
      `acknowledged ${key(ack)} (seq ${ack.seq}) missing or at another seq`,
    );
  }
}
