import test from 'ava';
import { InvalidRequestError } from '../../clients/errors.js';
import { Publisher } from '../../clients/publisher.js';
import { type Message, Subscriber } from '../../clients/subscriber.js';
import { EntryKind } from '../../src/core/types.js';
import { LIMITS } from '../../src/limits.js';
import { ordo } from '../../src/wire/schema.js';
import { seededRandom } from '../core/fixtures.js';
import { ManualClock } from './manual-clock.js';
import { MemoryDialer, ScriptedBroker } from './scripted-broker.js';

const seed = Number(process.env['ORDO_TEST_SEED'] ?? 7);
console.log(`clients-over-memory: seed ${seed} (set ORDO_TEST_SEED to change)`);

/** A publish answer that acknowledges every item, from `firstSeq` on. */
function acknowledgeAll(
  request: { requestId: number; publish: ordo.IPublishRequest },
  firstSeq: number,
): ordo.IClientResponse {
  return {
    requestId: request.requestId,
    publish: {
      results: (request.publish.items ?? []).map((item, i) => ({
        producerSeq: item.producerSeq,
        status: ordo.PublishStatus.PUBLISH_STATUS_OK,
        seq: firstSeq + i,
      })),
    },
  };
}

/** A publish answer of a broker that is not the sequencer, naming `leader` as the one. */
function notLeader(
  request: { requestId: number; publish: ordo.IPublishRequest },
  leader: ordo.ILeaderHint,
): ordo.IClientResponse {
  return {
    requestId: request.requestId,
    publish: {
      results: (request.publish.items ?? []).map((item) => ({
        producerSeq: item.producerSeq,
        status: ordo.PublishStatus.PUBLISH_STATUS_NOT_LEADER,
      })),
      leader,
    },
  };
}

function entry(seq: number): ordo.Entry.$Properties {
  return {
    seq,
    epoch: 1,
    kind: EntryKind.data,
    producerId: 'p-test',
    producerSeq: seq,
    topic: 't',
    payload: new TextEncoder().encode(`m-${seq}`),
    timestampMs: 1000 + seq,
  };
}

test('a publish that times out is sent again, to the next broker, with the same producerId and producerSeq, on virtual time only', async (t) => {
  const clock = new ManualClock();
  const silent = new ScriptedBroker(() => {});
  const answering = new ScriptedBroker((request, from) => {
    if (request.body !== 'publish') return;
    from.respond(acknowledgeAll(request, 41));
  });
  const dialer = new MemoryDialer(
    clock,
    new Map([
      ['tcp://broker-a:7001', silent],
      ['tcp://broker-b:7001', answering],
    ]),
  );
  // Shorter than the default publish timeout (30 s), which would fail the message first.
  const requestTimeoutMs = 20_000;
  const publisher = new Publisher({
    brokers: ['tcp://broker-a:7001', 'tcp://broker-b:7001'],
    requestTimeoutMs,
    runtime: { dialer, clock, random: seededRandom(seed) },
  });
  t.teardown(() => publisher.close());
  const startedRealMs = performance.now();
  const startedVirtualMs = clock.nowMs();

  let settled = false;
  const ack = publisher.publish('t', 'hello').finally(() => {
    settled = true;
  });
  await clock.settle();
  t.is(silent.requestsOf('publish').length, 1, 'the first attempt went to the first broker');
  t.is(answering.requests.length, 0);

  await clock.advance(requestTimeoutMs - 1);
  t.false(settled, 'nothing is retried before the request timeout');
  t.is(answering.requests.length, 0);

  await clock.advance(1);
  const [first] = silent.requestsOf('publish');
  const [retry] = answering.requestsOf('publish');
  t.truthy(retry, 'the timed-out publish was sent again, to the next broker');
  t.is(retry!.publish.producerId, first!.publish.producerId);
  t.is(retry!.publish.producerId, publisher.producerId);
  t.deepEqual(
    retry!.publish.items.map((item) => item.producerSeq),
    [1],
  );
  t.deepEqual(
    first!.publish.items.map((item) => item.producerSeq),
    [1],
  );

  const result = await ack;
  t.deepEqual(result, {
    seq: 41,
    producerId: publisher.producerId,
    producerSeq: 1,
    duplicate: false,
  });
  t.is(clock.nowMs() - startedVirtualMs, requestTimeoutMs);
  t.true(
    performance.now() - startedRealMs < 5000,
    'a 20-second timeout passed in under 5 real seconds',
  );
});

