import { parseArgs } from 'node:util';
import { FsyncPolicies, type FsyncPolicy } from '../src/node/cluster-config.js';
import type { Profiling } from './profiling.js';

/** The rate of the light-load phase: `--moderate-rate`, else `--moderate-fraction` of the measured peak (at least 100 msgs/s). */
export function moderateRateOf(args: BenchArgs, peakPerSecond: number): number {
  return args.moderateRate ?? Math.max(100, Math.round(peakPerSecond * args.moderateFraction));
}

/** Every option of every sub-benchmark; each one reads those it needs. */
export interface BenchArgs {
  readonly name: string;
  readonly fsync: FsyncPolicy;
  readonly nodes: number;
  readonly publishers: number;
  readonly windowMessages: number;
  readonly payloadBytes: number;
  readonly warmupSeconds: number;
  readonly seconds: number | null;
  /** Bound per publisher and saturated phase; null: as many as the phase's length allows (LoadRig.saturate). */
  readonly maxMessages: number | null;
  readonly moderateFraction: number;
  /** A fixed rate (msgs/s, all publishers together) for that phase instead of the fraction: to compare builds at one load. */
  readonly moderateRate: number | null;
  readonly moderateSeconds: number;
  readonly raw: boolean;
  readonly rawSeconds: number;
  readonly packedMessages: number;
  readonly trials: number;
  /** Replica processes of the replicas benchmark. */
  readonly replicas: number;
  /** Publishes (and raw round trips) of the one-in-flight latency measurement. */
  readonly requests: number;
  /** Publishes one at a time before the measured ones, timed apart: a fresh process's code is not yet compiled. */
  readonly warmupRequests: number;
  /** `--rate`: failover and transfer publish at it (1,000 when absent); replicas publish at it instead of saturating. */
  readonly rateMessagesPerSecond: number | null;
  readonly requestTimeoutMs: number | null;
  /** Cluster timing overrides (electionTimeoutMs, heartbeatIntervalMs); empty keeps the defaults. */
  readonly clusterTiming: Record<string, number>;
  /** `--profile DIR` (CPU) or `--heap-profile DIR` (allocations): every node and publisher writes one. */
  readonly profiling: Profiling | null;
  /** profile-top: the profile file or folder to summarise. */
  readonly profilePath: string | null;
  readonly json: boolean;
  readonly waitIdleSeconds: number;
  /** Messages per `publishMany` call of a saturating publisher; 1: one `publish` per message. */
  readonly publishManyMessages: number;
}

export const usage = `usage: npm run bench -- [throughput|latency|secure|failover|stability|fsync|transfer|replicas|raw-zmq|profile-top] [options]

  throughput (default)   committed msgs/s and publish->commit latency of a local cluster, against raw zeromq.js
  latency                one publish in flight (memory log and fsync=always) beside the raw zeromq.js
                         DEALER/ROUTER round trip, and the tail at 10% of the peak load
  failover               kill -9 the sequencer under load, time until the next publish commits
  stability              full load without faults, count elections
  secure                 throughput and latency of an insecure and a CurveZMQ cluster side by side
  fsync                  throughput with fsync=always and fsync=never side by side
  transfer               planned leadership transfers under load: time to hand over, publish pause
  replicas               replicas following a live stream: apply rate of each beside the commit rate
  raw-zmq                only the raw zeromq.js PUB/SUB ceiling
  profile-top <dir|file> hottest functions of .cpuprofile files (self time, file:line) and
                         of .heapprofile files (bytes allocated, file:line)

options:
  --fsync always|never|memory   log durability of the cluster (default memory)
  --nodes N                     cluster size (default 3)
  --publishers N                publisher processes (default 2)
  --window N                    in-flight window of each publisher (default 8192)
  --payload-bytes N             message size (default 100)
  --warmup-seconds S            warm-up before measuring (default 2)
  --seconds S                   measured duration (default 10; stability 60; latency 5)
  --max-messages N              bound per publisher per phase (default 2000000 per second of the phase)
  --moderate-fraction F         unloaded-latency phase rate as a fraction of the max (default 0.1)
  --moderate-rate N             that phase at N msgs/s instead (to compare builds at the same load)
  --moderate-seconds S          duration of that phase (default 5)
  --no-raw                      skip the raw zeromq.js measurement
  --raw-seconds S               raw measurement window (default 3)
  --packed N                    messages per frame for the packed raw measurement (default 64)
  --trials N                    failover trials (default 20)
  --replicas N                  replicas: replica processes (default 3)
  --requests N                  latency: publishes one at a time, and raw round trips (default 5000)
  --warmup-requests N           latency: publishes one at a time before those, reported apart (default 10000)
  --rate N                      failover and transfer publish rate, msgs/s (default 1000); replicas:
                                publish at N msgs/s instead of saturating the cluster
  --request-timeout-ms N        failover: Publisher requestTimeoutMs (default: the Publisher's own)
  --election-timeout-ms N       cluster electionTimeoutMs (default: the cluster's own, 300)
  --heartbeat-ms N              cluster heartbeatIntervalMs (default: the cluster's own, 50)
  --profile DIR                 write V8 CPU profiles of nodes and publishers into DIR
  --heap-profile DIR            write V8 allocation profiles (every sampled allocation, freed ones
                                included) of nodes and publishers into DIR
  --publish-many N              saturating publishers call publishMany with N messages (default 1: publish per message)
  --wait-idle S                 wait up to S seconds for other work on the machine to finish (default 0)
  --json                        also print the result as one JSON line`;

