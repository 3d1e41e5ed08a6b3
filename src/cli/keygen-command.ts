import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { clientEndpoint, loadClusterConfig } from '../node/cluster-config.js';
import { credentialsJson, newKeyPair, writeOwnerOnlyFile } from '../runtime/curve-keys.js';
import { withExamples } from './examples.js';
import { UsageError } from './usage-error.js';

/**
 * `ordo keygen`: a CurveZMQ key pair for a node (`NAME.key`, the secret,
 * readable by its owner only; `NAME.pub`, the public key), or, with
 * `--identity`, a client's credentials file holding its key pair and every
 * broker's public key from the cluster config. It prints only public keys.
 */
export function keygenCommand(yargs: Argv): Argv {
  return yargs.command(
    'keygen',
    'Make a key pair for a node, or a credentials file for a client (CurveZMQ, Z85)',
    (y) =>
      withExamples(
        y
          .option('out', {
            type: 'string',
            default: '.',
            describe: 'Folder the files go to (made if missing)',
          })
          .option('name', {
            type: 'string',
            describe: 'Node key pair: written to NAME.key (secret, mode 0600) and NAME.pub',
          })
          .option('identity', {
            type: 'string',
            describe:
              'Client credentials: written to IDENTITY.credentials.json (mode 0600); needs --config',
          })
          .option('config', {
            type: 'string',
            describe: 'With --identity: the cluster config whose broker keys the credentials hold',
          })
          .option('force', {
            type: 'boolean',
            default: false,
            describe: 'Replace files that exist',
          })
          .check((argv) => {
            if ((argv.name === undefined) === (argv.identity === undefined))
              throw new UsageError('give either --name (a node key pair) or --identity (a client)');
            if (argv.identity !== undefined && argv.config === undefined)
              throw new UsageError("--identity needs --config, for the brokers' public keys");
            return true;
          }),
        [
          { does: "node n1's key pair in ./keys", command: ['$0 keygen --name n1 --out keys'] },
          {
            does: "credentials for the client 'alice'",
            command: ['$0 keygen --identity alice --config cluster.json --out keys'],
          },
        ],
      ),
    (argv) => {
      mkdirSync(argv.out, { recursive: true });
      const refuseExisting = (path: string) => {
        if (!argv.force && existsSync(path))
          throw new UsageError(`${path} exists (use --force to replace it)`);
      };
      const pair = newKeyPair();
      if (argv.name !== undefined) {
        const secretPath = join(argv.out, `${argv.name}.key`);
        const publicPath = join(argv.out, `${argv.name}.pub`);
        refuseExisting(secretPath);
        refuseExisting(publicPath);
        writeOwnerOnlyFile(secretPath, `${pair.secretKey.reveal()}\n`);
        writeFileSync(publicPath, `${pair.publicKey}\n`);
        console.log(`secret key: ${secretPath} (mode 0600; the node's secretKeyFile)`);
        console.log(`public key: ${pair.publicKey} (the node's publicKey in the cluster config)`);
        return;
      }
      const config = loadClusterConfig(argv.config!);
      const brokerKeys = new Map<string, string>();
      for (const node of config.nodes) {
        if (node.publicKey === undefined)
          throw new UsageError(`${argv.config}: node '${node.id}' has no publicKey`);
        brokerKeys.set(clientEndpoint(node), node.publicKey);
      }
      const path = join(argv.out, `${argv.identity}.credentials.json`);
      refuseExisting(path);
      writeOwnerOnlyFile(path, credentialsJson(argv.identity!, pair, brokerKeys));
      console.log(`credentials: ${path} (mode 0600; pass with --credentials or ORDO_CREDENTIALS)`);
      console.log(
        `add to the config's clients: ${JSON.stringify({ identity: argv.identity, publicKey: pair.publicKey })}`,
      );
    },
  );
}
