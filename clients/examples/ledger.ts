/**
 * Example plugin: a replicated bank ledger whose transfers keep the total
 * balance constant. Publish commands as JSON on topic `ledger`:
 * `{"op":"open","account":"alice","initial":100}` and
 * `{"op":"transfer","from":"alice","to":"bob","amount":30}`. A transfer
 * that would overdraw, names an unknown account or a bad amount is rejected
 * (and counted), never half-applied. Queries: `{"op":"balance","account":"bob"}`,
 * `{"op":"total"}`, `{"op":"stats"}`.
 *
 * Run it: `ordo replica --brokers ... --plugin dist/clients/examples/ledger.js --data DIR`.
 */
import type { ApplyContext, StateMachine } from '../replica/state-machine.js';
import type { Message } from '../subscriber.js';

export const pluginName = 'ledger';
export const ledgerTopic = 'ledger';

export type LedgerCommand =
  | { op: 'open'; account: string; initial: number }
  | { op: 'transfer'; from: string; to: string; amount: number };

export type LedgerQuery = { op: 'balance'; account: string } | { op: 'total' } | { op: 'stats' };

export interface LedgerTotal {
  /** Sum of every account's balance now. */
  readonly total: number;
  /** Sum of the opening balances: transfers must never change the total away from it. */
  readonly opened: number;
  readonly accounts: number;
}

/** Encodes a command for `Publisher.publish(ledgerTopic, ...)`. */
export function encodeLedgerCommand(command: LedgerCommand): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(command));
}

const isAmount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isAccount = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= 128;

/**
 * The ledger. Balances are integers (minor units), so sums are exact and
 * independent of the order they are added in; the last transfer's time is
 * log time, never the wall clock.
 */
export class Ledger implements StateMachine<LedgerQuery, unknown> {
  private balances = new Map<string, number>();
  private opened = 0;
  private transfersApplied = 0;
  private rejected = 0;
  private lastTransferMs = 0;

  apply(message: Message, context: ApplyContext): void {
    if (message.topic !== ledgerTopic) return;
    const command = parseCommand(message.payload);
    if (command === null || !this.applyCommand(command)) {
      this.rejected++;
      return;
    }
    if (command.op === 'transfer') {
      this.transfersApplied++;
      this.lastTransferMs = context.timestampMs;
    }
  }

  snapshot(): Uint8Array {
    const accounts = [...this.balances.keys()].sort().map((a) => [a, this.balances.get(a)!]);
    return new TextEncoder().encode(
      JSON.stringify({
        opened: this.opened,
        transfersApplied: this.transfersApplied,
        rejected: this.rejected,
        lastTransferMs: this.lastTransferMs,
        accounts,
      }),
    );
  }

  restore(snapshot: Uint8Array): void {
    const s = JSON.parse(new TextDecoder().decode(snapshot)) as {
      opened: number;
      transfersApplied: number;
      rejected: number;
      lastTransferMs: number;
      accounts: [string, number][];
    };
    this.balances = new Map(s.accounts);
    this.opened = s.opened;
    this.transfersApplied = s.transfersApplied;
    this.rejected = s.rejected;
    this.lastTransferMs = s.lastTransferMs;
  }

  query(request: LedgerQuery): unknown {
    switch (request.op) {
      case 'balance':
        return this.balances.get(request.account) ?? null;
      case 'total': {
        let total = 0;
        for (const balance of this.balances.values()) total += balance;
        const answer: LedgerTotal = { total, opened: this.opened, accounts: this.balances.size };
        return answer;
      }
      case 'stats':
        return {
          accounts: this.balances.size,
          transfersApplied: this.transfersApplied,
          rejected: this.rejected,
          lastTransferMs: this.lastTransferMs,
        };
      default:
        return { error: `unknown query ${JSON.stringify(request)}` };
    }
  }

  /** Applies a valid command; returns false (changing nothing) for one the ledger refuses. */
  private applyCommand(command: LedgerCommand): boolean {
    if (command.op === 'open') {
      if (
        this.balances.has(command.account) ||
        !Number.isSafeInteger(this.opened + command.initial)
      )
        return false;
      this.balances.set(command.account, command.initial);
      this.opened += command.initial;
      return true;
    }
    const fromBalance = this.balances.get(command.from);
    const toBalance = this.balances.get(command.to);
    if (fromBalance === undefined || toBalance === undefined || command.from === command.to)
      return false;
    if (command.amount <= 0 || fromBalance < command.amount) return false;
    this.balances.set(command.from, fromBalance - command.amount);
    this.balances.set(command.to, toBalance + command.amount);
    return true;
  }
}

function parseCommand(payload: Uint8Array): LedgerCommand | null {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  const c = raw as Record<string, unknown> | null;
  if (c === null || typeof c !== 'object') return null;
  if (c['op'] === 'open' && isAccount(c['account']) && isAmount(c['initial'])) {
    return { op: 'open', account: c['account'], initial: c['initial'] };
  }
  if (
    c['op'] === 'transfer' &&
    isAccount(c['from']) &&
    isAccount(c['to']) &&
    isAmount(c['amount'])
  ) {
    return { op: 'transfer', from: c['from'], to: c['to'], amount: c['amount'] };
  }
  return null;
}

export default function createLedger(): Ledger {
  return new Ledger();
}
