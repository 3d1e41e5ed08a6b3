/**
 * Runs publishers, subscribers, admin clients and a replica through bad
 * endpoints, early closes, a dead broker and the kill of the sequencer,
 * meant to run under `node --unhandled-rejections=strict`: any error thrown
 * from a timer, an event handler or a forgotten promise kills this process,
 * and the test that starts it fails. Every failure it expects arrives
 * through a promise or an iterator, and is reported as JSON on stdout.
 *
 * Usage: node --unhandled-rejections=strict strict-clients-script.js '<nodes JSON>' <data dir> <dead endpoint>
 */
import {
  AdminClient,
  type Message,
  Publisher,
  type StateMachine,
  Subscriber,
  startReplica,
} from '../../clients/index.js';

interface NodeInfo {
  readonly id: string;
  readonly endpoint: string;
  readonly pid: number;
}

const nodes = JSON.parse(process.argv[2]!) as NodeInfo[];
const dataDir = process.argv[3]!;
const deadEndpoint = process.argv[4]!;
// host:port, without tcp://, as users write it.
const brokers = nodes.map((n) => n.endpoint.replace('tcp://', ''));
const report: Record<string, unknown> = {};

/** The name of what `action` threw or rejected with, or 'none'. */
async function failureOf(action: () => unknown): Promise<string> {
  try {
    await action();
    return 'none';
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

/** Reads a subscriber until `until`, or ends it after `timeoutMs`; returns what it read and how it ended. */
async function read(subscriber: Subscriber, until: (m: Message) => boolean, timeoutMs: number) {
  const messages: Message[] = [];
  const timer = setTimeout(() => void subscriber.close(), timeoutMs);
  let ended = 'closed';
  try {
    for await (const m of subscriber) {
      messages.push(m);
      if (until(m)) {
        ended = 'done';
        break;
      }
    }
  } catch (error) {
    ended = `${(error as Error).name}: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
    await subscriber.close();
  }
  return { messages, ended };
}

// 1. Bad endpoints: thrown by the constructors, never later from inside a timer.
report['badPublisher'] = await failureOf(() => new Publisher({ brokers: ['localhost'] }));
report['badSubscriber'] = await failureOf(() => new Subscriber({ brokers: ['10.0.0.1:99999'] }));
report['badAdmin'] = await failureOf(() => new AdminClient(['ipc:///tmp/ordo']));
report['badReplica'] = await failureOf(() =>
  startReplica({
    brokers: ['tcp://'],
    plugin: 'counter',
    dataDir,
    stateMachine: () => counter(),
  }),
);

// 2. Early closes: every pending call settles with ClosedError, close() twice is fine.
{
  const publisher = new Publisher({ brokers });
  const pending = publisher.publish('early', 'x');
  const closing = publisher.close();
  report['publishAfterEarlyClose'] = await failureOf(() => pending);
  await closing;
  await publisher.close();
  report['publishOnClosed'] = await failureOf(() => publisher.publish('early', 'y'));
  const subscriber = new Subscriber({ brokers, fromSeq: 1 });
  await subscriber.close();
  report['subscriberClosedAtOnce'] = (await read(subscriber, () => false, 5000)).ended;
  const admin = new AdminClient(brokers);
  await admin.close();
  await admin.close();
  const replica = await startReplica({
    brokers,
    plugin: 'early',
    dataDir: `${dataDir}/early`,
    stateMachine: () => counter(),
  });
  const applied = replica.whenApplied(1_000_000, 60_000);
  await replica.close();
  report['replicaWaitAfterEarlyClose'] = await failureOf(() => applied);
  report['replicaDoneAfterEarlyClose'] = await failureOf(() => replica.done);
}

// 3. A broker that is not there: failures come through the promise and the iterator.
{
  const publisher = new Publisher({
    brokers: [deadEndpoint],
    publishTimeoutMs: 1000,
    requestTimeoutMs: 200,
  });
  report['publishToDeadBroker'] = await failureOf(() => publisher.publish('dead', 'x'));
  await publisher.close();
  const subscriber = new Subscriber({ brokers: [deadEndpoint], brokerTimeoutMs: 200 });
  const result = await read(subscriber, () => false, 1500);
  report['subscriberOnDeadBroker'] = { ended: result.ended, failovers: subscriber.stats.failovers };
  const admin = new AdminClient([deadEndpoint], 300);
  report['statusOfDeadBroker'] = (await admin.statusAll())[0]?.error ?? null;
  await admin.close();
}

// 4. A subscription every broker refuses ends the iterator instead of retrying without end.
{
  const topics = Array.from({ length: 300 }, (_, i) => `topic-${i}`);
  const subscriber = new Subscriber({ brokers, topics, brokerTimeoutMs: 500 });
  report['refusedSubscription'] = (await read(subscriber, () => false, 10_000)).ended;
}

// 5. Publisher, subscriber and replica through the kill of the sequencer.
{
  const admin = new AdminClient(brokers);
  const leader = await admin.findLeader();
  const publisher = new Publisher({ brokers });
  const subscriber = new Subscriber({ brokers, fromSeq: 1, topics: ['counted'] });
  const replica = await startReplica({
    brokers,
    plugin: 'counter',
    dataDir: `${dataDir}/main`,
    stateMachine: () => counter(),
    topics: ['counted'],
  });
  const total = 200;
  const acks: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < total; i++) {
    if (i === total / 4 && leader !== null) {
      const victim = nodes.find((n) => n.id === leader.id)!;
      process.kill(victim.pid, 'SIGKILL');
      report['killed'] = victim.id;
    }
    // The second half is published without waiting for each: drain() waits for them all.
    const settled = publisher.publish('counted', `n${i}`).then(
      (ack) => {
        acks.push(ack.seq);
      },
      (error: Error) => {
        failures.push(`${error.name}: ${error.message}`);
      },
    );
    if (i < total / 2) await settled;
  }
  await publisher.drain();
  report['settledAfterDrain'] = acks.length + failures.length;
  acks.sort((a, b) => a - b);
  const lastSeq = acks.at(-1) ?? 0;
  // Read half, then carry on with a new subscriber from resumeSeq.
  const middleSeq = acks[total / 2 - 1] ?? 0;
  const firstHalf = await read(subscriber, (m) => m.seq >= middleSeq, 30_000);
  const resumed = new Subscriber({
    brokers,
    fromSeq: subscriber.resumeSeq,
    topics: ['counted'],
  });
  const secondHalf = await read(resumed, (m) => m.seq >= lastSeq, 30_000);
  await replica.whenApplied(lastSeq, 30_000);
  report['published'] = { acked: acks.length, failures };
  const readSeqs = [...firstHalf.messages, ...secondHalf.messages].map((m) => m.seq);
  report['subscriberRead'] = {
    ended: [firstHalf.ended, secondHalf.ended],
    sameAsAcked: JSON.stringify(readSeqs) === JSON.stringify(acks),
    resumeSeq: resumed.resumeSeq,
    lastSeq,
  };
  report['replicaCount'] = replica.query<null, number>(null);
  await Promise.all([publisher.close(), replica.close(), admin.close()]);
}

console.log(JSON.stringify(report));

/** A state machine that counts the messages it applied. */
function counter(): StateMachine<null, number> {
  let count = 0;
  return {
    apply: () => {
      count++;
    },
    snapshot: () => new TextEncoder().encode(String(count)),
    restore: (bytes) => {
      count = Number(new TextDecoder().decode(bytes));
    },
    query: () => count,
  };
}
