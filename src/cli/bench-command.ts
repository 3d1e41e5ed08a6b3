import type { Argv } from 'yargs';
import type { ClientRuntime } from '../../clients/client-runtime.js';
import { type AckMode, Publisher } from '../../clients/publisher.js';
import { LatencyHistogram } from '../runtime/latency-stats.js';
import { brokersOption, clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';
import { formatTable } from './table.js';

interface BenchSettings {
  readonly brokers: string[];
  readonly runtime: ClientRuntime;
  readonly messages: number;
  readonly sizeBytes: number;
  readonly inFlight: number;
  readonly maxSeconds: number;
  readonly topic: string;
  readonly ackMode: AckMode;
  readonly progress: boolean;
}

interface BenchResult {
  readonly acked: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly elapsedMs: number;
  readonly latency: LatencyHistogram;
  readonly stoppedEarly: boolean;
}

/** How often the progress line is redrawn. */
const PROGRESS_INTERVAL_MS = 500;

/**
 * Publishes `messages` messages of `sizeBytes` through one Publisher with at
 * most `inFlight` outstanding, measuring each publish from the call to its
 * acknowledgement. Bounded in count and in time (`maxSeconds`).
 */
async function runBench(s: BenchSettings): Promise<BenchResult> {
  const publisher = new Publisher({
    brokers: s.brokers,
    runtime: s.runtime,
    ackMode: s.ackMode,
    maxInFlightMessages: s.inFlight,
  });
  const latency = new LatencyHistogram();
  const payload = new Uint8Array(s.sizeBytes).fill(0x61);
  const startedMs = performance.now();
  const deadlineMs = startedMs + s.maxSeconds * 1000;
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let firstError: string | null = null;
  let lastAcked = 0;
  let lastProgressMs = startedMs;
  const drawProgress = () => {
    if (!s.progress) return;
    const nowMs = performance.now();
    const rate = ((acked - lastAcked) * 1000) / (nowMs - lastProgressMs);
    lastAcked = acked;
    lastProgressMs = nowMs;
    const p50 = latency.count === 0 ? '-' : latency.percentile(0.5).toFixed(2);
    const p99 = latency.count === 0 ? '-' : latency.percentile(0.99).toFixed(2);
    process.stderr.write(
      `\r${((nowMs - startedMs) / 1000).toFixed(1)} s  acked ${acked}/${s.messages}  ${Math.round(rate)} msg/s  p50 ${p50} ms  p99 ${p99} ms  failed ${failed}   `,
    );
  };
  const progress = setInterval(drawProgress, PROGRESS_INTERVAL_MS);
  const worker = async () => {
    while (sent < s.messages && performance.now() < deadlineMs) {
      sent++;
      const t0 = performance.now();
      try {
        await publisher.publish(s.topic, payload);
        latency.record(performance.now() - t0);
        acked++;
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(s.inFlight, s.messages) }, worker));
  } finally {
    clearInterval(progress);
    publisher.close();
    // The last line shows the final count, also for a run shorter than one interval.
    drawProgress();
    if (s.progress) process.stderr.write('\n');
  }
  return {
    acked,
    failed,
    firstError,
    elapsedMs: performance.now() - startedMs,
    latency,
    stoppedEarly: sent < s.messages,
  };
}

export function formatBenchSummary(s: BenchSettings, r: BenchResult): string {
  const seconds = r.elapsedMs / 1000;
  const rate = r.acked / seconds;
  const ms = (q: number) => (r.latency.count === 0 ? '-' : r.latency.percentile(q).toFixed(2));
  const lines = [
    formatTable(
      ['messages', 'size (B)', 'acked', 'failed', 'seconds', 'msg/s', 'MB/s'],
      [
        [
          s.messages,
          s.sizeBytes,
          r.acked,
          r.failed,
          seconds.toFixed(2),
          Math.round(rate),
          ((rate * s.sizeBytes) / 1e6).toFixed(2),
        ],
      ],
    ),
    '',
    formatTable(
      ['latency (ms)', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean'],
      [
        [
          `publish to ${s.ackMode === 'quorum' ? 'commit' : 'sequenced'} ack`,
          ms(0.5),
          ms(0.9),
          ms(0.99),
          ms(0.999),
          r.latency.count === 0 ? '-' : r.latency.max.toFixed(2),
          r.latency.count === 0 ? '-' : r.latency.meanMs.toFixed(2),
        ],
      ],
    ),
  ];
  if (r.stoppedEarly)
    lines.push('', `stopped at --max-seconds ${s.maxSeconds} before every message was sent`);
  if (r.firstError !== null) lines.push('', `first failure: ${r.firstError}`);
  return lines.join('\n');
}

export function benchCommand(yargs: Argv): Argv {
  return yargs.command(
    'bench',
    'Measure publish throughput and latency against a running cluster (a live progress line, then a summary table)',
    (y) =>
      y
        .option('brokers', brokersOption)
        .option('credentials', credentialsOption)
        .option('messages', {
          type: 'number',
          default: 10_000,
          describe: 'How many messages to publish',
        })
        .option('size', { type: 'number', default: 100, describe: 'Payload size in bytes' })
        .option('in-flight', {
          type: 'number',
          default: 1000,
          describe: 'Most publishes outstanding at once',
        })
        .option('max-seconds', {
          type: 'number',
          default: 60,
          describe: 'Stop sending after this long',
        })
        .option('topic', { type: 'string', default: 'bench', describe: 'Topic to publish to' })
        .option('ack', {
          choices: ['quorum', 'sequenced'] as const,
          default: 'quorum' as AckMode,
          describe: 'quorum: acknowledged once committed; sequenced: once the sequencer ordered it',
        })
        .option('json', { type: 'boolean', default: false, describe: 'Print the summary as JSON' })
        .check((argv) => {
          const whole = (name: string, value: number, min: number, max: number) => {
            if (!Number.isInteger(value) || value < min || value > max)
              throw new Error(
                `--${name} must be a whole number from ${min} to ${max}, got ${value}`,
              );
          };
          whole('messages', argv.messages, 1, 100_000_000);
          whole('size', argv.size, 0, 1024 * 1024);
          whole('in-flight', argv['in-flight'], 1, 100_000);
          whole('max-seconds', argv['max-seconds'], 1, 86_400);
          return true;
        })
        .example(
          '$0 bench --brokers 127.0.0.1:7001 --messages 100000 --size 256',
          '100k messages of 256 B',
        ),
    async (argv) => {
      const settings: BenchSettings = {
        brokers: parseBrokers(argv.brokers),
        runtime: clientRuntimeFrom(argv.credentials),
        messages: argv.messages,
        sizeBytes: argv.size,
        inFlight: argv['in-flight'],
        maxSeconds: argv['max-seconds'],
        topic: argv.topic,
        ackMode: argv.ack,
        progress: !argv.json,
      };
      const result = await runBench(settings);
      if (argv.json) {
        const q = (p: number) => (result.latency.count === 0 ? null : result.latency.percentile(p));
        console.log(
          JSON.stringify({
            messages: settings.messages,
            sizeBytes: settings.sizeBytes,
            acked: result.acked,
            failed: result.failed,
            elapsedMs: result.elapsedMs,
            messagesPerSecond: result.acked / (result.elapsedMs / 1000),
            latencyMs: {
              p50: q(0.5),
              p90: q(0.9),
              p99: q(0.99),
              p999: q(0.999),
              max: result.latency.max,
            },
            firstError: result.firstError,
          }),
        );
      } else console.log(formatBenchSummary(settings, result));
      if (result.failed > 0 || result.acked === 0) process.exitCode = 1;
    },
  );
}
