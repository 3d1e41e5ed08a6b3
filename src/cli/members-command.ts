import type { Argv } from 'yargs';
import { AdminClient, type MemberAddress, type MembersResult } from '../../clients/admin.js';
import { loadClusterConfig } from '../node/cluster-config.js';
import { isZ85Key } from '../runtime/curve-keys.js';
import { brokersOption, clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';
import { withExamples } from './examples.js';
import { wholeNumberFlag } from './flags.js';
import { UsageError } from './usage-error.js';

const waitOption = {
  ...wholeNumberFlag(
    'wait-ms',
    'How long to wait for the change to commit (and a new node to catch up)',
  ),
  default: 60_000,
};

function print(result: MembersResult, json: boolean): void {
  if (json) {
    console.log(
      JSON.stringify({
        leaderId: result.leaderId,
        configPending: result.configPending,
        members: result.members,
      }),
    );
    return;
  }
  for (const m of result.members) {
    const role = (m.voter ? 'voter' : 'learner') + (m.witness ? ' (witness)' : '');
    const leader = m.id === result.leaderId ? ' (sequencer)' : '';
    const key = m.publicKey === '' ? '' : `\t${m.publicKey}`;
    console.log(`${m.id}\t${role}${leader}\t${m.clientEndpoint}${key}`);
  }
  if (result.configPending) console.log('a membership change is not committed yet');
  const voters = result.members.filter((m) => m.voter).length;
  if (voters === 2)
    console.log(
      'warning: 2 voters: losing either stops commits, and the cluster cannot fail over on its own',
    );
}

/** The new node's address (and key): from flags, or its entry in a config file. */
function addressFrom(argv: {
  id: string;
  config?: string | undefined;
  host?: string | undefined;
  'client-port'?: number | undefined;
  'peer-port'?: number | undefined;
  'pub-port'?: number | undefined;
  'http-port'?: number | undefined;
  'public-key'?: string | undefined;
}): MemberAddress | null {
  const flagKey = argv['public-key'];
  if (flagKey !== undefined && !isZ85Key(flagKey))
    throw new UsageError('--public-key must be a 40-character Z85 key (as ordo keygen prints)');
  const publicKey = flagKey === undefined ? {} : { publicKey: flagKey };
  if (argv.config !== undefined) {
    const node = loadClusterConfig(argv.config).nodes.find((n) => n.id === argv.id);
    if (node === undefined) throw new UsageError(`${argv.config} has no node '${argv.id}'`);
    return {
      host: node.host,
      clientPort: node.clientPort,
      peerPort: node.peerPort,
      pubPort: node.pubPort,
      httpPort: node.httpPort,
      ...(node.publicKey === undefined ? {} : { publicKey: node.publicKey }),
      ...publicKey,
    };
  }
  if (argv.host === undefined) {
    if (flagKey !== undefined)
      throw new UsageError('--public-key needs the address too (--host and ports, or --config)');
    return null;
  }
  const client = argv['client-port'];
  const peer = argv['peer-port'];
  const pub = argv['pub-port'];
  if (client === undefined || peer === undefined || pub === undefined)
    throw new UsageError('--host needs --client-port, --peer-port and --pub-port');
  return {
    host: argv.host,
    clientPort: client,
    peerPort: peer,
    pubPort: pub,
    httpPort: argv['http-port'] ?? null,
    ...publicKey,
  };
}

export function membersCommand(yargs: Argv): Argv {
  return yargs.command(
    'members <action> [id]',
    'List the cluster members, add a node (as a learner, made a voter once caught up), remove one, or replace one with another',
    (y) =>
      withExamples(
        y
          .positional('action', {
            choices: ['list', 'add', 'remove', 'replace'] as const,
            demandOption: true,
          })
          .positional('id', { type: 'string', describe: 'The node to add, remove or replace' })
          .option('with', {
            type: 'string',
            describe:
              'With replace: the new node, added (and caught up) before the old one is removed',
          })
          .option('brokers', brokersOption)
          .option('credentials', credentialsOption)
          .option('json', { type: 'boolean', default: false, describe: 'Print JSON' })
          .option('config', {
            type: 'string',
            describe: 'With add: a config file whose nodes list gives the new node its address',
          })
          .option('host', { type: 'string', describe: 'With add: the new node\u2019s host' })
          .option('client-port', wholeNumberFlag('client-port', 'With add: its client port'))
          .option('peer-port', wholeNumberFlag('peer-port', 'With add: its peer port'))
          .option('pub-port', wholeNumberFlag('pub-port', 'With add: its multicast port'))
          .option('http-port', wholeNumberFlag('http-port', 'With add: its HTTP port'))
          .option('public-key', {
            type: 'string',
            // Z85 keys may start with '-' (see the parser configuration in main.ts).
            nargs: 1,
            describe:
              'With add or replace, on a secured cluster: the new node\u2019s public key (Z85, from ordo keygen); every node admits it once the change is in the log (default: its key in --config)',
          })
          .option('witness', {
            type: 'boolean',
            default: false,
            describe:
              'With add: the new node is a witness (votes, never leads, keeps only the log tail; its config entry says witness: true)',
          })
          .option('wait-ms', waitOption),
        [
          { does: 'list the members', command: ['$0 members list --brokers 127.0.0.1:7001'] },
          {
            does: 'add n4, its address in cluster.json (started with `ordo node --join`)',
            command: ['$0 members add n4 --config cluster.json', '--brokers 127.0.0.1:7001'],
          },
          {
            does: 'add n4 to a secured cluster, its key pair made by ordo keygen',
            command: [
              '$0 members add n4 --host 10.0.0.4 --client-port 7001 --peer-port 7002',
              '--pub-port 7003 --public-key "$(cat keys/n4.pub)"',
              '--credentials admin.credentials.json --brokers 10.0.0.1:7001',
            ],
          },
          {
            does: 'remove n1 (if it is the sequencer, it hands its role over first)',
            command: ['$0 members remove n1 --brokers 127.0.0.1:7001'],
          },
          {
            does: 'replace n1 (its disk died) with n5, started with `ordo node --join`',
            command: [
              '$0 members replace n1 --with n5 --config cluster.json',
              '--brokers 127.0.0.1:7001',
            ],
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
        if (argv.action === 'list') {
          print(await admin.members(), argv.json);
          return;
        }
        if (argv.id === undefined) throw new UsageError(`members ${argv.action} needs a node id`);
        if (argv.action === 'replace') {
          const newId = argv.with;
          if (newId === undefined || newId === argv.id)
            throw new UsageError('members replace OLD needs --with NEW, another node id');
          // Add first, then remove: the cluster never has fewer voters than it started with.
          const address = addressFrom({ ...argv, id: newId });
          await admin.changeMembers('add', newId, address, argv['wait-ms']);
          if (!argv.json) console.log(`${newId} is a voting member`);
          const result = await admin.changeMembers('remove', argv.id, null, argv['wait-ms']);
          if (!argv.json) console.log(`${argv.id} was removed: stop its process`);
          print(result, argv.json);
          return;
        }
        const address = argv.action === 'add' ? addressFrom({ ...argv, id: argv.id }) : null;
        const witness =
          argv.witness ||
          (argv.config !== undefined &&
            loadClusterConfig(argv.config).nodes.some(
              (n) => n.id === argv.id && n.witness === true,
            ));
        const result = await admin.changeMembers(
          argv.action,
          argv.id,
          address,
          argv['wait-ms'],
          argv.action === 'add' && witness,
        );
        if (!argv.json)
          console.log(
            argv.action === 'add'
              ? `${argv.id} is a voting member${witness ? ' (witness)' : ''}`
              : `${argv.id} was removed: stop its process`,
          );
        print(result, argv.json);
      } finally {
        await admin.close();
      }
    },
  );
}
