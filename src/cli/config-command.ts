import type { Argv } from 'yargs';
import { configWarnings, loadClusterConfig } from '../node/cluster-config.js';

export function configCommand(yargs: Argv): Argv {
  return yargs.command('config', 'Check cluster config files', (y) =>
    y
      .command(
        'validate <file>',
        'Check a cluster config: unknown settings, duplicate ids and ports, bad values (exit 1 on the first problem)',
        (v) =>
          v
            .positional('file', {
              type: 'string',
              demandOption: true,
              describe: 'Cluster config (JSON)',
            })
            .example('$0 config validate cluster.json', 'check cluster.json before starting nodes'),
        async (argv) => {
          const config = loadClusterConfig(argv.file);
          for (const warning of configWarnings(config)) console.error(`warning: ${warning}`);
          console.log(
            `${argv.file}: valid: cluster '${config.clusterId}', ${config.nodes.length} nodes (${config.nodes.map((n) => n.id).join(', ')}), fsync ${config.fsync}`,
          );
        },
      )
      .demandCommand(1, 'Name a config command: validate'),
  );
}
