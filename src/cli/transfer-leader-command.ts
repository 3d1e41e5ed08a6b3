import type { Argv } from 'yargs';
import { AdminClient } from '../../clients/admin.js';
import { brokersOption, clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';
import { withExamples } from './examples.js';
import { wholeNumberFlag } from './flags.js';

export function transferLeaderCommand(yargs: Argv): Argv {
  return yargs.command(
    'transfer-leader',
    'Hand the sequencer role to another node on purpose (no publish is lost)',
    (y) =>
      withExamples(
        y
          .option('brokers', brokersOption)
          .option('credentials', credentialsOption)
          .option('to', { type: 'string', demandOption: true, describe: 'Id of the node to lead' })
          .option('wait-ms', {
            ...wholeNumberFlag('wait-ms', 'How long to wait for the hand-over'),
            default: 5000,
          }),
        [
          {
            does: 'make n2 the sequencer',
            command: ['$0 transfer-leader --brokers 127.0.0.1:7001 --to n2'],
          },
        ],
      ),
    async (argv) => {
      const admin = new AdminClient(
        parseBrokers(argv.brokers),
        undefined,
        clientRuntimeFrom(argv.credentials),
      );
      try {
        const result = await admin.transferLeader(argv.to, argv['wait-ms']);
        console.log(
          `${argv.to} is the sequencer in epoch ${result.epoch} (after ${result.elapsedMs} ms)`,
        );
      } finally {
        await admin.close();
      }
    },
  );
}
