import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { verifyCluster } from '../cluster/cluster-verifier.js';
import { checkLogFiles } from '../storage/log-check.js';
import { clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';

export function verifyCommand(yargs: Argv): Argv {
  return yargs.command(
    'verify',
    "Check that nodes hold the same committed log (--brokers), or check one node's log files offline (--data); exit 0 when all is well, 1 when logs differ or are damaged, 2 when the check could not run",
    (y) =>
      y
        .option('brokers', {
          type: 'string',
          describe:
            'Broker client endpoints to compare, comma-separated (every node you name is compared)',
        })
        .option('credentials', credentialsOption)
        .option('data', {
          type: 'string',
          describe: "A node's data folder (dataDir/<id>, or its log/ folder) to check offline",
        })
        .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON' })
        .check((argv) => {
          if ((argv.brokers === undefined) === (argv.data === undefined))
            throw new Error('give exactly one of --brokers and --data');
          return true;
        })
        .example(
          '$0 verify --brokers 127.0.0.1:7001,127.0.0.1:7004,127.0.0.1:7007',
          'compare three nodes',
        )
        .example('$0 verify --data /var/lib/ordo/n1', "check n1's files (best with n1 stopped)"),
    async (argv) => {
      if (argv.data !== undefined) {
        const logDir = existsSync(join(argv.data, 'log')) ? join(argv.data, 'log') : argv.data;
        if (!existsSync(logDir)) throw new Error(`no such folder: ${logDir}`);
        const report = await checkLogFiles(logDir);
        if (argv.json) console.log(JSON.stringify(report, null, 2));
        else if (report.problem !== null) console.log(`${logDir}: DAMAGED: ${report.problem}`);
        else {
          console.log(
            `${logDir}: sound: seqs ${report.firstSeq}..${report.lastSeq} in ${report.segmentCount} segment(s), log digest ${report.lastChainHash}`,
          );
          if (report.tornTail !== null)
            console.log(
              `  torn last write (a crash; the node cuts it off when it starts): ${report.tornTail}`,
            );
        }
        process.exitCode = report.problem === null ? 0 : 1;
        return;
      }
      const interactive = process.stderr.isTTY && !argv.json;
      const result = await verifyCluster(
        parseBrokers(argv.brokers!),
        (p) => {
          if (interactive) process.stderr.write(`\rcompared up to seq ${p.seq} of ${p.toSeq}`);
        },
        clientRuntimeFrom(argv.credentials),
      );
      if (interactive) process.stderr.write('\n');
      if (argv.json) console.log(JSON.stringify(result, null, 2));
      else if (result.kind === 'agree') {
        console.log(
          result.toSeq < result.fromSeq
            ? `nodes ${result.nodes.join(', ')} hold no committed entry in common yet`
            : `nodes ${result.nodes.join(', ')} agree on seqs ${result.fromSeq}..${result.toSeq} (chain hash ${result.chainHash})`,
        );
      } else if (result.kind === 'differ') {
        const hashes = Object.entries(result.hashes).map(([id, h]) => `${id} ${h.slice(0, 16)}`);
        console.log(`logs differ first at seq ${result.seq}: ${hashes.join(', ')}`);
      } else {
        console.log(`cannot verify: ${result.reason}`);
      }
      process.exitCode = result.kind === 'agree' ? 0 : result.kind === 'differ' ? 1 : 2;
    },
  );
}
