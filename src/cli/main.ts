import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { benchCommand } from './bench-command.js';
import { configCommand } from './config-command.js';
import { devCommand } from './dev-command.js';
import { nodeCommand } from './node-command.js';
import { publishCommand } from './publish-command.js';
import { replicaCommand } from './replica-command.js';
import { statusCommand } from './status-command.js';
import { tailCommand } from './tail-command.js';
import { transferLeaderCommand } from './transfer-leader-command.js';
import { verifyCommand } from './verify-command.js';

const commands = [
  devCommand,
  nodeCommand,
  publishCommand,
  tailCommand,
  statusCommand,
  transferLeaderCommand,
  replicaCommand,
  configCommand,
  verifyCommand,
  benchCommand,
];

let cli = yargs(hideBin(process.argv))
  .scriptName('ordo')
  .usage('$0 <command> [options]\n\nOrdo: an ordered atomic multicast broker.')
  .demandCommand(1, 'Name a command; `ordo --help` lists them.')
  .strict()
  .help()
  .alias('h', 'help')
  .wrap(Math.min(110, process.stdout.columns || 110))
  .fail((message, error, y) => {
    if (error !== undefined && error !== null) {
      console.error(`ordo: ${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`);
    } else {
      console.error(`${y.help()}\n\nordo: ${message}`);
    }
    process.exit(1);
  });
for (const add of commands) cli = add(cli);
await cli.parseAsync();
