/**
 * A program that depends on the installed `ordo` package, as another
 * project would: type-checked strictly (skipLibCheck off) against the
 * package's own declarations, then run against a live cluster whose
 * endpoints are in ORDO_BROKERS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdminClient,
  type BrokerErrorCode,
  InvalidRequestError,
  type Message,
  type NodeStatus,
  Publisher,
  type StateMachine,
  Subscriber,
  startReplica,
} from 'ordo';

// The public types are the package's own, not `any`.
type IsAny<T> = 0 extends 1 & T ? true : false;
const nodeStatusIsTyped: IsAny<NodeStatus> = false;
const messageIsTyped: IsAny<Message> = false;
const codes: BrokerErrorCode[] = ['malformed', 'seq-unavailable'];

const brokers = (process.env['ORDO_BROKERS'] ?? '').split(',');

try {
  new Publisher({ brokers: ['localhost'] });
  throw new Error('a malformed endpoint was accepted');
} catch (error) {
  if (!(error instanceof InvalidRequestError)) throw error;
}

const publisher = new Publisher({ brokers });
// @ts-expect-error: a topic is a string.
void publisher.publish(42, 'x').catch(() => {});
const ack = await publisher.publish('consumer', 'hello from a dependent project');
await publisher.drain();

const subscriber = new Subscriber({ brokers, fromSeq: ack.seq, topics: ['consumer'] });
let received = '';
for await (const message of subscriber) {
  received = new TextDecoder().decode(message.payload);
  break;
}
await subscriber.close();

const admin = new AdminClient(brokers);
const statuses = await admin.statusAll();
const leaders = statuses.filter((b) => b.status?.role === 'leader').length;
await admin.close();

function counter(): StateMachine<'count', number> {
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
const dataDir = await mkdtemp(join(tmpdir(), 'ordo-consumer-'));
const replica = await startReplica({
  brokers,
  plugin: 'consumer-counter',
  stateMachine: counter,
  dataDir,
  topics: ['consumer'],
});
await replica.whenApplied(ack.seq, 30_000);
const counted = replica.query<'count', number>('count');
await replica.close();
await publisher.close();
await rm(dataDir, { recursive: true, force: true });

console.log(
  JSON.stringify({
    seq: ack.seq,
    received,
    leaders,
    counted,
    typed: !nodeStatusIsTyped && !messageIsTyped && codes.length === 2,
  }),
);
