import { LIMITS } from '../limits.js';

/**
 * Makes a synchronous ZeroMQ call again when a signal interrupted it
 * (EINTR), at most `LIMITS.interruptedCallAttempts` times in all. zeromq.js
 * retries sends and receives itself, but connect and disconnect throw: a
 * signal that lands while libzmq reads its command mailbox fails the call
 * before it did anything, so making it again is safe. A CPU profiler sends
 * such signals all the time; a node started under one failed at startup
 * with "Interrupted system call".
 */
export function retryInterrupted<T>(call: () => T): T {
  for (let attempt = 1; ; attempt++) {
    try {
      return call();
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EINTR') throw error;
      if (attempt >= LIMITS.interruptedCallAttempts) throw error;
    }
  }
}
