import test from 'ava';
import { LIMITS } from '../../src/limits.js';
import { retryInterrupted } from '../../src/runtime/interrupted-call.js';

function interrupted(): Error {
  return Object.assign(new Error('Interrupted system call'), { code: 'EINTR' });
}

test('a call a signal interrupted is made again until it goes through', (t) => {
  let calls = 0;
  const result = retryInterrupted(() => {
    calls++;
    if (calls < 3) throw interrupted();
    return 'connected';
  });
  t.is(result, 'connected');
  t.is(calls, 3);
});

test('a call interrupted every time fails after the bounded number of attempts, with its own error', (t) => {
  let calls = 0;
  const error = t.throws(() =>
    retryInterrupted(() => {
      calls++;
      throw interrupted();
    }),
  );
  t.is((error as { code?: string }).code, 'EINTR');
  t.is(calls, LIMITS.interruptedCallAttempts);
});

test('any other error stands at once', (t) => {
  let calls = 0;
  const error = t.throws(() =>
    retryInterrupted(() => {
      calls++;
      throw Object.assign(new Error('Invalid argument'), { code: 'EINVAL' });
    }),
  );
  t.is(error?.message, 'Invalid argument');
  t.is(calls, 1);
});
