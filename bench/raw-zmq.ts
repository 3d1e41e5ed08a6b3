import {
  LatencyHistogram,
  type LatencySummary,
  round,
  summarize,
} from '../src/runtime/latency-stats.js';
import type { WorkerSet } from './children.js';
import type {
  ChainFollowerCommand,
  ChainSequencerCommand,
  EchoCommand,
  PingCommand,
  PingResult,
  PubCommand,
  SubCommand,
} from './raw-zmq-worker.js';

export interface RawZmqOptions {
  readonly messageBytes: number;
  readonly messagesPerFrame: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface RawZmqResult {
  readonly messagesPerFrame: number;
  /** Messages per second the subscriber received: the ceiling we compare against. */
  readonly receivedPerSecond: number;
  /** Messages per second the publisher handed to zeromq.js (more than received when PUB drops at its high-water mark). */
  readonly sentPerSecond: number;
}

/** Upper bound on one measurement, beyond the time it is asked to run. */
const slackMs = 15_000;

/**
 * Measures zeromq.js PUB/SUB between two fresh processes: the publisher
 * sends `messagesPerFrame` messages of `messageBytes` per frame as fast as
 * zeromq.js accepts them, and the subscriber counts what arrives during a
 * window that starts `warmupMs` after its first frame.
 */
export async function measureRawZmq(
  workers: WorkerSet,
  options: RawZmqOptions,
): Promise<RawZmqResult> {
  const sub = workers.fork('raw-zmq-worker', 'raw-sub');
  const pub = workers.fork('raw-zmq-worker', 'raw-pub');
  try {
    const subCommand: SubCommand = {
      type: 'sub',
      messagesPerFrame: options.messagesPerFrame,
      warmupMs: options.warmupMs,
      measureMs: options.measureMs,
    };
    sub.send(subCommand);
    const bound = await sub.next('bound', 10_000);
    // The publisher runs a second longer than the subscriber's window, so the window is always full.
    const durationMs = options.warmupMs + options.measureMs + 1000;
    const pubCommand: PubCommand = {
      type: 'pub',
      endpoint: bound['endpoint'] as string,
      messagesPerFrame: options.messagesPerFrame,
      messageBytes: options.messageBytes,
      durationMs,
      maxFrames: 100_000_000,
    };
    pub.send(pubCommand);
    const [subDone, pubDone] = await Promise.all([
      sub.next('subDone', durationMs + slackMs),
      pub.next('pubDone', durationMs + slackMs),
    ]);
    return {
      messagesPerFrame: options.messagesPerFrame,
      receivedPerSecond: round(subDone['messagesPerSecond'] as number, 0),
      sentPerSecond: round(pubDone['messagesPerSecond'] as number, 0),
    };
  } finally {
    await Promise.all([workers.stop(sub), workers.stop(pub)]);
  }
}

/** The single-message and the packed measurement, one after the other. */
export async function measureRawPair(
  workers: WorkerSet,
  messageBytes: number,
  packedMessages: number,
  measureMs: number,
): Promise<{ single: RawZmqResult; packed: RawZmqResult }> {
  const base = { messageBytes, warmupMs: 500, measureMs };
  const single = await measureRawZmq(workers, { ...base, messagesPerFrame: 1 });
  const packed = await measureRawZmq(workers, { ...base, messagesPerFrame: packedMessages });
  return { single, packed };
}

/**
 * The zeromq.js DEALER/ROUTER round trip between two fresh processes, one
 * request in flight at a time: the floor under a lone publish's latency.
 */
export async function measureRawRoundTrip(
  workers: WorkerSet,
  messageBytes: number,
  roundTrips: number,
): Promise<LatencySummary> {
  const router = workers.fork('raw-zmq-worker', 'raw-router');
  const dealer = workers.fork('raw-zmq-worker', 'raw-dealer');
  try {
    const echo: EchoCommand = { type: 'echo' };
    router.send(echo);
    const bound = await router.next('bound', 10_000);
    return await ping(dealer, bound['endpoint'] as string, messageBytes, roundTrips, 0);
  } finally {
    await Promise.all([workers.stop(router), workers.stop(dealer)]);
  }
}

/**
 * The raw chain: a lone publish's path through a cluster of `nodes` (client
 * to sequencer, multicast to the other nodes, a majority's acks back, the
 * answer, then the commit point multicast), one process
 * per node as in Ordo, with
 * zeromq.js alone. It is the floor under Ordo's lone-message latency on
 * this machine, where the plain round trip leaves out the hop to the
 * followers and back, and the processes that share the cores.
 */
export async function measureRawChain(
  workers: WorkerSet,
  nodes: number,
  messageBytes: number,
  roundTrips: number,
  pauseMs = 0,
): Promise<LatencySummary> {
  const sequencer = workers.fork('raw-zmq-worker', 'raw-chain-sequencer');
  const followers = Array.from({ length: nodes - 1 }, (_, i) =>
    workers.fork('raw-zmq-worker', `raw-chain-follower-${i + 1}`),
  );
  const client = workers.fork('raw-zmq-worker', 'raw-chain-client');
  try {
    const acksNeeded = Math.floor(nodes / 2);
    const start: ChainSequencerCommand = {
      type: 'chainSequencer',
      followers: followers.length,
      acksNeeded,
    };
    sequencer.send(start);
    const bound = await sequencer.next('bound', 10_000);
    for (const follower of followers) {
      const join: ChainFollowerCommand = {
        type: 'chainFollower',
        pubEndpoint: bound['pubEndpoint'] as string,
        ackEndpoint: bound['ackEndpoint'] as string,
      };
      follower.send(join);
    }
    await sequencer.next('joined', 20_000);
    return await ping(client, bound['endpoint'] as string, messageBytes, roundTrips, pauseMs);
  } finally {
    await Promise.all([sequencer, ...followers, client].map((w) => workers.stop(w)));
  }
}

/** Has `worker` send `roundTrips` requests to `endpoint` one at a time (after up to 1,000 untimed ones) and times them. */
async function ping(
  worker: ReturnType<WorkerSet['fork']>,
  endpoint: string,
  messageBytes: number,
  roundTrips: number,
  pauseMs: number,
): Promise<LatencySummary> {
  const command: PingCommand = {
    type: 'ping',
    endpoint,
    messageBytes,
    warmupRoundTrips: Math.min(1000, roundTrips),
    roundTrips,
    pauseMs,
  };
  worker.send(command);
  // A round trip on this machine takes well under a millisecond; 20 ms each (plus the pause) is generous.
  const done = (await worker.next(
    'pingDone',
    10_000 + roundTrips * (20 + 2 * pauseMs),
  )) as unknown as PingResult;
  return summarize(LatencyHistogram.from(done.latency));
}
