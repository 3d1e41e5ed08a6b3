/**
 * The README's client example, runnable: start `npx ordo dev --port 7001`,
 * then `node dist/clients/examples/quickstart.js [brokers]`.
 */
import { Publisher, Subscriber } from '../index.js';

// host:port or tcp://host:port; a malformed one throws InvalidRequestError here.
const brokers = (process.argv[2] ?? '127.0.0.1:7001,127.0.0.1:7004,127.0.0.1:7007').split(',');

// Publish: resolves with the global seq once a majority holds the message.
const publisher = new Publisher({ brokers });
const ack = await publisher.publish('orders', JSON.stringify({ id: 1, qty: 5 }));
console.log(`order got seq ${ack.seq}`);

// Subscribe: the committed stream in order, from any seq, from any broker.
const subscriber = new Subscriber({ brokers, fromSeq: 1, topics: ['orders'] });
for await (const m of subscriber) {
  const payload = new TextDecoder().decode(m.payload);
  console.log(m.seq, m.topic, payload, m.producerId, m.producerSeq);
  if (m.seq >= ack.seq) break;
}
await subscriber.close();
await publisher.close();
