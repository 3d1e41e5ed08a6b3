import { readFileSync } from 'node:fs';
import { LIMITS } from '../limits.js';
import { ConfigError } from './config-error.js';

export interface NodeAddress {
  readonly id: string;
  /** Host name or address the other nodes and clients use to reach this node. */
  readonly host: string;
  /** ROUTER for publishers, subscribers and admin requests. */
  readonly clientPort: number;
  /** ROUTER for point-to-point node traffic (acks, NACKs, votes, retransmissions). */
  readonly peerPort: number;
  /** PUB for the sequencer's multicast. */
  readonly pubPort: number;
}

export const FsyncPolicies = ['always', 'interval', 'never', 'memory'] as const;
export type FsyncPolicy = (typeof FsyncPolicies)[number];

export interface ClusterConfig {
  readonly clusterId: string;
  readonly nodes: readonly NodeAddress[];
  /** Length of one protocol tick. */
  readonly tickMs: number;
  readonly heartbeatIntervalMs: number;
  /** Silence after which a follower campaigns; randomised between it and twice it. */
  readonly electionTimeoutMs: number;
  readonly nackRetryMs: number;
  /** 'memory' keeps the log in memory only (development); the others write to `dataDir`. */
  readonly fsync: FsyncPolicy;
  readonly dataDir: string | null;
  /** Retention: the log keeps at most this many bytes on disk (0: unlimited). */
  readonly retentionBytes: number;
  /** Retention: entries older than this are dropped (0: unlimited). */
  readonly retentionMs: number;
  /** With fsync 'memory': how many committed entries the in-memory log keeps (default LIMITS.memoryLogCacheEntries). */
  readonly memoryLogEntries: number | null;
}

export const DEFAULT_CLUSTER_TIMING = {
  tickMs: 10,
  heartbeatIntervalMs: 50,
  electionTimeoutMs: 300,
  nackRetryMs: 30,
} as const;

export function clientEndpoint(node: NodeAddress): string {
  return `tcp://${node.host}:${node.clientPort}`;
}

export function peerEndpoint(node: NodeAddress): string {
  return `tcp://${node.host}:${node.peerPort}`;
}

export function pubEndpoint(node: NodeAddress): string {
  return `tcp://${node.host}:${node.pubPort}`;
}

function field<T>(
  value: unknown,
  name: string,
  check: (v: unknown) => v is T,
  expected: string,
): T {
  if (!check(value))
    throw new ConfigError(`${name} must be ${expected}, got ${JSON.stringify(value)}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
/** Node ids travel in every peer message, whose codec refuses ids longer than this. */
const isNodeId = (v: unknown): v is string =>
  isString(v) && Buffer.byteLength(v) <= LIMITS.maxNodeIdBytes;
const isPort = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536;
const isPositive = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v > 0;
const isNonNegative = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Validates a cluster configuration object, filling in defaults; throws ConfigError naming the bad field. */
export function parseClusterConfig(raw: unknown, source = 'cluster config'): ClusterConfig {
  if (typeof raw !== 'object' || raw === null)
    throw new ConfigError(`${source} must be a JSON object`);
  const o = raw as Record<string, unknown>;
  const clusterId = field(
    o['clusterId'] ?? 'ordo',
    `${source}: clusterId`,
    isString,
    'a non-empty string',
  );
  if (!Array.isArray(o['nodes']) || o['nodes'].length === 0) {
    throw new ConfigError(
      `${source}: nodes must be a non-empty array of {id, host, clientPort, peerPort, pubPort}`,
    );
  }
  const nodes = o['nodes'].map((n: unknown, i: number): NodeAddress => {
    const name = `${source}: nodes[${i}]`;
    if (typeof n !== 'object' || n === null) throw new ConfigError(`${name} must be an object`);
    const r = n as Record<string, unknown>;
    return {
      id: field(
        r['id'],
        `${name}.id`,
        isNodeId,
        `a non-empty string of at most ${LIMITS.maxNodeIdBytes} bytes`,
      ),
      host: field(r['host'] ?? '127.0.0.1', `${name}.host`, isString, 'a host name'),
      clientPort: field(r['clientPort'], `${name}.clientPort`, isPort, 'a TCP port (1-65535)'),
      peerPort: field(r['peerPort'], `${name}.peerPort`, isPort, 'a TCP port (1-65535)'),
      pubPort: field(r['pubPort'], `${name}.pubPort`, isPort, 'a TCP port (1-65535)'),
    };
  });
  const ids = new Set(nodes.map((n) => n.id));
  if (ids.size !== nodes.length) throw new ConfigError(`${source}: node ids must be unique`);
  const endpoints = nodes.flatMap((n) =>
    [n.clientPort, n.peerPort, n.pubPort].map((p) => `${n.host}:${p}`),
  );
  if (new Set(endpoints).size !== endpoints.length) {
    throw new ConfigError(`${source}: two sockets share a host:port`);
  }
  const tickMs = field(
    o['tickMs'] ?? DEFAULT_CLUSTER_TIMING.tickMs,
    `${source}: tickMs`,
    isPositive,
    'a positive number',
  );
  const heartbeatIntervalMs = field(
    o['heartbeatIntervalMs'] ?? DEFAULT_CLUSTER_TIMING.heartbeatIntervalMs,
    `${source}: heartbeatIntervalMs`,
    isPositive,
    'a positive number',
  );
  const electionTimeoutMs = field(
    o['electionTimeoutMs'] ?? DEFAULT_CLUSTER_TIMING.electionTimeoutMs,
    `${source}: electionTimeoutMs`,
    isPositive,
    'a positive number',
  );
  if (electionTimeoutMs < 2 * heartbeatIntervalMs) {
    throw new ConfigError(
      `${source}: electionTimeoutMs must be at least twice heartbeatIntervalMs`,
    );
  }
  if (heartbeatIntervalMs < tickMs)
    throw new ConfigError(`${source}: heartbeatIntervalMs must be at least tickMs`);
  const nackRetryMs = field(
    o['nackRetryMs'] ?? DEFAULT_CLUSTER_TIMING.nackRetryMs,
    `${source}: nackRetryMs`,
    isPositive,
    'a positive number',
  );
  const fsync = field(
    o['fsync'] ?? 'memory',
    `${source}: fsync`,
    (v: unknown): v is FsyncPolicy => FsyncPolicies.includes(v as FsyncPolicy),
    `one of ${FsyncPolicies.join(', ')}`,
  );
  const dataDir =
    o['dataDir'] === undefined || o['dataDir'] === null
      ? null
      : field(o['dataDir'], `${source}: dataDir`, isString, 'a path');
  if (fsync !== 'memory' && dataDir === null) {
    throw new ConfigError(`${source}: fsync '${fsync}' needs a dataDir`);
  }
  return {
    clusterId,
    nodes,
    tickMs,
    heartbeatIntervalMs,
    electionTimeoutMs,
    nackRetryMs,
    fsync,
    dataDir,
    retentionBytes: field(
      o['retentionBytes'] ?? 0,
      `${source}: retentionBytes`,
      isNonNegative,
      'a number of bytes',
    ),
    retentionMs: field(
      o['retentionMs'] ?? 0,
      `${source}: retentionMs`,
      isNonNegative,
      'a number of milliseconds',
    ),
    memoryLogEntries:
      o['memoryLogEntries'] === undefined
        ? null
        : field(
            o['memoryLogEntries'],
            `${source}: memoryLogEntries`,
            isPositive,
            'a positive number of entries',
          ),
  };
}

export function loadClusterConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read cluster config ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`cluster config ${path} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseClusterConfig(raw, path);
}