function positiveNumber(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new Error(`--${name} must be a positive number, got '${value}'`);
  return parsed;
}

function profilingArg(cpuDir: string | undefined, heapDir: string | undefined): Profiling | null {
  if (cpuDir !== undefined && heapDir !== undefined)
    throw new Error('--profile and --heap-profile each run their own sampler: give one of them');
  if (cpuDir !== undefined) return { dir: cpuDir, kind: 'cpu' };
  if (heapDir !== undefined) return { dir: heapDir, kind: 'heap' };
  return null;
}

/** The steady rate of the failover and transfer benchmarks: `--rate`, else 1,000 msgs/s. */
export function steadyRateOf(args: BenchArgs): number {
  return args.rateMessagesPerSecond ?? 1000;
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      fsync: { type: 'string' },
      nodes: { type: 'string' },
      publishers: { type: 'string' },
      window: { type: 'string' },
      'payload-bytes': { type: 'string' },
      'warmup-seconds': { type: 'string' },
      seconds: { type: 'string' },
      'max-messages': { type: 'string' },
      'moderate-fraction': { type: 'string' },
      'moderate-rate': { type: 'string' },
      'moderate-seconds': { type: 'string' },
      'no-raw': { type: 'boolean' },
      'raw-seconds': { type: 'string' },
      packed: { type: 'string' },
      trials: { type: 'string' },
      replicas: { type: 'string' },
      requests: { type: 'string' },
      'warmup-requests': { type: 'string' },
      rate: { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'election-timeout-ms': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      profile: { type: 'string' },
      'heap-profile': { type: 'string' },
      json: { type: 'boolean' },
      'wait-idle': { type: 'string' },
      'publish-many': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(usage);
    process.exit(0);
  }
  const fsync = (values.fsync ?? 'memory') as FsyncPolicy;
  if (!FsyncPolicies.includes(fsync))
    throw new Error(`--fsync must be one of ${FsyncPolicies.join(', ')}`);
  const [name = 'throughput', ...rest] = positionals;
  return {
    name,
    fsync,
    nodes: positiveNumber(values.nodes, 'nodes', 3),
    publishers: positiveNumber(values.publishers, 'publishers', 2),
    windowMessages: positiveNumber(values.window, 'window', 8192),
    payloadBytes: positiveNumber(values['payload-bytes'], 'payload-bytes', 100),
    warmupSeconds: positiveNumber(values['warmup-seconds'], 'warmup-seconds', 2),
    seconds: values.seconds === undefined ? null : positiveNumber(values.seconds, 'seconds', 10),
    maxMessages:
      values['max-messages'] === undefined
        ? null
        : positiveNumber(values['max-messages'], 'max-messages', 1),
    moderateFraction: positiveNumber(values['moderate-fraction'], 'moderate-fraction', 0.1),
    moderateRate:
      values['moderate-rate'] === undefined
        ? null
        : positiveNumber(values['moderate-rate'], 'moderate-rate', 1),
    moderateSeconds: positiveNumber(values['moderate-seconds'], 'moderate-seconds', 5),
    raw: values['no-raw'] !== true,
    rawSeconds: positiveNumber(values['raw-seconds'], 'raw-seconds', 3),
    publishManyMessages: positiveNumber(values['publish-many'], 'publish-many', 1),
    packedMessages: positiveNumber(values.packed, 'packed', 64),
    trials: positiveNumber(values.trials, 'trials', 20),
    replicas: positiveNumber(values.replicas, 'replicas', 3),
    requests: positiveNumber(values.requests, 'requests', 5000),
    warmupRequests: positiveNumber(values['warmup-requests'], 'warmup-requests', 10_000),
    rateMessagesPerSecond:
      values.rate === undefined ? null : positiveNumber(values.rate, 'rate', 1000),
    requestTimeoutMs:
      values['request-timeout-ms'] === undefined
        ? null
        : positiveNumber(values['request-timeout-ms'], 'request-timeout-ms', 2000),
    clusterTiming: {
      ...(values['election-timeout-ms'] === undefined
        ? {}
        : {
            electionTimeoutMs: positiveNumber(
              values['election-timeout-ms'],
              'election-timeout-ms',
              300,
            ),
          }),
      ...(values['heartbeat-ms'] === undefined
        ? {}
        : { heartbeatIntervalMs: positiveNumber(values['heartbeat-ms'], 'heartbeat-ms', 50) }),
    },
    profiling: profilingArg(values.profile, values['heap-profile']),
    profilePath: name === 'profile-top' ? (rest[0] ?? null) : null,
    json: values.json === true,
    waitIdleSeconds:
      values['wait-idle'] === undefined ? 0 : positiveNumber(values['wait-idle'], 'wait-idle', 0),
  };
}
