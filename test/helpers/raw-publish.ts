import * as zmq from 'zeromq';
import { ordo } from '../../src/wire/schema.js';

/**
 * Publishes one message with a raw DEALER (no client library, so no retry)
 * and returns the broker's first result: what the broker itself answered.
 */
export async function publishRaw(
  endpoint: string,
  producerId: string,
  producerSeq: number,
): Promise<ordo.PublishResult> {
  const socket = new zmq.Dealer({ linger: 0, receiveTimeout: 5000 });
  socket.connect(endpoint);
  try {
    await socket.send(
      Buffer.from(
        ordo.ClientRequest.encode({
          requestId: 1,
          publish: {
            producerId,
            items: [{ producerSeq, topic: 't', payload: Buffer.from('x') }],
          },
        }).finish(),
      ),
    );
    const [frame] = await socket.receive();
    const results = ordo.ClientResponse.decode(frame!).publish?.results ?? [];
    return results[0]! as ordo.PublishResult;
  } finally {
    socket.close();
  }
}
