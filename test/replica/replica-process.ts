import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

const here = dirname(fileURLToPath(import.meta.url));
/** The `ordo` command; it runs the main build (dist/), as LocalCluster's nodes do. */
export const ordoBinPath = join(here, '..', '..', '..', 'bin', 'ordo.js');

/** A compiled example plugin beside this compiled test. */
export function examplePluginPath(name: 'kv-store' | 'ledger' | 'stamp-service'): string {
  return join(here, '..', '..', 'clients', 'examples', `${name}.js`);
}

export type ProcessEvent = { readonly event: string } & Record<string, unknown>;

export interface ReplicaProcessOptions {
  readonly brokers: readonly string[];
  readonly plugin: string;
  readonly dataDir: string;
  readonly id: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** How long to wait for the ready event (default 15 s). */
  readonly readyTimeoutMs?: number;
}

/**
 * `ordo replica --json` as a real child process: its JSON event lines are
 * collected, waited for with bounded timeouts, and the process is killed by
 * its pid (SIGKILL at the latest when the test ends).
 */
export class ReplicaProcess {
  readonly events: ProcessEvent[] = [];
  private readonly listeners = new Set<() => void>();
  /** Set on 'close': the process ended and its output was read to the end. */
  private finished = false;
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as ProcessEvent);
      } catch {
        return; // Not an event line.
      }
      for (const listener of this.listeners) listener();
    });
    child.once('close', () => {
      this.finished = true;
      for (const listener of this.listeners) listener();
    });
    if (process.env['ORDO_TEST_LOGS'])
      child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    else child.stderr!.resume();
  }

  /** Starts the process and waits for its `ready` event. */
  static async start(t: ExecutionContext, options: ReplicaProcessOptions): Promise<ReplicaProcess> {
    const args = [
      ordoBinPath,
      'replica',
      '--json',
      '--brokers',
      options.brokers.join(','),
      '--plugin',
      options.plugin,
      '--data',
      options.dataDir,
      '--id',
      options.id,
      ...(options.args ?? []),
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ORDO_LOG_LEVEL: 'info', ...options.env },
    });
    const replica = new ReplicaProcess(child);
    t.teardown(() => replica.kill('SIGKILL'));
    await replica.waitFor(
      (e) => e.event === 'ready',
      options.readyTimeoutMs ?? 15_000,
      'the ready event',
    );
    return replica;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return !this.finished;
  }

  /** Resolves with the first event (seen so far or later) that matches, or fails after `timeoutMs`. */
  waitFor(
    match: (event: ProcessEvent) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<ProcessEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(match);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (!this.running) {
          done();
          reject(new Error(`replica process exited (code ${this.child.exitCode}) before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Sends a signal to this process by pid and waits for it to exit. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    process.kill(this.child.pid!, signal);
    await this.exited;
  }
}
