import { type ChildProcess, spawn } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LIMITS } from '../limits.js';
import type { FsyncPolicy } from '../node/cluster-config.js';
import { ALL_PERMISSIONS } from '../node/permissions.js';
import { credentialsJson, newKeyPair, writeOwnerOnlyFile } from '../runtime/curve-keys.js';
import { freePorts } from './free-ports.js';

/**
 * The V8 flag every process this project starts for a cluster takes (its
 * nodes here, and the benches' publishers and replicas): the young
 * generation of LIMITS.youngSemiSpaceMiB (docs/operations.md, "Memory").
 */
export const YOUNG_GENERATION_FLAG = `--max-semi-space-size=${LIMITS.youngSemiSpaceMiB}`;

/** The old generation's first size a node process starts with: LIMITS.initialOldSpaceMiB (docs/operations.md, "Memory"). */
export const OLD_GENERATION_FLAG = `--initial-old-space-size=${LIMITS.initialOldSpaceMiB}`;

const binPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ordo.js');

export interface LocalClusterOptions {
  readonly nodes?: number;
  /**
   * How many of the nodes are witnesses (the last ones): they vote but never
   * lead, keep only the log's tail and serve no subscribers. Default 0.
   */
  readonly witnesses?: number;
  /**
   * First port; node i uses basePort + 3i .. + 2 for ZeroMQ and basePort + 3n + i
   * for HTTP (n nodes). Free ports are picked when absent.
   */
  readonly basePort?: number;
  readonly fsync?: FsyncPolicy;
  /** Where the nodes keep their data (by default a fresh temporary folder, removed by stop()). */
  readonly dataDir?: string;
  readonly clusterId?: string;
  /** Extra settings merged into the cluster config (timing, retention). */
  readonly configOverrides?: Record<string, unknown>;
  /** Extra environment for every node (e.g. ORDO_TEST_FAULTS). */
  readonly env?: Record<string, string>;
  /** Where node logs go: 'inherit' shows them, 'ignore' drops them, or a function gets each line. */
  readonly logs?: 'inherit' | 'ignore' | ((nodeId: string, line: string) => void);
  /** Also append each node's log to `<dataDir>/<id>.log` (`logFile(id)`), whatever `logs` says. */
  readonly logFiles?: boolean;
  readonly startTimeoutMs?: number;
  /** The address node i (0-based) binds and is reached at (default 127.0.0.1 for every node). */
  readonly hostOf?: (index: number) => string;
  /** A command that node processes run under, e.g. `['ip', 'netns', 'exec', NAME]`; it must exec the node, so that its pid is the node's. */
  readonly commandPrefix?: (nodeId: string) => readonly string[];
  /** Extra arguments for every `ordo node` (e.g. `--log-format text`). */
  readonly nodeArgs?: readonly string[];
  /**
   * Secure the cluster: a key pair per node (secret files under `<dataDir>/keys`,
   * mode 0600), and a credentials file per client identity named here
   * (`<dataDir>/keys/<identity>.credentials.json`), each admitted by the config
   * with every permission, or with the permissions given (config form).
   * Absent: no keys, and the config says `insecure: true`.
   */
  readonly secure?: {
    readonly clients: readonly (string | { identity: string; permissions: unknown })[];
  };
}

export interface LocalNode {
  readonly id: string;
  readonly clientEndpoint: string;
  /** Base URL of the node's HTTP server (metrics, health, status page). */
  readonly httpUrl: string;
  /** A witness: it serves no subscribers and is no place to publish. */
  readonly witness: boolean;
  process: ChildProcess | null;
}

/**
 * A cluster of real broker processes on this machine: the embedded default
 * behind `ordo dev`, and what integration tests and benchmarks run against.
 * Every process it starts is stopped by its pid.
 */
/** How many times a cluster on free ports is started again when a port was taken meanwhile. */
const PORT_CLASH_ATTEMPTS = 3;

export class LocalCluster {
  readonly nodes: LocalNode[];
  readonly configPath: string;
  readonly dataDir: string;
  /** On a secured cluster: each client identity's credentials file. */
  readonly credentialsPaths: ReadonlyMap<string, string>;
  private readonly options: LocalClusterOptions;

