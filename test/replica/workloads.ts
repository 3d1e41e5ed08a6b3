import type { ExecutionContext } from 'ava';
import createKvStore, { encodeKvCommand, kvTopic } from '../../clients/examples/kv-store.js';
import createLedger, {
  encodeLedgerCommand,
  type LedgerTotal,
  ledgerTopic,
} from '../../clients/examples/ledger.js';
import type { Publisher } from '../../clients/publisher.js';
import type { Replica } from '../../clients/replica/replica-host.js';
import type { StateMachineFactory } from '../../clients/replica/state-machine.js';
import { Prng } from '../sim/prng.js';

/** Test traffic for one example plugin: seeded, so a failing run can be replayed. */
export interface Workload {
  readonly plugin: 'kv-store' | 'ledger';
  readonly topic: string;
  readonly factory: StateMachineFactory;
  /** The next `count` commands of this workload. */
  next(count: number): Uint8Array[];
  /** Checks the app's own invariant on a replica that applied the whole workload. */
  check(t: ExecutionContext, replica: Replica): void;
}

export const ledgerAccounts = 10;
export const ledgerOpeningBalance = 1000;

export function kvWorkload(seed: number): Workload {
  const prng = new Prng(seed);
  return {
    plugin: 'kv-store',
    topic: kvTopic,
    factory: createKvStore,
    next: (count) =>
      Array.from({ length: count }, () => {
        const key = `k${prng.int(0, 49)}`;
        return encodeKvCommand(
          prng.chance(0.2)
            ? { op: 'delete', key }
            : { op: 'put', key, value: `v${prng.nextUint32()}` },
        );
      }),
    check: (t, replica) => {
      const size = replica.query<{ op: 'size' }, { keys: number; ignoredMessages: number }>({
        op: 'size',
      });
      t.true(size.keys > 0 && size.keys <= 50);
      t.is(size.ignoredMessages, 0);
    },
  };
}

export function ledgerWorkload(seed: number): Workload {
  const prng = new Prng(seed);
  let opened = false;
  const account = () => `acct-${prng.int(0, ledgerAccounts - 1)}`;
  return {
    plugin: 'ledger',
    topic: ledgerTopic,
    factory: createLedger,
    next: (count) => {
      const commands: Uint8Array[] = [];
      if (!opened) {
        opened = true;
        for (let i = 0; i < ledgerAccounts; i++) {
          commands.push(
            encodeLedgerCommand({
              op: 'open',
              account: `acct-${i}`,
              initial: ledgerOpeningBalance,
            }),
          );
        }
      }
      while (commands.length < count) {
        commands.push(
          encodeLedgerCommand({
            op: 'transfer',
            from: account(),
            to: account(),
            amount: prng.int(1, 400),
          }),
        );
      }
      return commands;
    },
    check: (t, replica) => {
      const total = replica.query<{ op: 'total' }, LedgerTotal>({ op: 'total' });
      t.deepEqual(total, {
        total: ledgerAccounts * ledgerOpeningBalance,
        opened: ledgerAccounts * ledgerOpeningBalance,
        accounts: ledgerAccounts,
      });
    },
  };
}

/** Publishes the workload's next `count` commands and resolves with the highest seq acknowledged. */
export async function publishBatch(
  publisher: Publisher,
  workload: Workload,
  count: number,
): Promise<number> {
  const acks = await Promise.all(
    workload.next(count).map((payload) => publisher.publish(workload.topic, payload)),
  );
  return Math.max(...acks.map((a) => a.seq));
}
