import { readFileSync } from 'node:fs';
import { LIMITS } from '../limits.js';
import { type Credentials, isZ85Key as isZ85, loadSecretKeyFile } from '../runtime/curve-keys.js';
import { ConfigError } from './config-error.js';
import type { Permissions, TopicRules } from './permissions.js';

export interface NodeAddress {
  readonly id: string;
  /** Host name or address the other nodes and clients use to reach this node (advertised). */
  readonly host: string;
  /** Address this node's sockets bind to (default: `host`; `0.0.0.0` for every interface). */
  readonly bindHost: string;
  /** ROUTER for publishers, subscribers and admin requests. */
  readonly clientPort: number;
  /** ROUTER for point-to-point node traffic (acks, NACKs, votes, retransmissions). */
  readonly peerPort: number;
  /** PUB for the sequencer's multicast. */
  readonly pubPort: number;
  /** HTTP for metrics, health checks and the status page (null: no HTTP server). */
  readonly httpPort: number | null;
  /** This node's CurveZMQ public key (Z85); set on every node of a secured cluster. */
  readonly publicKey?: string;
  /** The file holding this node's secret key (written by `ordo keygen`, mode 0600); read by this node only. */
  readonly secretKeyFile?: string;
  /**
   * A witness: it votes and counts toward the commit quorum but never leads,
   * serves no subscribers and keeps only the log's tail (docs/topologies.md).
   */
  readonly witness?: boolean;
}

/** A client identity a secured cluster admits on its client ports. */
export interface ClientIdentity {
  readonly identity: string;
  readonly publicKey: string;
  /** Absent: publish and subscribe on every topic, no admin (DEFAULT_CLIENT_PERMISSIONS). */
  readonly permissions?: Permissions;
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
  /** With fsync 'interval': the longest a written entry waits for its fsync. */
  readonly fsyncIntervalMs: number;
  /** A log segment is closed and a new one started once it would grow past this size. */
  readonly segmentBytes: number;
  readonly dataDir: string | null;
  /** Retention: the log keeps at most this many bytes on disk (0: unlimited). */
  readonly retentionBytes: number;
  /** Retention: entries older than this are dropped (0: unlimited). */
  readonly retentionMs: number;
  /** With fsync 'memory': how many committed entries the in-memory log keeps (default LIMITS.memoryLogCacheEntries). */
  readonly memoryLogEntries: number | null;
  /** Clients admitted on a secured cluster's client ports. */
  readonly clients?: readonly ClientIdentity[];
  /** Set to run without keys on addresses other than loopback (the operator accepts an open cluster). */
  readonly insecure?: boolean;
}

/**
 * The credentials a secured node uses as a client of the other nodes'
 * client ports (the cluster view of its status page), or undefined.
 */
export function nodeCredentials(config: ClusterConfig, nodeId: string): Credentials | undefined {
  const self = config.nodes.find((n) => n.id === nodeId);
  if (!isSecured(config) || self?.secretKeyFile === undefined) return undefined;
  const brokerKeys = new Map<string, string>();
  for (const node of config.nodes) brokerKeys.set(clientEndpoint(node), node.publicKey!);
  return {
    identity: `node:${nodeId}`,
    publicKey: self.publicKey!,
    secretKey: loadSecretKeyFile(self.secretKeyFile),
    brokerKeys,
  };
}

/** True for an address only this machine reaches (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** True when every node has a public key: every socket then runs CurveZMQ. */
export function isSecured(config: ClusterConfig): boolean {
  return config.nodes.every((n) => n.publicKey !== undefined);
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

export function httpUrl(node: NodeAddress): string | null {
  return node.httpPort === null ? null : `http://${node.host}:${node.httpPort}`;
}

/** Every key a cluster config may hold at its top level, and in each node entry. */
export const CLUSTER_KEYS = [
  'clusterId',
  'nodes',
  'tickMs',
  'heartbeatIntervalMs',
  'electionTimeoutMs',
  'nackRetryMs',
  'fsync',
  'fsyncIntervalMs',
  'segmentBytes',
  'dataDir',
  'retentionBytes',
  'retentionMs',
  'memoryLogEntries',
  'clients',
  'insecure',
] as const;
export const NODE_KEYS = [
  'id',
  'witness',
  'host',
  'bindHost',
  'clientPort',
  'peerPort',
  'pubPort',
  'httpPort',
  'publicKey',
  'secretKeyFile',
] as const;

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
const isZ85Key = (v: unknown): v is string => isZ85(v);
/** A node id the peer codec accepts (it refuses longer ones on every frame). */
const isNodeId = (v: unknown): v is string =>
  isString(v) && Buffer.byteLength(v) <= LIMITS.maxNodeIdBytes;
const isPort = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536;
const isPositive = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v > 0;
const isNonNegative = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Throws on the first key that is not a setting, suggesting the closest one when it looks like a typo. */
function rejectUnknownKeys(
  object: Record<string, unknown>,
  known: readonly string[],
  where: string,
): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const guess = closestKey(key, known);
    throw new ConfigError(
      `${where}: unknown setting '${key}' (${guess === null ? `known: ${known.join(', ')}` : `did you mean '${guess}'?`})`,
    );
  }
}

