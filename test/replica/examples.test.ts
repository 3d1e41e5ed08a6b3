import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import createKvStore, { encodeKvCommand, kvTopic } from '../../clients/examples/kv-store.js';
import createLedger, { encodeLedgerCommand, ledgerTopic } from '../../clients/examples/ledger.js';
import { digestOf } from '../../clients/replica/digest.js';
import { createStateMachine, loadPlugin } from '../../clients/replica/plugin-loader.js';
import { PluginError } from '../../clients/replica/replica-errors.js';
import type { StateMachine } from '../../clients/replica/state-machine.js';
import type { Message } from '../../clients/subscriber.js';
import { Prng } from '../sim/prng.js';
import { tempDir } from './replica-fixtures.js';
import { examplePluginPath } from './replica-process.js';

let nextSeq = 1;
function message(topic: string, payload: Uint8Array): Message {
  const seq = nextSeq++;
  return {
    seq,
    epoch: 1,
    kind: 'data',
    topic,
    payload,
    producerId: 'p',
    producerSeq: seq,
    timestampMs: 1000 + seq,
  };
}

function applyAll(machine: StateMachine, topic: string, payloads: Uint8Array[]): void {
  for (const payload of payloads) {
    const m = message(topic, payload);
    machine.apply(m, { seq: m.seq, epoch: m.epoch, timestampMs: m.timestampMs });
  }
}

test('the ledger keeps its total through any mix of transfers and refuses overdrafts', (t) => {
  const ledger = createLedger();
  const prng = new Prng(7);
  const commands = [
    encodeLedgerCommand({ op: 'open', account: 'a', initial: 100 }),
    encodeLedgerCommand({ op: 'open', account: 'b', initial: 50 }),
    encodeLedgerCommand({ op: 'open', account: 'c', initial: 0 }),
    encodeLedgerCommand({ op: 'transfer', from: 'c', to: 'a', amount: 1 }),
    new TextEncoder().encode('{"op":"transfer","from":"a","to":"b","amount":-5}'),
    new TextEncoder().encode('not json'),
  ];
  for (let i = 0; i < 500; i++) {
    const from = prng.pick(['a', 'b', 'c', 'nobody']);
    const to = prng.pick(['a', 'b', 'c']);
    commands.push(encodeLedgerCommand({ op: 'transfer', from, to, amount: prng.int(1, 80) }));
  }
  applyAll(ledger, ledgerTopic, commands);
  t.deepEqual(ledger.query({ op: 'total' }), { total: 150, opened: 150, accounts: 3 });
  const stats = ledger.query({ op: 'stats' }) as { transfersApplied: number; rejected: number };
  t.true(stats.transfersApplied > 0);
  t.true(stats.rejected >= 3);
  for (const account of ['a', 'b', 'c'])
    t.true((ledger.query({ op: 'balance', account }) as number) >= 0);
});

test('restoring a snapshot gives back the same state and the same snapshot bytes', (t) => {
  for (const [factory, topic, payloads] of [
    [createLedger, ledgerTopic, [encodeLedgerCommand({ op: 'open', account: 'x', initial: 9 })]],
    [createKvStore, kvTopic, [encodeKvCommand({ op: 'put', key: 'k', value: 'v' })]],
  ] as const) {
    const original = factory();
    applyAll(original, topic, [...payloads]);
    const copy = factory();
    copy.restore(original.snapshot());
    t.is(digestOf(copy.snapshot()), digestOf(original.snapshot()));
  }
});

test('the kv store answers queries and serialises equal states equally whatever their history', (t) => {
  const one = createKvStore();
  applyAll(one, kvTopic, [
    encodeKvCommand({ op: 'put', key: 'b', value: '2' }),
    encodeKvCommand({ op: 'put', key: 'a', value: '1' }),
  ]);
  // A restored copy holds its keys in another insertion order; its snapshots must not differ for that.
  const two = createKvStore();
  two.restore(one.snapshot());
  const next = message(kvTopic, encodeKvCommand({ op: 'put', key: 'c', value: '3' }));
  for (const machine of [one, two])
    machine.apply(next, { seq: next.seq, epoch: 1, timestampMs: next.timestampMs });
  t.is(digestOf(one.snapshot()), digestOf(two.snapshot()));
  t.like(one.query({ op: 'get', key: 'a' }), { value: '1' });
  t.deepEqual(
    (one.query({ op: 'scan', prefix: '' }) as { key: string }[]).map((e) => e.key),
    ['a', 'b', 'c'],
  );
  applyAll(one, kvTopic, [
    encodeKvCommand({ op: 'delete', key: 'a' }),
    new TextEncoder().encode('{"op":"put"}'),
  ]);
  t.is(one.query({ op: 'get', key: 'a' }), null);
  t.deepEqual(one.query({ op: 'size' }), { keys: 2, ignoredMessages: 1 });
  applyAll(one, 'other-topic', [encodeKvCommand({ op: 'put', key: 'z', value: 'ignored' })]);
  t.is(one.query({ op: 'get', key: 'z' }), null);
});

test('plugins load by path; a module without a state machine factory is refused', async (t) => {
  const loaded = await loadPlugin(examplePluginPath('ledger'));
  t.is(loaded.name, 'ledger');
  t.truthy(createStateMachine(loaded.factory, loaded.name).query);
  const dir = tempDir(t, 'plugins');
  writeFileSync(join(dir, 'no-default.mjs'), 'export const x = 1;\n');
  writeFileSync(join(dir, 'not-a-machine.mjs'), 'export default () => ({ apply() {} });\n');
  await t.throwsAsync(loadPlugin(join(dir, 'no-default.mjs')), {
    instanceOf: PluginError,
    message: /default-export/,
  });
  await t.throwsAsync(loadPlugin(join(dir, 'missing.mjs')), { instanceOf: PluginError });
  const partial = await loadPlugin(join(dir, 'not-a-machine.mjs'));
  t.is(partial.name, 'not-a-machine');
  t.throws(() => createStateMachine(partial.factory, partial.name), { instanceOf: PluginError });
});
