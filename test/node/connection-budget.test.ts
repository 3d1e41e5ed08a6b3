import test from 'ava';
import { clientConnectionBudget } from '../../src/node/client-frame-socket.js';
import { ConnectionBudget, openFilesLimit } from '../../src/node/connection-budget.js';

function budget(perNode: number, perAddress: number, clock: { nowMs: number }) {
  return new ConnectionBudget(perNode, perAddress, 60_000, () => clock.nowMs);
}

/** Accepts a connection and asks for its admission, as the socket's events and the ZAP handler do. */
function connect(b: ConnectionBudget, address: string): string | null {
  b.onAccepted();
  const refusal = b.admit(address);
  // ZeroMQ closes a refused connection.
  if (refusal !== null) b.onClosed();
  return refusal;
}

test('the node budget counts open connections exactly; a closed one frees its place', (t) => {
  const clock = { nowMs: 0 };
  const b = budget(3, 100, clock);
  for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) t.is(connect(b, address), null);
  t.regex(connect(b, '10.0.0.4') ?? '', /holds 3 client connections.*maxClientConnectionsPerNode/);
  t.is(b.open, 3);
  t.is(b.refusedForNode, 1);
  b.onClosed();
  t.is(connect(b, '10.0.0.4'), null);
});

test('one address holds at most its budget; its count follows closes (estimated) and forgets after the memory', (t) => {
  const clock = { nowMs: 0 };
  const b = budget(1000, 2, clock);
  t.is(connect(b, 'a'), null);
  t.is(connect(b, 'a'), null);
  t.regex(connect(b, 'a') ?? '', /address a holds 2 connections.*maxClientConnectionsPerAddress/);
  t.is(b.refusedForAddress, 1);
  // Another address is unaffected.
  t.is(connect(b, 'b'), null);
  // Both of a's connections close: the estimate never exceeds what is open,
  // and the busiest address forgets first.
  b.onClosed();
  b.onClosed();
  t.is(connect(b, 'a'), null);
  // A client that reconnects is not locked out past the memory.
  const c = budget(1000, 1, clock);
  t.is(connect(c, 'x'), null);
  t.not(connect(c, 'x'), null);
  clock.nowMs += 60_001;
  t.is(connect(c, 'x'), null);
});

test('a client that reconnects again and again beside a hog is not locked out', (t) => {
  const clock = { nowMs: 0 };
  const b = budget(10_000, 64, clock);
  for (let i = 0; i < 64; i++) t.is(connect(b, 'hog'), null);
  t.not(connect(b, 'hog'), null);
  for (let i = 0; i < 1000; i++) {
    t.is(connect(b, 'client'), null, `reconnection ${i}`);
    b.onClosed();
  }
});

test('the node budget is half the descriptor limit, read from /proc/self/limits', (t) => {
  const limits =
    'Limit                     Soft Limit           Hard Limit           Units\nMax open files            256                  4096                 files\n';
  t.is(
    openFilesLimit(() => limits),
    256,
  );
  t.is(
    openFilesLimit(() => {
      throw new Error('ENOENT');
    }),
    null,
  );
  t.is(clientConnectionBudget(256), 128);
  t.is(clientConnectionBudget(null), 8192);
  t.is(clientConnectionBudget(1_048_576), 8192);
  t.throws(() => new ConnectionBudget(0, 1, 1, () => 0), { instanceOf: RangeError });
});
