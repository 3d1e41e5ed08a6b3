import test from 'ava';
import { TurnClock } from '../../src/runtime/turn-clock.js';

test('a turn clock reads its clock once per run and again after the microtask checkpoint', async (t) => {
  let reads = 0;
  const clock = new TurnClock(() => ++reads * 10);
  t.is(clock.nowMs(), 10);
  t.is(clock.nowMs(), 10, 'the same run gets the same time');
  t.is(reads, 1);
  const firstTurn = clock.turn;
  await Promise.resolve();
  t.is(clock.turn, firstTurn + 1, 'the run ended');
  t.is(clock.nowMs(), 20, 'a new run reads the clock again');
  t.is(reads, 2);
});
