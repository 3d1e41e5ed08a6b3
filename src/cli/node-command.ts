import type { Argv } from 'yargs';
import { loadClusterConfig } from '../node/cluster-config.js';
import { runNodeProcess } from '../node/node-process.js';
import { withExamples } from './examples.js';

export function nodeCommand(yargs: Argv): Argv {
  return yargs.command(
    'node',
    'Run one node of a cluster described by a config file',
    (y) =>
      withExamples(
        y
          .option('config', {
            type: 'string',
            demandOption: true,
            describe:
              'Cluster config (JSON): clusterId, nodes[{id, host, clientPort, peerPort, pubPort}], fsync, dataDir',
          })
          .option('id', {
            type: 'string',
            demandOption: true,
            describe: "This node's id in the config",
          }),
        [{ does: 'start node n1', command: ['$0 node --config cluster.json --id n1'] }],
      ),
    async (argv) => {
      await runNodeProcess(loadClusterConfig(argv.config), argv.id);
    },
  );
}
