import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { benchCommand } from './bench-command.js';
import { callCommand } from './call-command.js';
import { configCommand } from './config-command.js';
import { devCommand } from './dev-command.js';
import { keygenCommand } from './keygen-command.js';
import { membersCommand } from './members-command.js';
import { nodeCommand } from './node-command.js';
import { publishCommand } from './publish-command.js';
import { replicaCommand } from './replica-command.js';
import { statusCommand } from './status-command.js';
import { tailCommand } from './tail-command.js';
import { transferLeaderCommand } from './transfer-leader-command.js';
import { UsageError } from './usage-error.js';
import { verifyCommand } from './verify-command.js';

const commands = [
  devCommand,
  nodeCommand,
  publishCommand,
  tailCommand,
  statusCommand,
  transferLeaderCommand,
  membersCommand,
  replicaCommand,
  callCommand,
  configCommand,
  keygenCommand,
  verifyCommand,
  benchCommand,
];

/** Exit code of a command that failed while running (a timeout, a broker error). */
const failedExitCode = 1;
/** Exit code of a command line that cannot run as written (a bad flag value). */
const usageExitCode = 2;

// `ordo tail | head` closes the pipe early: that ends the command, quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') console.error(`ordo: cannot write the output: ${error.message}`);
  process.exit(error.code === 'EPIPE' ? 0 : 1);
});

let cli = yargs(hideBin(process.argv))
  .scriptName('ordo')
  .usage('$0 <command> [options]\n\nOrdo: an ordered atomic multicast broker.')
  .demandCommand(1, 'Name a command; `ordo --help` lists them.')
  // A flag with `nargs: 1` takes the next word whatever it starts with: a
  // Z85 key may start with '-' and would otherwise be read as a flag.
  .parserConfiguration({ 'nargs-eats-options': true })
  .strict()
  .help()
  .alias('h', 'help')
  .wrap(Math.min(110, process.stdout.columns || 110))
  .completion('completion', 'Print a bash/zsh completion script (ordo completion >> ~/.bashrc)')
  .fail((message, error, y) => {
    // yargs reports its own checks without an error, and wraps what a flag's
    // coerce function throws in a YError.
    if (
      error === undefined ||
      error === null ||
      error instanceof UsageError ||
      error.name === 'YError'
    ) {
      // The usage text, then the problem in one line at the end, where it is seen.
      y.showHelp((help) => console.error(help));
      console.error(`\nordo: ${(error?.message ?? message).replace(/\s*\n\s*/g, ' ')}`);
      process.exit(usageExitCode);
    }
    console.error(`ordo: ${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`);
    process.exit(failedExitCode);
  });
for (const add of commands) cli = add(cli);
await cli.parseAsync();
