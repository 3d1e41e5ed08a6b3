import type { Message } from '../../subscriber.js';
import { PluginError } from '../replica-errors.js';
import type { ApplyContext, StateMachine } from '../state-machine.js';
import { decodePbEntry, type PbTopics } from './pb-entries.js';
import {
  applyLease,
  applyRequest,
  applyUpdateEntry,
  emptyPbState,
  type LeaseVerdict,
  type PbState,
  pbStateFromJson,
  pbStateToJson,
  type UpdateEntry,
  type UpdateVerdict,
} from './pb-rules.js';
import type { PrimaryBackupService, PrimaryBackupServiceFactory } from './pb-service.js';

/** What the machine tells its host as it applies entries (on every replica alike). */
export interface PbMachineListener {
  onLease(verdict: LeaseVerdict, machine: PrimaryBackupMachine, seq: number): void;
  onRequest(machine: PrimaryBackupMachine, seq: number): void;
  onUpdate(
    entry: UpdateEntry,
    verdict: UpdateVerdict,
    machine: PrimaryBackupMachine,
    seq: number,
  ): void;
}

/**
 * A primary-backup app as a deterministic state machine for the replica
 * host: it applies lease, request and update entries by the rules of
 * pb-rules.ts and hands accepted updates to the service. Its snapshot holds
 * the bookkeeping (lease, pending requests, applied ids) and the service's
 * snapshot, so digests cover both.
 */
export class PrimaryBackupMachine implements StateMachine<unknown, unknown> {
  state: PbState = emptyPbState();
  readonly service: PrimaryBackupService;

  constructor(
    factory: PrimaryBackupServiceFactory,
    private readonly topics: PbTopics,
    private readonly listener: PbMachineListener,
    private readonly name: string,
  ) {
    this.service = createService(factory, name);
  }

  apply(message: Message, context: ApplyContext): void {
    const entry = decodePbEntry(this.topics, message.topic, message.payload);
    if (entry === null) return;
    if (entry.type === 'lease') {
      const verdict = applyLease(this.state, entry, context.timestampMs);
      this.listener.onLease(verdict, this, context.seq);
    } else if (entry.type === 'request') {
      if (applyRequest(this.state, entry, context.seq).accepted)
        this.listener.onRequest(this, context.seq);
    } else {
      const verdict = applyUpdateEntry(this.state, entry);
      if (verdict.accepted && entry.update !== undefined && entry.error === undefined) {
        let update: unknown;
        try {
          update = JSON.parse(entry.update);
        } catch {
          update = undefined;
        }
        if (update !== undefined) {
          this.service.applyUpdate(update, {
            requestId: entry.id,
            seq: context.seq,
            timestampMs: context.timestampMs,
            leaseEpoch: entry.epoch,
          });
        }
      }
      this.listener.onUpdate(entry, verdict, this, context.seq);
    }
  }

  snapshot(): Uint8Array {
    const service = this.service.snapshot();
    if (!(service instanceof Uint8Array))
      throw new PluginError(`plugin ${this.name}: snapshot() must return a Uint8Array`);
    return new TextEncoder().encode(
      JSON.stringify({
        pb: pbStateToJson(this.state),
        service: Buffer.from(service).toString('base64'),
      }),
    );
  }

  restore(snapshot: Uint8Array): void {
    const parsed = JSON.parse(new TextDecoder().decode(snapshot)) as {
      pb: unknown;
      service: string;
    };
    this.state = pbStateFromJson(parsed.pb);
    this.service.restore(new Uint8Array(Buffer.from(parsed.service, 'base64')));
  }

  query(request: unknown): unknown {
    if (this.service.query === undefined)
      throw new PluginError(`plugin ${this.name} has no query method`);
    return this.service.query(request);
  }
}

/** Calls the factory and checks that it returned a primary-backup service. */
export function createService(
  factory: PrimaryBackupServiceFactory,
  name: string,
): PrimaryBackupService {
  let service: unknown;
  try {
    service = factory();
  } catch (error) {
    throw new PluginError(`plugin ${name}: its factory threw: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const s = service as Partial<PrimaryBackupService> | null;
  for (const method of ['execute', 'applyUpdate', 'snapshot', 'restore'] as const) {
    if (s === null || typeof s !== 'object' || typeof s[method] !== 'function') {
      throw new PluginError(
        `plugin ${name}: a primary-backup factory must return an object with execute, applyUpdate, snapshot and restore methods`,
      );
    }
  }
  return s as PrimaryBackupService;
}