/** The known key nearest to `key` by edit distance, if it is near enough to be a typo. */
export function closestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function parseNode(n: unknown, name: string): NodeAddress {
  if (typeof n !== 'object' || n === null || Array.isArray(n))
    throw new ConfigError(`${name} must be an object`);
  const r = n as Record<string, unknown>;
  rejectUnknownKeys(r, NODE_KEYS, name);
  const host = field(r['host'] ?? '127.0.0.1', `${name}.host`, isString, 'a host name');
  return {
    id: field(
      r['id'],
      `${name}.id`,
      isNodeId,
      `a non-empty string of at most ${LIMITS.maxNodeIdBytes} bytes`,
    ),
    host,
    bindHost: field(r['bindHost'] ?? host, `${name}.bindHost`, isString, 'an address to bind'),
    clientPort: field(r['clientPort'], `${name}.clientPort`, isPort, 'a TCP port (1-65535)'),
    peerPort: field(r['peerPort'], `${name}.peerPort`, isPort, 'a TCP port (1-65535)'),
    pubPort: field(r['pubPort'], `${name}.pubPort`, isPort, 'a TCP port (1-65535)'),
    httpPort:
      r['httpPort'] === undefined || r['httpPort'] === null
        ? null
        : field(r['httpPort'], `${name}.httpPort`, isPort, 'a TCP port (1-65535)'),
    ...(r['publicKey'] === undefined
      ? {}
      : {
          publicKey: field(r['publicKey'], `${name}.publicKey`, isZ85Key, 'a Z85 public key'),
        }),
    ...(r['secretKeyFile'] === undefined
      ? {}
      : { secretKeyFile: field(r['secretKeyFile'], `${name}.secretKeyFile`, isString, 'a path') }),
    ...(r['witness'] === undefined || r['witness'] === false
      ? {}
      : {
          witness: field(
            r['witness'],
            `${name}.witness`,
            (v: unknown): v is true => v === true,
            'true or false',
          ),
        }),
  };
}

function parseClients(raw: unknown, source: string): ClientIdentity[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw))
    throw new ConfigError(`${source}: clients must be an array of {identity, publicKey}`);
  return raw.map((c: unknown, i: number) => {
    const name = `${source}: clients[${i}]`;
    if (typeof c !== 'object' || c === null || Array.isArray(c))
      throw new ConfigError(`${name} must be an object`);
    const r = c as Record<string, unknown>;
    rejectUnknownKeys(r, ['identity', 'publicKey', 'permissions'], name);
    return {
      identity: field(
        r['identity'],
        `${name}.identity`,
        isIdentity,
        `a non-empty string of at most ${LIMITS.maxIdentityBytes} bytes`,
      ),
      publicKey: field(r['publicKey'], `${name}.publicKey`, isZ85Key, 'a Z85 public key'),
      ...(r['permissions'] === undefined
        ? {}
        : { permissions: parsePermissions(r['permissions'], `${name}.permissions`) }),
    };
  });
}

/** An identity name: log entries carry it as the owner of their producer id. */
const isIdentity = (v: unknown): v is string =>
  isString(v) && Buffer.byteLength(v) <= LIMITS.maxIdentityBytes;

const isPatternList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((p) => typeof p === 'string' && p.length > 0);

function parseTopicRules(raw: unknown, name: string): TopicRules {
  if (raw === undefined) return { allow: ['*'], deny: [] };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`${name} must be an object {allow, deny}`);
  const r = raw as Record<string, unknown>;
  rejectUnknownKeys(r, ['allow', 'deny'], name);
  return {
    allow: field(r['allow'] ?? ['*'], `${name}.allow`, isPatternList, 'a list of topic patterns'),
    deny: field(r['deny'] ?? [], `${name}.deny`, isPatternList, 'a list of topic patterns'),
  };
}

function parsePermissions(raw: unknown, name: string): Permissions {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`${name} must be an object {publish, subscribe, admin}`);
  const r = raw as Record<string, unknown>;
  rejectUnknownKeys(r, ['publish', 'subscribe', 'admin'], name);
  return {
    publish: parseTopicRules(r['publish'], `${name}.publish`),
    subscribe: parseTopicRules(r['subscribe'], `${name}.subscribe`),
    admin: field(
      r['admin'] ?? false,
      `${name}.admin`,
      (v: unknown): v is boolean => typeof v === 'boolean',
      'true or false',
    ),
  };
}

