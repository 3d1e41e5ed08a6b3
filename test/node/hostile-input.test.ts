import test from 'ava';
import type { Logger } from '../../src/runtime/logger.js';
import { RateLimitedLog } from '../../src/runtime/rate-limited-log.js';
import { FrameError } from '../../src/wire/frame-error.js';
import { decodePeerMessage, encodePeerMessage } from '../../src/wire/peer-codec.js';

test('a frame of another cluster is refused without naming either cluster id', (t) => {
  const frame = encodePeerMessage('stranger-cluster', { type: 'timeoutNow', epoch: 1, from: 'n2' });
  const error = t.throws(() => decodePeerMessage(frame, 'secret-cluster-id'), {
    instanceOf: FrameError,
  });
  t.is(error?.code, 'foreign-cluster');
  t.false(error?.message.includes('secret-cluster-id'));
  t.false(error?.message.includes('stranger-cluster'));
});

test('a repeated log line is written once per interval, with a count of what was held back', (t) => {
  const lines: string[] = [];
  const logger = {
    log: (level: string, message: string) => lines.push(`${level}: ${message}`),
  } as unknown as Logger;
  let nowMs = 0;
  const log = new RateLimitedLog(logger, 1000, () => nowMs);
  log.info('forgetting silent subscriber a');
  for (let i = 0; i < 5; i++) log.info('forgetting silent subscriber b');
  t.is(log.heldBack, 5);
  nowMs = 1000;
  log.warn('rejected a client frame');
  t.deepEqual(lines, [
    'info: forgetting silent subscriber a',
    'warn: rejected a client frame (and 5 more since the last report)',
  ]);
});