test('two brokers whose stale hints name each other do not send a publisher back and forth: it asks every broker and follows the sequencer', async (t) => {
  const clock = new ManualClock();
  const a = 'tcp://broker-a:7001';
  const b = 'tcp://broker-b:7001';
  const c = 'tcp://broker-c:7001';
  /** A broker that is not the sequencer and names `hint` as the one, for publishes and read indexes alike. */
  const stale = (hint: string) =>
    new ScriptedBroker((request, from) => {
      const leader = { id: hint, clientEndpoint: hint };
      if (request.body === 'readIndex')
        from.respond({
          requestId: request.requestId,
          readIndex: { ok: false, detail: 'not the sequencer', retriable: true, leader },
        });
      if (request.body === 'publish') from.respond(notLeader(request, leader));
    });
  const brokerA = stale(b);
  const brokerB = stale(a);
  // The sequencer is not named by anyone yet: only asking it finds it.
  const sequencer = new ScriptedBroker((request, from) => {
    if (request.body === 'readIndex')
      from.respond({ requestId: request.requestId, readIndex: { ok: true, commitSeq: 9 } });
    if (request.body === 'publish') from.respond(acknowledgeAll(request, 10));
  });
  const dialer = new MemoryDialer(
    clock,
    new Map([
      [a, brokerA],
      [b, brokerB],
      [c, sequencer],
    ]),
  );
  const publisher = new Publisher({
    brokers: [a, b, c],
    runtime: { dialer, clock, random: seededRandom(seed) },
  });
  t.teardown(() => publisher.close());
  const ack = publisher.publish('t', 'hello');
  // Every answer comes at once (deferred work): no timer of the publisher has to run out.
  for (let i = 0; i < 20; i++) await clock.settle();
  const result = await ack;
  t.is(result.seq, 10);
  t.is(sequencer.requestsOf('publish').length, 1, 'the publish reached the sequencer once');
  t.true(
    brokerA.requestsOf('publish').length + brokerB.requestsOf('publish').length <= 2,
    'the stale hints were followed at most once before asking every broker',
  );
  t.is(sequencer.requestsOf('readIndex').length, 1, 'one search found the sequencer');
});

