import test from 'ava';
import { LIMITS } from '../../src/limits.js';
import type { ClientFrameSocket } from '../../src/node/client-frame-socket.js';
import { ClientServer } from '../../src/node/client-server.js';
import { NO_FAULTS } from '../../src/node/fault-injection.js';
import { SubscriptionManager } from '../../src/node/subscription-manager.js';
import type { Logger } from '../../src/runtime/logger.js';
import { ordo } from '../../src/wire/schema.js';

const quietLogger = { log() {}, warn() {}, info() {}, debug() {}, error() {} } as unknown as Logger;

test('one identity holds at most its budget of subscriptions over all its connections; another identity and an insecure client are unaffected', (t) => {
  const replies: { client: string; response: ordo.ClientResponse.$Properties }[] = [];
  const manager = new SubscriptionManager(
    { read: async () => [], readPacked: () => false, firstSeq: () => 1 },
    (client, response) => {
      replies.push({ client: client.toString(), response });
      return true;
    },
    NO_FAULTS,
    () => 0,
    quietLogger,
  );
  t.teardown(() => manager.close());
  const subscribe = (client: string, id: number, identity: string | null) =>
    manager.subscribe(
      Buffer.from(client),
      id,
      ordo.SubscribeRequest.create({ subscriptionId: id, fromSeq: 0 }),
      identity,
    );
  // As many connections as the identity budget needs, each at its own budget.
  const connections = Math.ceil(
    LIMITS.maxSubscriptionsPerIdentity / LIMITS.maxSubscriptionsPerConnection,
  );
  let id = 0;
  for (let c = 0; c < connections; c++)
    for (let s = 0; s < LIMITS.maxSubscriptionsPerConnection; s++)
      if (id < LIMITS.maxSubscriptionsPerIdentity) subscribe(`alice-${c}`, ++id, 'alice');
  const okCount = () => replies.filter((r) => r.response.ok).length;
  t.is(okCount(), LIMITS.maxSubscriptionsPerIdentity);
  replies.length = 0;
  subscribe('alice-new-connection', ++id, 'alice');
  const refusal = replies.find((r) => r.response.error !== undefined && r.response.error !== null);
  t.is(refusal?.response.error?.code, ordo.ErrorCode.ERROR_CODE_LIMIT);
  t.regex(refusal?.response.error?.message ?? '', /identity 'alice'.*maxSubscriptionsPerIdentity/);
  t.is(manager.limitRefusals, 1);
  replies.length = 0;
  subscribe('bob-0', ++id, 'bob');
  subscribe('insecure-0', ++id, null);
  t.is(okCount(), 2);
  // A subscription given up frees a place for the identity.
  manager.unsubscribe(Buffer.from('alice-0'), 1);
  replies.length = 0;
  subscribe('alice-new-connection', ++id, 'alice');
  t.is(okCount(), 1);
});

test('a request whose buffers cannot be allocated is refused and counted; the node carries on', async (t) => {
  const sent: Uint8Array[][] = [];
  let deliver: ((frames: Buffer[], identity?: string | null) => void) | null = null;
  const socket: ClientFrameSocket = {
    start: async (onFrames) => {
      deliver = onFrames;
    },
    send: (frames) => {
      sent.push(frames);
      return true;
    },
    close() {},
  };
  const server = new ClientServer(socket, quietLogger, { nowMs: () => 0 } as never, () => {});
  let handled = 0;
  await server.start((_client, request) => {
    if (request.body === 'publish') throw new RangeError('Array buffer allocation failed');
    handled++;
  });
  const frame = (body: ordo.ClientRequest.$Properties) =>
    Buffer.from(ordo.ClientRequest.encode(body).finish());
  deliver!([
    Buffer.from('c1'),
    frame({
      requestId: 7,
      publish: {
        producerId: 'p',
        items: [{ producerSeq: 1, topic: 't', payload: Buffer.alloc(8) }],
      },
    }),
  ]);
  deliver!([Buffer.from('c1'), frame({ requestId: 8, status: {} })]);
  t.is(server.allocationFailures, 1);
  t.is(handled, 1, 'the next request is served');
  const reply = ordo.ClientResponse.decode(sent[0]![1]!);
  t.is(reply.requestId, 7);
  t.is(reply.error?.code, ordo.ErrorCode.ERROR_CODE_INTERNAL);
  t.regex(reply.error?.message ?? '', /could not allocate memory/);
  // Any other error is a bug, not a shortage: it is not swallowed.
  await t.throwsAsync(
    async () => {
      const other = new ClientServer(socket, quietLogger, { nowMs: () => 0 } as never, () => {});
      await other.start(() => {
        throw new TypeError('a bug');
      });
      deliver!([Buffer.from('c1'), frame({ requestId: 9, status: {} })]);
    },
    { instanceOf: TypeError },
  );
});
