import type { Argv } from 'yargs';
import { AdminClient, type BrokerStatus } from '../../clients/admin.js';
import {
  assessCluster,
  type ClusterReport,
  DEFAULT_MAX_LAG_ENTRIES,
  healthExitCode,
} from '../cluster/cluster-health.js';
import { brokerStatusJson } from '../cluster/status-json.js';
import { brokersOption, clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';
import { formatDuration, formatTable } from './table.js';

/** The report as a table: a health line, one row per node, then followers, subscribers, replicas, problems. */
export function formatReport(report: ClusterReport): string {
  const lines: string[] = [];
  const sequencer =
    report.sequencer === null
      ? 'no sequencer'
      : `sequencer ${report.sequencer.id} (epoch ${report.sequencer.epoch})`;
  lines.push(`cluster ${report.health}: ${sequencer}`);
  lines.push('');
  lines.push(
    formatTable(
      [
        'node',
        'role',
        'epoch',
        'leader',
        'first',
        'last',
        'commit',
        'catch-up',
        'fsync',
        'version',
        'uptime',
        'endpoint',
      ],
      report.nodes.map((n) => {
        const s = n.status;
        if (s === null)
          return [
            '?',
            'unreachable',
            '-',
            '-',
            '-',
            '-',
            '-',
            '-',
            '-',
            '-',
            '-',
            `${n.endpoint} (${n.error})`,
          ];
        return [
          s.id,
          s.witness ? `${s.role} (witness)` : s.role,
          s.epoch,
          s.leaderId || '-',
          s.firstSeq,
          s.lastSeq,
          s.commitSeq,
          s.catchUpRemaining,
          s.fsync,
          s.version,
          formatDuration(s.uptimeMs),
          n.endpoint,
        ];
      }),
    ),
  );
  const leader = report.nodes.find(
    (n) => n.status !== null && n.status.id === report.sequencer?.id,
  )?.status;
  if (leader !== undefined && leader !== null && leader.peers.length > 0) {
    lines.push('', `followers (as ${leader.id} sees them):`);
    lines.push(
      formatTable(
        ['follower', 'match', 'lag', 'active'],
        leader.peers.map((p) => [p.id, p.matchSeq, p.lagEntries, p.active ? 'yes' : 'no']),
        '  ',
      ),
    );
  }
  const subscribers = report.nodes.flatMap((n) =>
    (n.status?.subscribers ?? []).map((sub) => [
      n.status!.id,
      sub.subscriptionId,
      sub.nextSeq,
      sub.ackedSeq,
      sub.lagEntries,
      sub.topics.length === 0 ? 'all' : sub.topics.join(','),
    ]),
  );
  if (subscribers.length > 0) {
    lines.push('', 'subscribers:');
    lines.push(
      formatTable(['node', 'subscription', 'next', 'acked', 'lag', 'topics'], subscribers, '  '),
    );
  }
  if (report.replicas.length > 0) {
    lines.push('', 'replicas:');
    lines.push(
      formatTable(
        null,
        report.replicas.map((r) => [
          `replica ${r.replicaId} (${r.plugin})`,
          `applied ${r.appliedSeq}`,
          `digest@${r.digestSeq} ${r.digest}`,
          r.diverged ? `DIVERGED at seq ${r.divergedAtSeq}` : 'ok',
        ]),
        '  ',
      ),
    );
  }
  const reached = report.nodes.filter((n) => n.status !== null);
  if (reached.length > 0) {
    const open = reached.filter((n) => n.status!.secured !== true).map((n) => n.status!.id);
    lines.push(
      '',
      open.length === 0
        ? 'security: CurveZMQ on every socket, keys checked'
        : `security: INSECURE on ${open.join(', ')} (no keys: any process that reaches the ports can read the stream, publish and act as a node)`,
    );
  }
  if (report.problems.length > 0) {
    lines.push('', 'problems:');
    for (const p of report.problems) lines.push(`  - ${p}`);
  }
  if (report.warnings.length > 0) {
    lines.push('', 'warnings:');
    for (const w of report.warnings) lines.push(`  - ${w}`);
  }
  return lines.join('\n');
}

/** The table for a set of broker answers (healthy thresholds by default). */
export function formatStatus(
  all: readonly BrokerStatus[],
  maxLagEntries = DEFAULT_MAX_LAG_ENTRIES,
): string {
  return formatReport(
    assessCluster(
      all.map((b) => brokerStatusJson(b)),
      { maxLagEntries },
    ),
  );
}

export function statusCommand(yargs: Argv): Argv {
  return yargs.command(
    'status',
    'Show each node: role, epoch, seqs, version, uptime, follower and subscriber lag, replicas; exit 0 healthy, 1 nothing reachable, 2 degraded',
    (y) =>
      y
        .option('brokers', brokersOption)
        .option('credentials', credentialsOption)
        .option('json', {
          type: 'boolean',
          default: false,
          describe:
            'Print JSON: {health, problems, warnings, sequencer, replicas, nodes[{endpoint, reachable, error, status}]}',
        })
        .option('watch', {
          type: 'boolean',
          default: false,
          describe:
            'Redraw every --interval-ms until Ctrl-C (with --json: one JSON line each time)',
        })
        .option('interval-ms', {
          type: 'number',
          default: 1000,
          describe: 'Refresh interval for --watch',
        })
        .option('max-lag', {
          type: 'number',
          default: DEFAULT_MAX_LAG_ENTRIES,
          describe: 'A follower further behind than this many entries makes the cluster degraded',
        })
        .check((argv) => {
          if (!Number.isInteger(argv['interval-ms']) || argv['interval-ms'] < 100)
            throw new Error(
              `--interval-ms must be a whole number of at least 100, got ${argv['interval-ms']}`,
            );
          if (!Number.isInteger(argv['max-lag']) || argv['max-lag'] < 0)
            throw new Error(`--max-lag must be a whole number of entries, got ${argv['max-lag']}`);
          return true;
        })
        .example(
          '$0 status --brokers 127.0.0.1:7001,127.0.0.1:7004,127.0.0.1:7007',
          'status of a 3-node cluster',
        )
        .example(
          '$0 status --brokers 127.0.0.1:7001 --watch',
          'a live view, refreshed every second',
        ),
    async (argv) => {
      const admin = new AdminClient(
        parseBrokers(argv.brokers),
        undefined,
        clientRuntimeFrom(argv.credentials),
      );
      const once = async (): Promise<ClusterReport> => {
        const all = await admin.statusAll();
        return assessCluster(
          all.map((b) => brokerStatusJson(b)),
          { maxLagEntries: argv['max-lag'] },
        );
      };
      try {
        if (!argv.watch) {
          const report = await once();
          console.log(argv.json ? JSON.stringify(report, null, 2) : formatReport(report));
          process.exitCode = healthExitCode(report.health);
          return;
        }
        let stop = false;
        process.once('SIGINT', () => {
          stop = true;
        });
        while (!stop) {
          const report = await once();
          process.exitCode = healthExitCode(report.health);
          if (argv.json) console.log(JSON.stringify(report));
          else {
            if (process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
            console.log(`${formatReport(report)}\n\n${new Date().toISOString()}  (Ctrl-C stops)`);
          }
          await new Promise((resolve) => setTimeout(resolve, argv['interval-ms']));
        }
      } finally {
        admin.close();
      }
    },
  );
}
