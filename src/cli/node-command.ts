import type { Argv } from 'yargs';
import { loadClusterConfig } from '../node/cluster-config.js';
import { runNodeProcess } from '../node/node-process.js';
import { type LogFormat, LogFormats, LogLevels } from '../runtime/logger.js';
import { withExamples } from './examples.js';

/** `--log-level` and `--log-format`, shared by the commands that run nodes. */
export function logOptions<T>(y: Argv<T>, defaultFormat: LogFormat) {
  return y
    .option('log-level', {
      choices: LogLevels,
      default: process.env['ORDO_LOG_LEVEL'] ?? 'info',
      describe: 'Least severe log level shown (environment: ORDO_LOG_LEVEL)',
    })
    .option('log-format', {
      choices: LogFormats,
      default: (process.env['ORDO_LOG_FORMAT'] as LogFormat | undefined) ?? defaultFormat,
      describe:
        'json: one JSON object per line; text: readable lines (environment: ORDO_LOG_FORMAT)',
    });
}

export function nodeCommand(yargs: Argv): Argv {
  return yargs.command(
    'node',
    'Run one node of a cluster described by a config file',
    (y) =>
      withExamples(
        logOptions(
          y
            .option('config', {
              type: 'string',
              demandOption: true,
              describe:
                'Cluster config (JSON): clusterId, nodes[{id, host, bindHost, clientPort, peerPort, pubPort, httpPort}], fsync, dataDir, ... (see docs/operations.md)',
            })
            .option('id', {
              type: 'string',
              demandOption: true,
              describe: "This node's id in the config",
            })
            .option('join', {
              type: 'boolean',
              default: false,
              describe:
                'Join a running cluster: the config names this node and where its peers are, and the node learns the membership once added with `ordo members add`',
            })
            .option('dev', {
              type: 'boolean',
              default: false,
              hidden: true,
              describe: 'Started by `ordo dev`: development settings draw no warning',
            }),
          'json',
        ),
        [
          { does: 'start node n1', command: ['$0 node --config cluster.json --id n1'] },
          {
            does: 'start a new node n4 that joins the running cluster',
            command: ['$0 node --config cluster.json --id n4 --join'],
          },
        ],
      ),
    async (argv) => {
      await runNodeProcess(loadClusterConfig(argv.config), argv.id, {
        logLevel: argv['log-level'],
        logFormat: argv['log-format'] as LogFormat,
        dev: argv.dev,
        join: argv.join,
      });
    },
  );
}
