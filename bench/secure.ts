import { round } from '../src/runtime/latency-stats.js';
import type { BenchArgs } from './args.js';
import type { WorkerSet } from './children.js';
import { formatNumber, formatTable, printJsonLine } from './report.js';
import { header, latencyTriple, log, phaseTable, runClusterPhases } from './throughput.js';

/**
 * `npm run bench -- secure`: the cost of CurveZMQ. The same saturated and
 * moderate-rate phases against an insecure cluster and then a secured one
 * (keys on every node, encryption and authentication on every socket,
 * publishers included), in one run on one machine, side by side.
 */
export async function secureBench(workers: WorkerSet, args: BenchArgs): Promise<void> {
  log(`insecure ${args.nodes}-node cluster, fsync=${args.fsync}`);
  const open = await runClusterPhases(workers, args, args.fsync, false);
  log(`secured ${args.nodes}-node cluster (CurveZMQ), fsync=${args.fsync}`);
  const secured = await runClusterPhases(workers, args, args.fsync, true);
  const openRate = open.saturated?.ackedPerSecond ?? Number.NaN;
  const securedRate = secured.saturated?.ackedPerSecond ?? Number.NaN;
  const ratio = round(securedRate / openRate, 4);
  console.log(`\n${header(args)}\n`);
  console.log(
    phaseTable([
      ['saturated, insecure', open.saturated],
      ['saturated, CurveZMQ', secured.saturated],
      [`moderate ${open.moderateRatePerSecond}/s, insecure`, open.moderate],
      [`moderate ${secured.moderateRatePerSecond}/s, CurveZMQ`, secured.moderate],
    ]),
  );
  console.log('');
  console.log(
    formatTable(
      ['summary', 'insecure', 'CurveZMQ'],
      [
        ['committed msgs/s (saturated)', formatNumber(openRate), formatNumber(securedRate)],
        [
          'p50 / p99 / p99.9, saturated',
          latencyTriple(open.saturated),
          latencyTriple(secured.saturated),
        ],
        [
          'p50 / p99 / p99.9, moderate',
          latencyTriple(open.moderate),
          latencyTriple(secured.moderate),
        ],
        ['node warnings', String(open.nodeWarnings), String(secured.nodeWarnings)],
      ],
    ),
  );
  console.log(
    `\nCurveZMQ keeps ${(ratio * 100).toFixed(1)}% of the insecure throughput (cost ${((1 - ratio) * 100).toFixed(1)}%).`,
  );
  if (args.json) {
    printJsonLine({
      bench: 'secure',
      date: new Date().toISOString(),
      nodes: args.nodes,
      publishers: args.publishers,
      payloadBytes: args.payloadBytes,
      insecure: open,
      secured,
      securedToInsecure: ratio,
    });
  }
}
