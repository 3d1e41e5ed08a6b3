import test from 'ava';
import * as zmq from 'zeromq';
import { AdminClient, Publisher } from '../../clients/index.js';
import { LIMITS } from '../../src/limits.js';
import { ordo } from '../../src/wire/schema.js';
import { eventually, startCluster } from '../helpers/cluster.js';

async function sendRaw(endpoint: string, frames: Buffer[]): Promise<ordo.ClientResponse> {
  const socket = new zmq.Dealer({ linger: 0, receiveTimeout: 5000 });
  socket.connect(endpoint);
  try {
    await socket.send(frames);
    const [reply] = await socket.receive();
    return ordo.ClientResponse.decode(reply!);
  } finally {
    socket.close();
  }
}

test('malformed and oversized client frames get a clear error and the node keeps serving', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const endpoint = cluster.clientEndpoints[0]!;

  const garbage = await sendRaw(endpoint, [Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01])]);
  t.is(garbage.error?.code, ordo.ErrorCode.ERROR_CODE_MALFORMED);
  t.regex(garbage.error?.message ?? '', /cannot decode client request/);

  const empty = await sendRaw(endpoint, [
    Buffer.from(ordo.ClientRequest.encode({ requestId: 5 }).finish()),
  ]);
  t.is(empty.error?.code, ordo.ErrorCode.ERROR_CODE_MALFORMED);
  t.regex(empty.error?.message ?? '', /no body/);

  const noTopic = ordo.ClientRequest.encode({
    requestId: 6,
    publish: { producerId: 'x', items: [{ producerSeq: 1, topic: '', payload: Buffer.from('a') }] },
  }).finish();
  const noTopicReply = await sendRaw(endpoint, [Buffer.from(noTopic)]);
  t.regex(noTopicReply.error?.message ?? '', /topic must not be empty/);

  const oversized = ordo.ClientRequest.encode({
    requestId: 7,
    publish: {
      producerId: 'x',
      items: [{ producerSeq: 1, topic: 't', payload: Buffer.alloc(LIMITS.maxPayloadBytes + 1) }],
    },
  }).finish();
  const oversizedReply = await sendRaw(endpoint, [Buffer.from(oversized)]);
  t.is(oversizedReply.error?.code, ordo.ErrorCode.ERROR_CODE_TOO_LARGE);

  const extraFrames = await sendRaw(endpoint, [Buffer.from('a'), Buffer.from('b')]);
  t.is(extraFrames.error?.code, ordo.ErrorCode.ERROR_CODE_MALFORMED);

  // Garbage on the node-to-node sockets too: it is dropped and counted, never reaches the log.
  const config = JSON.parse((await import('node:fs')).readFileSync(cluster.configPath, 'utf8')) as {
    nodes: { peerPort: number }[];
  };
  const peer = new zmq.Dealer({ linger: 2000 });
  peer.connect(`tcp://127.0.0.1:${config.nodes[0]!.peerPort}`);
  await peer.send(Buffer.from('definitely not a peer envelope'));
  await peer.send(
    Buffer.from(
      ordo.PeerEnvelope.encode({
        clusterId: 'another-cluster',
        from: 'n9',
        epoch: 99,
        timeoutNow: {},
      }).finish(),
    ),
  );
  peer.close();

  const admin = new AdminClient([endpoint]);
  t.teardown(() => admin.close());
  const publisher = new Publisher({ brokers: cluster.clientEndpoints });
  t.teardown(() => publisher.close());
  const ack = await publisher.publish('after', 'still alive');
  t.true(ack.seq > 0);
  // Five client frames and two peer frames were rejected.
  const status = await eventually(
    async () => {
      const s = await admin.status(endpoint);
      return (s.badFrames ?? 0) >= 7 ? s : null;
    },
    5000,
    'the node to count 7 bad frames',
  );
  t.true(status.epoch < 99, 'a foreign envelope must not move the epoch');
});