test('a broker that dropped and came back as the sequencer is found by asking it, though hints naming it are still distrusted', async (t) => {
  const clock = new ManualClock();
  const endpoints = ['tcp://broker-a:7001', 'tcp://broker-b:7001', 'tcp://broker-c:7001'];
  let sequencer = endpoints[0]!;
  /**
   * Brokers that are down, with the requests that reached them meanwhile:
   * a ZeroMQ connection queues what is sent while its peer is away and
   * delivers it once the peer is back, so they are answered then.
   */
  const down = new Map<string, (() => void)[]>();
  let nextSeq = 1;
  const seqOf = new Map<number, number>();
  const brokers = new Map(
    endpoints.map((self) => [
      self,
      new ScriptedBroker(function answer(request, from) {
        const held = down.get(self);
        if (held !== undefined) {
          held.push(() => answer(request, from));
          return;
        }
        const leader = { id: sequencer, clientEndpoint: sequencer };
        if (request.body === 'readIndex')
          from.respond({
            requestId: request.requestId,
            readIndex:
              self === sequencer
                ? { ok: true, commitSeq: nextSeq - 1 }
                : { ok: false, detail: 'not the sequencer', retriable: true, leader },
          });
        if (request.body !== 'publish') return;
        if (self === sequencer) {
          // The log dedups: a message sent again (a request held while its
          // broker was down) keeps the seq it got first.
          from.respond({
            requestId: request.requestId,
            publish: {
              results: request.publish.items.map((item) => {
                const producerSeq = item.producerSeq ?? 0;
                const known = seqOf.get(producerSeq);
                if (known === undefined) seqOf.set(producerSeq, nextSeq++);
                return {
                  producerSeq,
                  status:
                    known === undefined
                      ? ordo.PublishStatus.PUBLISH_STATUS_OK
                      : ordo.PublishStatus.PUBLISH_STATUS_DUPLICATE,
                  seq: seqOf.get(producerSeq)!,
                };
              }),
            },
          });
        } else {
          from.respond(notLeader(request, leader));
        }
      }),
    ]),
  );
  /** The broker dies, `next` wins the election, and the publisher sees the connection drop. */
  const crash = async (endpoint: string, next: string): Promise<void> => {
    down.set(endpoint, []);
    for (const side of brokers.get(endpoint)!.connections) side.drop();
    sequencer = next;
    await clock.settle();
  };
  const publisher = new Publisher({
    brokers: endpoints,
    runtime: { dialer: new MemoryDialer(clock, brokers), clock, random: seededRandom(seed) },
  });
  t.teardown(() => publisher.close());
  /** Publishes and lets virtual time run until the ack; returns its seq and the virtual ms it took. */
  const publishTimed = async (payload: string): Promise<{ seq: number; elapsedMs: number }> => {
    const startMs = clock.nowMs();
    let seq: number | null = null;
    void publisher.publish('t', payload).then((ack) => {
      seq = ack.seq;
    });
    while (seq === null && clock.nowMs() - startMs < 10_000) await clock.advance(1);
    if (seq === null) throw new Error(`'${payload}' was not acknowledged in 10 virtual seconds`);
    return { seq, elapsedMs: clock.nowMs() - startMs };
  };

  t.is((await publishTimed('one')).seq, 1);
  // a dies and b wins the election.
  await crash(endpoints[0]!, endpoints[1]!);
  t.is((await publishTimed('two')).seq, 2);
  // a restarts and wins the next election when b dies, well inside the time
  // the publisher distrusts hints naming a (LIMITS.publisherSuspectBrokerMs).
  const held = down.get(endpoints[0]!)!;
  down.delete(endpoints[0]!);
  for (const answerLate of held) answerLate();
  await crash(endpoints[1]!, endpoints[0]!);
  const three = await publishTimed('three');
  t.is(three.seq, 3);
  t.true(
    three.elapsedMs < LIMITS.publisherSuspectBrokerMs / 10,
    `found the restarted sequencer in ${three.elapsedMs} virtual ms`,
  );
});

test('the producer id is drawn from the injected randomness, so one seed gives one id', (t) => {
  const clock = new ManualClock();
  const dialer = new MemoryDialer(clock, new Map());
  const ids = [seed, seed, seed + 1].map((s) => {
    const publisher = new Publisher({
      brokers: ['tcp://broker-a:7001'],
      runtime: { dialer, clock, random: seededRandom(s) },
    });
    publisher.close();
    return publisher.producerId;
  });
  t.is(ids[0], ids[1]);
  t.not(ids[0], ids[2]);
  t.regex(ids[0]!, /^p-[0-9a-f]{32}$/);
});

