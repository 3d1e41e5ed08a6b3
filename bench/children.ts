import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder of the built bench modules (dist/bench). */
export const benchDir = dirname(fileURLToPath(import.meta.url));

/** A message a worker sends to the driver over the IPC channel: always an object with a `type`. */
export interface WorkerMessage {
  readonly type: string;
  readonly [key: string]: unknown;
}

/**
 * One worker process forked by the driver, spoken to over Node's IPC
 * channel. Replies are matched by their `type`, and every wait is bounded,
 * so a stuck worker fails the benchmark instead of hanging it.
 */
export class Worker {
  private readonly inbox: WorkerMessage[] = [];
  private readonly waiters = new Set<{
    type: string;
    settle: (m: WorkerMessage | Error) => void;
  }>();
  private failure: Error | null = null;
  /** Called for every message, also those nobody waits for (streams such as failover acks). */
  onMessage: (message: WorkerMessage) => void = () => {};

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (raw) => {
      const message = raw as WorkerMessage;
      this.onMessage(message);
      // A worker reports a failed task as 'error': whoever waits on it fails at once, not at a timeout.
      if (message.type === 'error')
        return this.fail(new Error(`worker ${name}: ${String(message['message'])}`));
      const waiter = [...this.waiters].find((w) => w.type === message.type);
      if (waiter === undefined) this.inbox.push(message);
      else waiter.settle(message);
    });
    child.once('exit', (code, signal) => {
      this.fail(
        new Error(`worker ${name} (pid ${child.pid}) exited (code ${code}, signal ${signal})`),
      );
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(message: object): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Resolves with the next message of `type` (also one that already arrived); rejects after `timeoutMs`. */
  next(type: string, timeoutMs: number): Promise<WorkerMessage> {
    const index = this.inbox.findIndex((m) => m.type === type);
    if (index >= 0) return Promise.resolve(this.inbox.splice(index, 1)[0]!);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<WorkerMessage>((resolve, reject) => {
      const waiter = {
        type,
        settle: (m: WorkerMessage | Error) => {
          this.waiters.delete(waiter);
          clearTimeout(timer);
          if (m instanceof Error) reject(m);
          else resolve(m);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.settle(new Error(`worker ${this.name} sent no '${type}' within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.add(waiter);
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of [...this.waiters]) waiter.settle(error);
  }
}

/**
 * Every process the driver forks, so that all of them are stopped by pid on
 * the way out, also when a benchmark fails half-way or the user presses
 * Ctrl-C.
 */
export class WorkerSet {
  private readonly workers = new Set<Worker>();
  /** Pids of other processes started for the benchmark (cluster nodes), read at the moment of an emergency stop. */
  private readonly otherPids = new Set<() => (number | undefined)[]>();

  /** Registers processes started elsewhere (a LocalCluster's nodes) for `killAllNow`; returns the unregister call. */
  trackPids(pids: () => (number | undefined)[]): () => void {
    this.otherPids.add(pids);
    return () => this.otherPids.delete(pids);
  }

  /** Forks `bench/<module>.js` with extra node flags (e.g. --cpu-prof). */
  fork(
    module: string,
    name: string,
    execArgv: readonly string[] = [],
    env: Record<string, string> = {},
  ): Worker {
    const child = fork(join(benchDir, `${module}.js`), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...execArgv],
      env: { ...process.env, ...env },
    });
    const worker = new Worker(name, child);
    this.workers.add(worker);
    child.once('exit', () => this.workers.delete(worker));
    return worker;
  }

  /** Asks one worker to exit, and kills it by pid if it has not within `graceMs`. */
  async stop(worker: Worker, graceMs = 3000): Promise<void> {
    await stopProcess(worker.child, () => worker.send({ type: 'exit' }), graceMs);
    this.workers.delete(worker);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.workers].map((w) => this.stop(w)));
  }

  /** Last resort on a synchronous exit path: SIGKILL every worker and node still running, by pid. */
  killAllNow(): void {
    const pids = [
      ...[...this.workers].map((w) => w.pid),
      ...[...this.otherPids].flatMap((get) => get()),
    ];
    for (const pid of pids) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

/**
 * Asks a child process to exit (`ask`), and kills it by pid with SIGKILL
 * if it has not within `graceMs`; resolves once it exited.
 */
export async function stopProcess(
  child: ChildProcess,
  ask: () => void,
  graceMs = 3000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  ask();
  const killTimer = setTimeout(() => {
    if (child.pid === undefined) return;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // It exited in the meantime.
    }
  }, graceMs);
  await exited;
  clearTimeout(killTimer);
}

/** Wall-clock time in milliseconds with sub-millisecond resolution, comparable between processes. */
export function wallNowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
