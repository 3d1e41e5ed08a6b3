import type { Argv } from 'yargs';
import { AdminClient } from '../../clients/admin.js';
import { brokersOption, parseBrokers } from './brokers.js';

export function transferLeaderCommand(yargs: Argv): Argv {
  return yargs.command(
    'transfer-leader',
    'Hand the sequencer role to another node on purpose (no publish is lost)',
    (y) =>
      y
        .option('brokers', brokersOption)
        .option('to', { type: 'string', demandOption: true, describe: 'Id of the node to lead' })
        .option('wait-ms', {
          type: 'number',
          default: 5000,
          describe: 'How long to wait for the hand-over',
        })
        .example('$0 transfer-leader --brokers 127.0.0.1:7001 --to n2', 'make n2 the sequencer'),
    async (argv) => {
      const admin = new AdminClient(parseBrokers(argv.brokers));
      try {
        const result = await admin.transferLeader(argv.to, argv['wait-ms']);
        console.log(
          `${argv.to} is the sequencer in epoch ${result.epoch} (after ${result.elapsedMs} ms)`,
        );
      } finally {
        admin.close();
      }
    },
  );
}
