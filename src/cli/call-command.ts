import type { Argv } from 'yargs';
import { PrimaryBackupClient } from '../../clients/replica/primary-backup/pb-client.js';
import { brokersOption, clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';
import { withExamples } from './examples.js';
import { wholeNumberFlag } from './flags.js';
import { UsageError } from './usage-error.js';

export function callCommand(yargs: Argv): Argv {
  return yargs.command(
    'call <app> <request>',
    'Call a primary-backup app: print the reply once the update it caused committed',
    (y) =>
      withExamples(
        y
          .positional('app', { type: 'string', demandOption: true, describe: 'App name' })
          .positional('request', {
            type: 'string',
            demandOption: true,
            describe: 'The request, as JSON',
          })
          .option('brokers', brokersOption)
          .option('credentials', credentialsOption)
          .option('timeout-ms', {
            ...wholeNumberFlag(
              'timeout-ms',
              'Give up when no committed reply came within this long',
            ),
            default: 30_000,
          }),
        [
          {
            does: 'stamp a request with the primary-backup example',
            command: [`$0 call --brokers 127.0.0.1:7001 stamps '{"op":"stamp","key":"a"}'`],
          },
          {
            does: 'the same with a secured cluster, giving up after 5 s',
            command: [
              `$0 call --brokers 127.0.0.1:7001 --credentials dev.credentials.json`,
              `--timeout-ms 5000 stamps '{"op":"stamp","key":"a"}'`,
            ],
          },
        ],
      ),
    async (argv) => {
      let request: unknown;
      try {
        request = JSON.parse(argv.request);
      } catch (error) {
        throw new UsageError(`the request must be JSON: ${(error as Error).message}`);
      }
      const { credentials } = clientRuntimeFrom(argv.credentials);
      const client = new PrimaryBackupClient({
        brokers: parseBrokers(argv.brokers),
        ...(credentials === undefined ? {} : { credentials }),
      });
      try {
        const reply = await client.call(argv.app, request, { timeoutMs: argv['timeout-ms'] });
        console.log(JSON.stringify(reply, null, 2));
      } finally {
        await client.close();
      }
    },
  );
}