/** Keys on some nodes only, clients without node keys, or one key used twice. */
function checkSecurity(
  nodes: readonly NodeAddress[],
  clients: readonly ClientIdentity[],
  source: string,
): void {
  const keyed = nodes.filter((n) => n.publicKey !== undefined);
  if (keyed.length > 0 && keyed.length < nodes.length) {
    const missing = nodes.find((n) => n.publicKey === undefined)!;
    throw new ConfigError(
      `${source}: node '${missing.id}' has no publicKey while others have one (a secured cluster needs a key on every node)`,
    );
  }
  if (keyed.length === 0 && clients.length > 0)
    throw new ConfigError(`${source}: clients are listed but no node has a publicKey`);
  const owners = new Map<string, string>();
  const claim = (key: string, owner: string) => {
    const earlier = owners.get(key);
    if (earlier !== undefined)
      throw new ConfigError(`${source}: ${owner} has the same public key as ${earlier}`);
    owners.set(key, owner);
  };
  for (const n of keyed) claim(n.publicKey!, `node '${n.id}'`);
  const identities = new Set<string>();
  for (const c of clients) {
    if (identities.has(c.identity))
      throw new ConfigError(`${source}: client identity '${c.identity}' is listed twice`);
    identities.add(c.identity);
    claim(c.publicKey, `client '${c.identity}'`);
  }
}

/** Names the first node id used twice and the first host:port two sockets share. */
function rejectDuplicates(nodes: readonly NodeAddress[], source: string): void {
  const firstWithId = new Map<string, number>();
  for (const [i, node] of nodes.entries()) {
    const earlier = firstWithId.get(node.id);
    if (earlier !== undefined) {
      throw new ConfigError(
        `${source}: node id '${node.id}' is used twice (nodes[${earlier}] and nodes[${i}])`,
      );
    }
    firstWithId.set(node.id, i);
  }
  const owners = new Map<string, string>();
  for (const [i, node] of nodes.entries()) {
    for (const key of ['clientPort', 'peerPort', 'pubPort', 'httpPort'] as const) {
      const port = node[key];
      if (port === null) continue;
      const endpoint = `${node.host}:${port}`;
      const owner = `nodes[${i}].${key}`;
      const earlier = owners.get(endpoint);
      if (earlier !== undefined) {
        throw new ConfigError(
          `${source}: port ${port} on ${node.host} is used twice (${earlier} and ${owner})`,
        );
      }
      owners.set(endpoint, owner);
    }
  }
}

/** Validates a cluster configuration object, filling in defaults; throws ConfigError naming the bad field. */
export function parseClusterConfig(raw: unknown, source = 'cluster config'): ClusterConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`${source} must be a JSON object`);
  const o = raw as Record<string, unknown>;
  rejectUnknownKeys(o, CLUSTER_KEYS, source);
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
  const nodes = o['nodes'].map((n: unknown, i: number) => parseNode(n, `${source}: nodes[${i}]`));
  rejectDuplicates(nodes, source);
  if (nodes.every((n) => n.witness === true))
    throw new ConfigError(
      `${source}: every node is a witness; a cluster needs at least one data node (witness: false)`,
    );
  const clients = parseClients(o['clients'], source);
  checkSecurity(nodes, clients, source);
  const insecure = field(
    o['insecure'] ?? false,
    `${source}: insecure`,
    (v: unknown): v is boolean => typeof v === 'boolean',
    'true or false',
  );
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
  const segmentBytes = field(
    o['segmentBytes'] ?? LIMITS.logSegmentBytes,
    `${source}: segmentBytes`,
    (v: unknown): v is number =>
      Number.isInteger(v) && (v as number) >= 4096 && (v as number) <= LIMITS.maxLogSegmentBytes,
    `a whole number of bytes from 4096 to ${LIMITS.maxLogSegmentBytes}`,
  );
  return {
    clusterId,
    nodes,
    tickMs,
    heartbeatIntervalMs,
    electionTimeoutMs,
    nackRetryMs,
    fsync,
    fsyncIntervalMs: field(
      o['fsyncIntervalMs'] ?? LIMITS.logFsyncIntervalMs,
      `${source}: fsyncIntervalMs`,
      isPositive,
      'a positive number of milliseconds',
    ),
    segmentBytes,
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
    clients,
    insecure,
  };
}

/** Warnings about a valid config that is unwise outside development. */
export function configWarnings(config: ClusterConfig): string[] {
  const warnings: string[] = [];
  if (config.fsync === 'memory') {
    warnings.push(
      "fsync is 'memory': the log is kept in memory only and a restarted node comes back empty (development only; use 'always' in production)",
    );
  }
  return warnings;
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
