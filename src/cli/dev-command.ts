import type { Argv } from 'yargs';
import type { ClientRuntime } from '../../clients/client-runtime.js';
import { Publisher } from '../../clients/publisher.js';
import { Subscriber } from '../../clients/subscriber.js';
import { LocalCluster } from '../cluster/local-cluster.js';
import { FsyncPolicies, type FsyncPolicy } from '../node/cluster-config.js';
import { loadCredentials } from '../runtime/curve-keys.js';
import { withExamples } from './examples.js';
import { wholeNumberFlag } from './flags.js';
import { UsageError } from './usage-error.js';

/** Most nodes `ordo dev` starts: each is a process with four ports on this machine. */
const maxDevNodes = 15;
/** Each node listens on four ports: client, peer and publish (port+3i..port+3i+2), and HTTP (port+3n+i). */
const portsPerNode = 4;

import { logOptions } from './node-command.js';

export function devCommand(yargs: Argv): Argv {
  return yargs.command(
    'dev',
    'Start a local cluster in the foreground (Ctrl-C stops it)',
    (y) =>
      withExamples(
        logOptions(y, 'text')
          .option('nodes', {
            ...wholeNumberFlag('nodes', `How many nodes, 1 to ${maxDevNodes}`, 1, maxDevNodes),
            default: 3,
          })
          .option(
            'port',
            wholeNumberFlag(
              'port',
              'First port (node i uses port+3i..port+3i+2, and port+3n+i for HTTP); free ports when absent',
              1,
              65_535,
            ),
          )
          .option('fsync', {
            choices: FsyncPolicies,
            default: 'memory' as FsyncPolicy,
            describe: 'Log durability (memory keeps no files)',
          })
          .option('data', { type: 'string', describe: 'Data folder (a temporary one by default)' })
          .option('demo', {
            type: 'boolean',
            default: false,
            describe: 'Also run a demo publisher and subscriber that print the ordered stream',
          })
          .option('logs', {
            type: 'boolean',
            default: false,
            describe: "Also show the nodes' logs here (they are always kept in <data>/<node>.log)",
          })
          .option('witness', {
            type: 'boolean',
            default: false,
            describe:
              'Add a witness to the --nodes data nodes: it votes but never leads, keeps only the log tail and serves no subscribers (docs/topologies.md)',
          })
          .option('insecure', {
            type: 'boolean',
            default: false,
            describe:
              'Run without keys (by default every node gets a key pair and an all-permissions credentials file is written)',
          })
          .check((argv) => {
            const total = argv.nodes + (argv.witness ? 1 : 0);
            if (total > maxDevNodes)
              throw new UsageError(
                `--nodes ${argv.nodes} with --witness makes ${total} nodes, more than ${maxDevNodes}`,
              );
            const lastPort = (argv.port ?? 1) + total * portsPerNode - 1;
            if (argv.port !== undefined && lastPort > 65_535)
              throw new UsageError(
                `--port ${argv.port} with ${total} nodes needs ports up to ${lastPort}, beyond 65535`,
              );
            return true;
          }),
        [
          {
            does: 'a 3-node cluster on ports 7001-7009',
            command: ['$0 dev --nodes 3 --port 7001'],
          },
          {
            does: 'the same, with a demo publisher and subscriber',
            command: ['$0 dev --port 7001 --demo'],
          },
          {
            does: '2 data nodes and a witness: any one of the three may fail',
            command: ['$0 dev --nodes 2 --witness'],
          },
        ],
      ),
    async (argv) => {
      const cluster = await LocalCluster.start({
        nodes: argv.nodes + (argv.witness ? 1 : 0),
        witnesses: argv.witness ? 1 : 0,
        fsync: argv.fsync,
        logs: argv.logs ? 'inherit' : 'ignore',
        logFiles: true,
        nodeArgs: ['--log-format', argv['log-format'], '--log-level', argv['log-level']],
        ...(argv.port === undefined ? {} : { basePort: argv.port }),
        ...(argv.data === undefined ? {} : { dataDir: argv.data }),
        ...(argv.insecure ? {} : { secure: { clients: ['dev'] } }),
      });
      // Clients are pointed at the data nodes: a witness serves no subscribers.
      const brokers = cluster.dataEndpoints.join(',');
      const credentialsPath = cluster.credentialsPaths.get('dev');
      console.log(
        `Ordo local cluster: ${argv.nodes} nodes${argv.witness ? ' + 1 witness' : ''}, fsync=${argv.fsync}, data and node logs in ${cluster.dataDir}` +
          (argv.data === undefined ? ' (removed on exit; --data DIR keeps it)' : ''),
      );
      for (const node of cluster.nodes)
        console.log(
          `  ${node.id}${node.witness ? ' (witness)' : ''}  ${node.clientEndpoint}  ${node.httpUrl}  (pid ${node.process?.pid})  log ${cluster.logFile(node.id)}`,
        );
      const first = cluster.nodes[0]!;
      console.log(`\nStatus page:  ${first.httpUrl}/  (any node serves it)`);
      console.log(`Metrics:      ${cluster.nodes.map((n) => `${n.httpUrl}/metrics`).join('  ')}`);
      console.log(`Health:       ${first.httpUrl}/healthz  ${first.httpUrl}/readyz`);
      if (credentialsPath === undefined) {
        console.log(
          '\nSecurity:     INSECURE (--insecure): no keys, any local process can use the cluster',
        );
      } else {
        console.log(`\nSecurity:     CurveZMQ; client credentials in ${credentialsPath}`);
        console.log(`              export ORDO_CREDENTIALS=${credentialsPath}`);
      }
      const withKeys = credentialsPath === undefined ? '' : ` --credentials ${credentialsPath}`;
      console.log(`\nTry:  npx ordo tail --brokers ${brokers}${withKeys} --from 1`);
      console.log(`      npx ordo publish --brokers ${brokers}${withKeys} --topic greetings hello`);
      console.log(
        `      npx ordo status --brokers ${cluster.clientEndpoints.join(',')}${withKeys}\n`,
      );
      const stoppers: (() => void)[] = [];
      if (argv.demo)
        stoppers.push(
          ...runDemo(
            cluster.dataEndpoints,
            credentialsPath === undefined ? {} : { credentials: loadCredentials(credentialsPath) },
          ),
        );
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        console.log('\nstopping the cluster...');
        for (const s of stoppers) s();
        await cluster.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    },
  );
}

/** A publisher that sends one message every 200 ms and a subscriber that prints the committed stream. */
function runDemo(brokers: string[], runtime: ClientRuntime): (() => void)[] {
  const publisher = new Publisher({ brokers, runtime });
  const subscriber = new Subscriber({ brokers, fromSeq: 1, runtime });
  let n = 0;
  const timer = setInterval(() => {
    n++;
    publisher
      .publish('demo', `hello #${n}`)
      .catch((error: Error) => console.error(`publish failed: ${error.message}`));
  }, 200);
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const m of subscriber) {
        console.log(
          `[demo subscriber] seq ${m.seq}  epoch ${m.epoch}  ${m.topic}: ${decoder.decode(m.payload)}`,
        );
      }
    } catch (error) {
      console.error(`demo subscriber stopped: ${(error as Error).message}`);
    }
  })();
  return [() => clearInterval(timer), () => publisher.close(), () => subscriber.close()];
}
