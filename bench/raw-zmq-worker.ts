/**
 * One side of the raw ZeroMQ PUB/SUB measurement (bench/raw-zmq.ts): the
 * ceiling that zeromq.js itself reaches between two processes on this
 * machine, with no protocol, encoding or storage, to compare Ordo against.
 * Socket options mirror the ones Ordo's own sockets use.
 */
import * as zmq from 'zeromq';
import { LIMITS } from '../src/limits.js';
import { type HistogramData, LatencyHistogram } from '../src/runtime/latency-stats.js';
import { sleep } from './children.js';

export interface SubCommand {
  readonly type: 'sub';
  readonly messagesPerFrame: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface PubCommand {
  readonly type: 'pub';
  readonly endpoint: string;
  readonly messagesPerFrame: number;
  readonly messageBytes: number;
  readonly durationMs: number;
  readonly maxFrames: number;
}

/** The echo side of the DEALER/ROUTER round trip: answers every request with its own bytes. */
export interface EchoCommand {
  readonly type: 'echo';
}

/** The asking side: `roundTrips` requests one at a time, each awaited, after `warmupRoundTrips` untimed ones. */
export interface PingCommand {
  readonly type: 'ping';
  readonly endpoint: string;
  readonly messageBytes: number;
  readonly warmupRoundTrips: number;
  readonly roundTrips: number;
  /** A pause after each answer (0: the next request at once), as traffic that is spread out in time has. */
  readonly pauseMs: number;
}

/**
 * The sequencer of the raw chain: the path of a lone publish through Ordo
 * (client to sequencer, multicast to the followers, their acks back, the
 * answer to the client, then the commit notice) with no protocol, encoding
 * or storage. It answers once `acksNeeded` followers acknowledged.
 */
export interface ChainSequencerCommand {
  readonly type: 'chainSequencer';
  /** Follower processes: the sequencer reports 'joined' once each acknowledged a probe. */
  readonly followers: number;
  readonly acksNeeded: number;
}

/**
 * A follower of the raw chain: acknowledges every multicast request, not
 * the commit notices (Ordo's followers leave out an ack that would repeat
 * their last one within the same tick).
 */
export interface ChainFollowerCommand {
  readonly type: 'chainFollower';
  readonly pubEndpoint: string;
  readonly ackEndpoint: string;
}

export interface PingResult {
  readonly type: 'pingDone';
  readonly latency: HistogramData;
}

/** Time for the subscription to reach the publisher before sending starts (ZeroMQ's slow joiner). */
const joinDelayMs = 300;

async function subscribe(command: SubCommand): Promise<void> {
  const socket = new zmq.Subscriber({
    linger: 0,
    receiveHighWaterMark: LIMITS.socketHighWaterMarkMessages,
    maxMessageSize: LIMITS.maxFrameBytes,
  });
  socket.subscribe();
  await socket.bind('tcp://127.0.0.1:*');
  process.send!({ type: 'bound', endpoint: socket.lastEndpoint });
  let frames = 0;
  let firstMs = -1;
  let windowFrames = 0;
  let fromMs = 0;
  let toMs = 0;
  for await (const _ of socket) {
    const nowMs = performance.now();
    if (firstMs < 0) {
      firstMs = nowMs;
      fromMs = firstMs + command.warmupMs;
      toMs = fromMs + command.measureMs;
    }
    frames++;
    if (nowMs >= fromMs) windowFrames++;
    if (nowMs >= toMs) break;
  }
  socket.close();
  const windowMs = performance.now() - fromMs;
  process.send!({
    type: 'subDone',
    frames,
    windowFrames,
    windowMessages: windowFrames * command.messagesPerFrame,
    windowMs,
    messagesPerSecond: (windowFrames * command.messagesPerFrame * 1000) / windowMs,
  });
}

async function publish(command: PubCommand): Promise<void> {
  const socket = new zmq.Publisher({
    linger: 0,
    sendHighWaterMark: LIMITS.socketHighWaterMarkMessages,
  });
  socket.connect(command.endpoint);
  await sleep(joinDelayMs);
  const frame = Buffer.alloc(command.messageBytes * command.messagesPerFrame, 0x61);
  const startMs = performance.now();
  const endMs = startMs + command.durationMs;
  let sent = 0;
  // zeromq.js allows one pending send per socket, so each send is awaited,
  // exactly as Ordo's SocketSender does; checking the clock every 256 frames
  // keeps the loop itself cheap.
  while (sent < command.maxFrames) {
    await socket.send(frame);
    sent++;
    if ((sent & 255) === 0 && performance.now() >= endMs) break;
  }
  const sendMs = performance.now() - startMs;
  socket.close();
  process.send!({
    type: 'pubDone',
    framesSent: sent,
    sendMs,
    messagesPerSecond: (sent * command.messagesPerFrame * 1000) / sendMs,
  });
}

async function echo(): Promise<void> {
  const socket = new zmq.Router({ linger: 0, maxMessageSize: LIMITS.maxFrameBytes });
  await socket.bind('tcp://127.0.0.1:*');
  process.send!({ type: 'bound', endpoint: socket.lastEndpoint });
  for await (const frames of socket) await socket.send(frames);
}

/** The commit notice of the raw chain; as a round number its first bytes are far above any round used. */
const CHAIN_NOTICE = Buffer.from('commit');

async function chainSequencer(command: ChainSequencerCommand): Promise<void> {
  const clients = new zmq.Router({ linger: 0, maxMessageSize: LIMITS.maxFrameBytes });
  const pub = new zmq.Publisher({ linger: 0 });
  const acks = new zmq.Router({ linger: 0 });
  await clients.bind('tcp://127.0.0.1:*');
  await pub.bind('tcp://127.0.0.1:*');
  await acks.bind('tcp://127.0.0.1:*');
  process.send!({
    type: 'bound',
    endpoint: clients.lastEndpoint,
    pubEndpoint: pub.lastEndpoint,
    ackEndpoint: acks.lastEndpoint,
  });
  await joinFollowers(pub, acks, command.followers);
  process.send!({ type: 'joined' });
  // Each request goes out as a round number and its bytes; an ack names the
  // round, so a late ack of an earlier round counts for nothing (as Ordo's
  // acks name the seq they hold).
  let waiting: Buffer | null = null;
  let round = 0;
  let acked = 0;
  const answer = async (): Promise<void> => {
    for await (const [, ack] of acks) {
      if (waiting === null || ack!.readUInt32LE(0) !== round) continue;
      if (++acked < command.acksNeeded) continue;
      const client = waiting;
      waiting = null;
      await clients.send([client, CHAIN_NOTICE]);
      await pub.send(CHAIN_NOTICE);
    }
  };
  void answer();
  for await (const [client, body] of clients) {
    waiting = client!;
    acked = 0;
    round = (round + 1) >>> 0;
    const frame = Buffer.allocUnsafe(4 + body!.length);
    frame.writeUInt32LE(round, 0);
    body!.copy(frame, 4);
    await pub.send(frame);
  }
}

/** Most probes the sequencer multicasts while it waits for every follower's subscription, 10 ms apart. */
const MAX_JOIN_PROBES = 1000;

/**
 * Multicasts probes (round 0, which no request uses) until `followers`
 * distinct followers acknowledged one: then every subscription has reached
 * the PUB, which drops what it sends before that (ZeroMQ's slow joiner).
 */
async function joinFollowers(
  pub: zmq.Publisher,
  acks: zmq.Router,
  followers: number,
): Promise<void> {
  const probe = Buffer.alloc(16);
  const joined = new Set<string>();
  acks.receiveTimeout = 10;
  for (let probes = 0; joined.size < followers; probes++) {
    if (probes >= MAX_JOIN_PROBES)
      throw new Error(`only ${joined.size} of ${followers} followers joined the raw chain`);
    await pub.send(probe);
    try {
      const [identity] = await acks.receive();
      joined.add(identity!.toString('hex'));
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN') throw error;
    }
  }
  acks.receiveTimeout = -1;
}

async function chainFollower(command: ChainFollowerCommand): Promise<void> {
  const sub = new zmq.Subscriber({ linger: 0, maxMessageSize: LIMITS.maxFrameBytes });
  const ack = new zmq.Dealer({ linger: 0 });
  sub.subscribe();
  sub.connect(command.pubEndpoint);
  ack.connect(command.ackEndpoint);
  // An ack carries the frame's first bytes: the round of a request.
  for await (const [body] of sub) {
    if (body!.equals(CHAIN_NOTICE)) continue;
    await ack.send(body!.subarray(0, 16));
  }
}

/**
 * One request in flight at a time over a DEALER socket, as a publisher that
 * awaits each publish has: the round trip zeromq.js itself takes between two
 * processes, the floor under Ordo's lone-message latency.
 */
async function ping(command: PingCommand): Promise<void> {
  const socket = new zmq.Dealer({ linger: 0, maxMessageSize: LIMITS.maxFrameBytes });
  socket.connect(command.endpoint);
  const frame = Buffer.alloc(command.messageBytes, 0x61);
  const latency = new LatencyHistogram();
  for (let i = 0; i < command.warmupRoundTrips + command.roundTrips; i++) {
    const startMs = performance.now();
    await socket.send(frame);
    await socket.receive();
    if (i >= command.warmupRoundTrips) latency.record(performance.now() - startMs);
    if (command.pauseMs > 0) await sleep(command.pauseMs);
  }
  socket.close();
  const result: PingResult = { type: 'pingDone', latency: latency.toData() };
  process.send!(result);
}

process.on('message', (raw) => {
  const command = raw as
    | SubCommand
    | PubCommand
    | EchoCommand
    | PingCommand
    | ChainSequencerCommand
    | ChainFollowerCommand
    | { type: 'exit' };
  const fail = (error: Error) => process.send!({ type: 'error', message: error.message });
  if (command.type === 'sub') subscribe(command).catch(fail);
  else if (command.type === 'pub') publish(command).catch(fail);
  else if (command.type === 'echo') echo().catch(fail);
  else if (command.type === 'ping') ping(command).catch(fail);
  else if (command.type === 'chainSequencer') chainSequencer(command).catch(fail);
  else if (command.type === 'chainFollower') chainFollower(command).catch(fail);
  else process.exit(0);
});
process.on('disconnect', () => process.exit(0));