  private constructor(
    options: LocalClusterOptions,
    nodes: LocalNode[],
    configPath: string,
    dataDir: string,
    credentialsPaths: ReadonlyMap<string, string>,
  ) {
    this.options = options;
    this.nodes = nodes;
    this.configPath = configPath;
    this.dataDir = dataDir;
    this.credentialsPaths = credentialsPaths;
  }

  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    // Free ports are found by binding and releasing them: another process
    // may take one before the node binds it. Then the cluster starts again
    // on other free ports, a bounded number of times.
    for (let attempt = 1; ; attempt++) {
      try {
        return await LocalCluster.startOnce(options);
      } catch (error) {
        const taken = /Address already in use/.test((error as Error).message);
        if (!taken || options.basePort !== undefined || attempt >= PORT_CLASH_ATTEMPTS) throw error;
      }
    }
  }

  private static async startOnce(options: LocalClusterOptions): Promise<LocalCluster> {
    const count = options.nodes ?? 3;
    const witnesses = options.witnesses ?? 0;
    if (witnesses < 0 || witnesses >= count)
      throw new Error(
        `a cluster of ${count} nodes can have 0 to ${count - 1} witnesses, not ${witnesses}`,
      );
    const ports =
      options.basePort === undefined
        ? await freePorts(count * 4)
        : Array.from({ length: count * 4 }, (_, i) => options.basePort! + i);
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'ordo-'));
    mkdirSync(dataDir, { recursive: true });
    const fsync = options.fsync ?? 'memory';
    const config = {
      clusterId: options.clusterId ?? `local-${process.pid}-${Date.now()}`,
      fsync,
      dataDir,
      nodes: Array.from({ length: count }, (_, i) => ({
        ...(i >= count - witnesses ? { witness: true } : {}),
        id: `n${i + 1}`,
        host: options.hostOf?.(i) ?? '127.0.0.1',
        clientPort: ports[3 * i]!,
        peerPort: ports[3 * i + 1]!,
        pubPort: ports[3 * i + 2]!,
        httpPort: ports[3 * count + i]!,
      })),
      ...options.configOverrides,
    };
    const credentialsPaths = new Map<string, string>();
    let secured: Record<string, unknown> = { insecure: true };
    if (options.secure !== undefined) {
      const keyDir = join(dataDir, 'keys');
      mkdirSync(keyDir, { recursive: true, mode: 0o700 });
      const brokerKeys = new Map<string, string>();
      const nodes = config.nodes.map((n) => {
        const pair = newKeyPair();
        const secretKeyFile = join(keyDir, `${n.id}.key`);
        writeOwnerOnlyFile(secretKeyFile, `${pair.secretKey.reveal()}\n`);
        brokerKeys.set(`tcp://${n.host}:${n.clientPort}`, pair.publicKey);
        return { ...n, publicKey: pair.publicKey, secretKeyFile };
      });
      const clients = options.secure.clients.map((client) => {
        const identity = typeof client === 'string' ? client : client.identity;
        const permissions = typeof client === 'string' ? ALL_PERMISSIONS : client.permissions;
        const pair = newKeyPair();
        const path = join(keyDir, `${identity}.credentials.json`);
        writeOwnerOnlyFile(path, credentialsJson(identity, pair, brokerKeys));
        credentialsPaths.set(identity, path);
        return { identity, publicKey: pair.publicKey, permissions };
      });
      secured = { nodes, clients };
    }
    const configPath = join(dataDir, 'cluster.json');
    writeFileSync(
      configPath,
      `${JSON.stringify({ ...config, ...secured, ...options.configOverrides }, null, 2)}\n`,
    );
    const nodes: LocalNode[] = config.nodes.map((n) => ({
      id: n.id,
      clientEndpoint: `tcp://${n.host}:${n.clientPort}`,
      httpUrl: `http://${n.host}:${n.httpPort}`,
      witness: 'witness' in n && n.witness === true,
      process: null,
    }));
    const cluster = new LocalCluster(options, nodes, configPath, dataDir, credentialsPaths);
    try {
      await Promise.all(nodes.map((n) => cluster.startNode(n.id)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The file a node's log is appended to (with the `logFiles` option). */
  logFile(id: string): string {
    return join(this.dataDir, `${id}.log`);
  }

  get clientEndpoints(): string[] {
    return this.nodes.map((n) => n.clientEndpoint);
  }

  /** The client endpoints of the data nodes: where to publish and subscribe (no witness). */
  get dataEndpoints(): string[] {
    return this.nodes.filter((n) => !n.witness).map((n) => n.clientEndpoint);
  }

  node(id: string): LocalNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id} in this cluster`);
    return node;
  }

  /**
   * Adds a node to the config file on free ports, without starting it: the
   * running nodes keep their membership, and the new node is started with
   * `--join` (`startNode(id, ['--join'])`) and added with `ordo members add`.
   * On a secured cluster the node gets a key pair of its own (its public key
   * is returned: the running nodes learn it only from the membership change;
   * the clients' credentials files are not rewritten).
   */
  async addNodeToConfig(id: string): Promise<LocalNode & { readonly publicKey?: string }> {
    const config = JSON.parse(readFileSync(this.configPath, 'utf8')) as {
      nodes: {
        id: string;
        host: string;
        clientPort: number;
        httpPort: number;
        publicKey?: string;
      }[];
    };
    const [clientPort, peerPort, pubPort, httpPort] = await freePorts(4);
    const host = '127.0.0.1';
    let keys: { publicKey: string; secretKeyFile: string } | null = null;
    if (config.nodes.some((n) => n.publicKey !== undefined)) {
      const pair = newKeyPair();
      const secretKeyFile = join(this.dataDir, 'keys', `${id}.key`);
      writeOwnerOnlyFile(secretKeyFile, `${pair.secretKey.reveal()}\n`);
      keys = { publicKey: pair.publicKey, secretKeyFile };
    }
    config.nodes.push({
      id,
      host,
      clientPort: clientPort!,
      peerPort,
      pubPort,
      httpPort: httpPort!,
      ...keys,
    } as never);
    writeFileSync(this.configPath, `${JSON.stringify(config, null, 2)}\n`);
    const node: LocalNode = {
      id,
      clientEndpoint: `tcp://${host}:${clientPort}`,
      httpUrl: `http://${host}:${httpPort}`,
      witness: false,
      process: null,
    };
    this.nodes.push(node);
    return keys === null ? node : Object.assign(node, { publicKey: keys.publicKey });
  }

  /** Starts (or restarts) one node's process and waits until it reports ready. */
  async startNode(id: string, extraArgs: readonly string[] = []): Promise<void> {
    const node = this.node(id);
    if (node.process !== null)
      throw new Error(`node ${id} is already running (pid ${node.process.pid})`);
    const logs = this.options.logs ?? 'ignore';
    const prefix = this.options.commandPrefix?.(id) ?? [];
    const command = [
      ...prefix,
      process.execPath,
      YOUNG_GENERATION_FLAG,
      OLD_GENERATION_FLAG,
      binPath,
      'node',
      '--config',
      this.configPath,
      '--id',
      id,
      // A local cluster is a development cluster: its settings draw no warnings.
      '--dev',
      ...(this.options.nodeArgs ?? []),
      ...extraArgs,
    ];
    const logFile = this.options.logFiles === true ? this.logFile(id) : null;
    const child = spawn(command[0]!, command.slice(1), {
      stdio: ['ignore', 'pipe', logs === 'inherit' && logFile === null ? 'inherit' : 'pipe'],
      env: { ...process.env, ...this.options.env },
    });
    if (logFile !== null && child.stderr !== null) {
      // Kept in a file so that a node that crashed leaves its last words.
      const file = createWriteStream(logFile, { flags: 'a' });
      file.on('error', () => {});
      child.stderr.pipe(file);
      if (logs === 'inherit') child.stderr.pipe(process.stderr, { end: false });
    }
    node.process = child;
    child.once('exit', () => {
      if (node.process === child) node.process = null;
    });
    // The last lines a node printed explain why it would not start.
    const lastLines: string[] = [];
    if (child.stderr !== null) {
      createInterface({ input: child.stderr }).on('line', (line) => {
        lastLines.push(line);
        if (lastLines.length > 10) lastLines.shift();
        if (typeof logs === 'function') logs(id, line);
      });
    }
    // Generous: on a loaded machine (CI, many clusters at once) a start can take seconds.
    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${id} did not report ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        if (line.includes('"event":"ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const why = lastLines.length > 0 ? `:\n  ${lastLines.join('\n  ')}` : '';
        reject(
          new Error(`node ${id} exited before it was ready (code ${code}, signal ${signal})${why}`),
        );
      });
    });
  }

  /** Sends a signal to one node's process by its pid; SIGKILL and SIGTERM wait for the exit. */
  async signalNode(id: string, signal: NodeJS.Signals): Promise<void> {
    const node = this.node(id);
    const child = node.process;
    if (child === null || child.pid === undefined) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      process.kill(child.pid, signal);
      return;
    }
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    process.kill(child.pid, signal);
    await exited;
    node.process = null;
  }

  /** Stops every node it started (SIGCONT first, in case one is paused), by pid. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const child = node.process;
        if (child === null || child.pid === undefined) return;
        try {
          process.kill(child.pid, 'SIGCONT');
        } catch {
          // Already gone.
        }
        const exited = new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once('exit', () => resolve());
        });
        const killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.kill('SIGTERM');
        await exited;
        clearTimeout(killTimer);
        node.process = null;
      }),
    );
    // A folder the cluster made for itself goes with it; one the caller named stays.
    if (this.options.dataDir === undefined) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
