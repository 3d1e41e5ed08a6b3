import type { Argv } from 'yargs';
import { AdminClient, type BrokerStatus } from '../../clients/admin.js';
import { brokersOption, parseBrokers } from './brokers.js';

export function formatStatus(all: readonly BrokerStatus[]): string {
  const lines: string[] = [];
  lines.push(
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
      'endpoint',
    ].join('\t'),
  );
  for (const b of all) {
    const s = b.status;
    if (s === null) {
      lines.push(`?\tunreachable\t\t\t\t\t\t\t\t${b.endpoint} (${b.error})`);
      continue;
    }
    lines.push(
      [
        s.id,
        s.role,
        s.epoch,
        s.leaderId || '-',
        s.firstSeq,
        s.lastSeq,
        s.commitSeq,
        s.catchUpRemaining,
        s.fsync,
        b.endpoint,
      ].join('\t'),
    );
  }
  for (const b of all) {
    const s = b.status;
    if (s === null) continue;
    for (const p of s.peers)
      lines.push(
        `  ${s.id} -> ${p.id}: match ${p.matchSeq}, lag ${p.lagEntries}${p.active ? '' : ' (inactive)'}`,
      );
    for (const sub of s.subscribers)
      lines.push(
        `  ${s.id} subscriber ${sub.subscriptionId}: next ${sub.nextSeq}, acked ${sub.ackedSeq}, lag ${sub.lagEntries}`,
      );
  }
  // Replicas report to every node: show each once, with its latest report.
  const replicas = new Map<string, NonNullable<BrokerStatus['status']>['replicas'][number]>();
  for (const b of all) {
    for (const r of b.status?.replicas ?? []) {
      const id = r.replicaId ?? '';
      const known = replicas.get(id);
      if (known === undefined || (r.appliedSeq ?? 0) > (known.appliedSeq ?? 0) || r.diverged) {
        replicas.set(id, r);
      }
    }
  }
  for (const r of replicas.values()) {
    const flag = r.diverged ? `  DIVERGED at seq ${r.divergedAtSeq}` : '';
    lines.push(
      `  replica ${r.replicaId} (${r.plugin}): applied ${r.appliedSeq}, digest@${r.digestSeq} ${r.digest}${flag}`,
    );
  }
  return lines.join('\n');
}

export function statusCommand(yargs: Argv): Argv {
  return yargs.command(
    'status',
    'Show each node: role, epoch, last and commit seq, follower lag, subscribers, replicas',
    (y) =>
      y
        .option('brokers', brokersOption)
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON' })
        .example(
          '$0 status --brokers 127.0.0.1:7001,127.0.0.1:7004,127.0.0.1:7007',
          'status of a 3-node cluster',
        ),
    async (argv) => {
      const admin = new AdminClient(parseBrokers(argv.brokers));
      try {
        const all = await admin.statusAll();
        console.log(argv.json ? JSON.stringify(all, null, 2) : formatStatus(all));
        if (all.every((b) => b.status === null)) process.exitCode = 1;
      } finally {
        admin.close();
      }
    },
  );
}