test('a subscriber that sees a hole between delivery ranges NACKs from the first missing seq and reads the stream in order', async (t) => {
  const clock = new ManualClock();
  const broker = new ScriptedBroker((request, from) => {
    switch (request.body) {
      case 'subscribe': {
        const subscriptionId = request.subscribe.subscriptionId;
        from.respond({ requestId: request.requestId, ok: {} });
        // 1..2 arrive, 3..4 are lost, then 5..6 arrive.
        from.respond({
          requestId: 0,
          delivery: { subscriptionId, fromSeq: 1, toSeq: 2, entries: [entry(1), entry(2)] },
        });
        from.respond({
          requestId: 0,
          delivery: { subscriptionId, fromSeq: 5, toSeq: 6, entries: [entry(5), entry(6)] },
        });
        return;
      }
      case 'subscriberNack': {
        const { subscriptionId, fromSeq } = request.subscriberNack;
        const seqs = [3, 4, 5, 6].filter((seq) => seq >= fromSeq);
        from.respond({
          requestId: 0,
          delivery: { subscriptionId, fromSeq, toSeq: 6, entries: seqs.map(entry) },
        });
        return;
      }
      default:
    }
  });
  const dialer = new MemoryDialer(clock, new Map([['tcp://broker-a:7001', broker]]));
  const subscriber = new Subscriber({
    brokers: ['tcp://broker-a:7001'],
    fromSeq: 1,
    runtime: { dialer, clock, random: seededRandom(seed) },
  });
  // Not awaited: close() waits a grace period on the manual clock, which only the test moves.
  t.teardown(() => {
    void subscriber.close();
  });

  await clock.settle();
  const [subscribe] = broker.requestsOf('subscribe');
  t.is(subscribe?.subscribe.fromSeq, 1);
  const nacks = broker.requestsOf('subscriberNack');
  t.is(nacks.length, 1, 'the hole was NACKed once');
  t.deepEqual(
    { ...nacks[0]!.subscriberNack },
    {
      subscriptionId: subscribe!.subscribe.subscriptionId,
      fromSeq: 3,
    },
  );
  t.is(subscriber.stats.gapsDetected, 1);

  const read: Message[] = [];
  for await (const message of subscriber) {
    read.push(message);
    if (message.seq === 6) break;
  }
  t.deepEqual(
    read.map((m) => m.seq),
    [1, 2, 3, 4, 5, 6],
  );
  t.is(new TextDecoder().decode(read[2]!.payload), 'm-3');
  t.is(subscriber.consumedSeq, 6);
});

test('a silent broker is left for the next one after brokerTimeoutMs of virtual time, resuming from the next seq needed', async (t) => {
  const clock = new ManualClock();
  const silent = new ScriptedBroker((request, from) => {
    if (request.body !== 'subscribe') return;
    const subscriptionId = request.subscribe.subscriptionId;
    from.respond({ requestId: request.requestId, ok: {} });
    from.respond({
      requestId: 0,
      delivery: { subscriptionId, fromSeq: 1, toSeq: 2, entries: [entry(1), entry(2)] },
    });
  });
  const next = new ScriptedBroker((request, from) => {
    if (request.body === 'subscribe') from.respond({ requestId: request.requestId, ok: {} });
  });
  const dialer = new MemoryDialer(
    clock,
    new Map([
      ['tcp://broker-a:7001', silent],
      ['tcp://broker-b:7001', next],
    ]),
  );
  const brokerTimeoutMs = 1500;
  const subscriber = new Subscriber({
    brokers: ['tcp://broker-a:7001', 'tcp://broker-b:7001'],
    fromSeq: 1,
    brokerTimeoutMs,
    runtime: { dialer, clock, random: seededRandom(seed) },
  });
  // Not awaited: close() waits a grace period on the manual clock, which only the test moves.
  t.teardown(() => {
    void subscriber.close();
  });

  await clock.settle();
  await clock.advance(brokerTimeoutMs);
  t.is(next.requestsOf('subscribe').length, 0, 'still patient at exactly brokerTimeoutMs');
  await clock.advance(100);
  const resumed = next.requestsOf('subscribe');
  t.is(resumed.length, 1, 'resumed on the next broker');
  t.is(resumed[0]!.subscribe.fromSeq, 3);
  t.is(subscriber.stats.failovers, 1);
  t.true(silent.connections[0]!.closed, 'the connection to the silent broker was closed');
});

