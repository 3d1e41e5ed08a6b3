import test from 'ava';
import { OutstandingQueue } from '../../clients/outstanding-queue.js';
import { Prng } from '../sim/prng.js';

const SEED = 41;

test(`the outstanding queue answers as a Map in insertion order would, over seeded operations (seed ${SEED})`, (t) => {
  const prng = new Prng(SEED);
  const random = () => prng.next();
  const queue = new OutstandingQueue<{ seq: number }>();
  const model = new Map<number, { seq: number }>();
  let next = 1;
  let mismatches = 0;
  for (let step = 0; step < 200_000; step++) {
    const roll = random();
    if (roll < 0.5 && model.size < 5000) {
      // Seqs increase, sometimes with a gap (a message refused before it was added).
      next += random() < 0.05 ? 2 : 1;
      const item = { seq: next };
      queue.add(next, item);
      model.set(next, item);
    } else if (roll < 0.93) {
      // Mostly the oldest goes first, as acks come in order; sometimes one from the middle.
      const keys = [...model.keys()];
      if (keys.length === 0) continue;
      const key = random() < 0.8 ? keys[0]! : keys[Math.floor(random() * keys.length)]!;
      t.true(queue.delete(key));
      model.delete(key);
      t.false(queue.delete(key), 'a second delete finds nothing');
    } else if (roll < 0.999) {
      const probe = Math.floor(random() * (next + 3));
      if (queue.get(probe) !== model.get(probe)) mismatches++;
      if (queue.has(probe) !== model.has(probe)) mismatches++;
    } else {
      queue.clear();
      model.clear();
    }
    if (queue.size !== model.size) mismatches++;
    if (queue.first() !== model.values().next().value) mismatches++;
  }
  t.is(mismatches, 0);
  t.deepEqual(queue.values(), [...model.values()]);
});

test('the outstanding queue refuses a seq that does not increase', (t) => {
  const queue = new OutstandingQueue<string>();
  queue.add(5, 'a');
  t.throws(() => queue.add(5, 'b'), { message: /producerSeq 5 added after 5/ });
  queue.clear();
  queue.add(1, 'c');
  t.is(queue.get(1), 'c');
});