test('a producer id the brokers would refuse is refused at construction, naming the limit', (t) => {
  const clock = new ManualClock();
  const dialer = new MemoryDialer(clock, new Map());
  const error = t.throws(
    () =>
      new Publisher({
        brokers: ['tcp://broker-a:7001'],
        producerId: 'x'.repeat(LIMITS.maxProducerIdBytes + 1),
        runtime: { dialer, clock },
      }),
    { instanceOf: InvalidRequestError },
  );
  t.regex(error.message, new RegExp(`1 to ${LIMITS.maxProducerIdBytes} bytes`));
  const atLimit = new Publisher({
    brokers: ['tcp://broker-a:7001'],
    producerId: 'x'.repeat(LIMITS.maxProducerIdBytes),
    runtime: { dialer, clock },
  });
  atLimit.close();
  t.is(atLimit.producerId.length, LIMITS.maxProducerIdBytes);
});

test('a message refused for good leaves no gap: the messages after it, in flight in other requests, take its producerSeq and commit once, in order', async (t) => {
  const clock = new ManualClock();
  // A broker with a strict producer table, as the sequencer keeps one: the
  // next producerSeq or nothing; a topic named 'forbidden' is refused.
  const log: string[] = [];
  let lastProducerSeq = 0;
  const broker = new ScriptedBroker((request, from) => {
    if (request.body !== 'publish') return;
    const results = request.publish.items.map((item) => {
      const producerSeq = item.producerSeq ?? 0;
      if (item.topic === 'forbidden')
        return { producerSeq, status: ordo.PublishStatus.PUBLISH_STATUS_FORBIDDEN, detail: 'no' };
      if (producerSeq <= lastProducerSeq)
        return { producerSeq, status: ordo.PublishStatus.PUBLISH_STATUS_DUPLICATE, seq: 0 };
      if (producerSeq !== lastProducerSeq + 1)
        return {
          producerSeq,
          status: ordo.PublishStatus.PUBLISH_STATUS_OUT_OF_ORDER,
          expectedProducerSeq: lastProducerSeq + 1,
        };
      lastProducerSeq = producerSeq;
      log.push(new TextDecoder().decode(item.payload));
      return { producerSeq, status: ordo.PublishStatus.PUBLISH_STATUS_OK, seq: log.length };
    });
    from.respond({ requestId: request.requestId, publish: { results } });
  });
  const dialer = new MemoryDialer(clock, new Map([['tcp://broker-a:7001', broker]]));
  const publisher = new Publisher({
    brokers: ['tcp://broker-a:7001'],
    // One message per request: the ones after the refused one are in flight on their own.
    maxBatchMessages: 1,
    runtime: { dialer, clock, random: seededRandom(seed) },
  });
  t.teardown(() => publisher.close());
  const outcomes = Promise.allSettled([
    publisher.publish('t', 'one'),
    publisher.publish('forbidden', 'refused'),
    publisher.publish('t', 'three'),
    publisher.publish('t', 'four'),
  ]);
  for (let i = 0; i < 20 && log.length < 3; i++)
    await clock.advance(LIMITS.publisherBusyBackoffMaxMs);
  const [one, refused, three, four] = await outcomes;
  t.is(refused!.status, 'rejected');
  t.is((refused as PromiseRejectedResult).reason.name, 'ForbiddenError');
  const acks = [one, three, four].map(
    (o) =>
      (o as PromiseFulfilledResult<{ seq: number; producerSeq: number; producerId: string }>).value,
  );
  t.deepEqual(
    acks.map((a) => [a.seq, a.producerSeq]),
    [
      [1, 1],
      [2, 2],
      [3, 3],
    ],
  );
  t.true(
    acks.every((a) => a.producerId === publisher.producerId),
    'one session throughout',
  );
  t.deepEqual(log, ['one', 'three', 'four']);
  // The next message continues from there.
  const five = publisher.publish('t', 'five');
  await clock.settle();
  t.is((await five).producerSeq, 4);
  const sent = broker
    .requestsOf('publish')
    .flatMap((r) => r.publish.items.map((i) => i.producerSeq));
  t.true(sent.length >= 6, `the messages after the gap went again: ${sent.join(',')}`);
});
