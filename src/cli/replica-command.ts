import type { Argv } from 'yargs';
import { AdminClient } from '../../clients/admin.js';
import { InvalidRequestError } from '../../clients/errors.js';
import { loadPlugin } from '../../clients/replica/plugin-loader.js';
import { startPrimaryBackupReplica } from '../../clients/replica/primary-backup/pb-replica.js';
import type { PrimaryBackupServiceFactory } from '../../clients/replica/primary-backup/pb-service.js';
import { replicaFaultsFromEnv } from '../../clients/replica/replica-faults.js';
import { type Replica, startReplica } from '../../clients/replica/replica-host.js';
import { defaultReplicaLogger } from '../../clients/replica/replica-logger.js';
import type { ReplicaEvent, ReplicaOptions } from '../../clients/replica/replica-options.js';
import { brokersOption, clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';
import { withExamples } from './examples.js';
import { wholeNumberFlag } from './flags.js';

/** How long `--query` waits for the replica to catch up with the cluster's commit point. */
const queryCatchUpTimeoutMs = 120_000;

export function replicaCommand(yargs: Argv): Argv {
  return yargs.command(
    'replica',
    'Host a replicated app plugin: apply the committed stream to it, snapshot, report digests',
    (y) =>
      withExamples(
        y
          .option('brokers', brokersOption)
          .option('credentials', credentialsOption)
          .option('plugin', {
            type: 'string',
            demandOption: true,
            describe: 'Plugin module (default-exports () => StateMachine)',
          })
          .option('data', {
            type: 'string',
            demandOption: true,
            describe: 'Data folder: snapshots, replica id, lock',
          })
          .option('id', {
            type: 'string',
            describe: 'Replica id (default: generated once, kept in the data folder)',
          })
          .option('name', {
            type: 'string',
            describe:
              "App name replicas share (default: the module's pluginName, else its file name)",
          })
          .option('topic', {
            type: 'string',
            array: true,
            describe: 'Only messages on these topics (repeatable)',
          })
          .option(
            'snapshot-every',
            wholeNumberFlag('snapshot-every', 'Snapshot after this many messages (default 100000)'),
          )
          .option(
            'snapshot-interval-ms',
            wholeNumberFlag(
              'snapshot-interval-ms',
              'Snapshot at least this often when anything changed (default 60000)',
            ),
          )
          .option(
            'digest-every',
            wholeNumberFlag(
              'digest-every',
              'Digest the state at every multiple of this seq (default 10000)',
            ),
          )
          .option(
            'report-interval-ms',
            wholeNumberFlag(
              'report-interval-ms',
              'Report progress to the brokers this often (default 1000)',
            ),
          )
          .option('mode', {
            choices: ['state-machine', 'primary-backup'] as const,
            describe:
              "How to replicate: apply every message (state-machine), or execute on a primary and apply its updates (primary-backup) (default: the module's replicationMode export, else state-machine)",
          })
          .option(
            'lease-ms',
            wholeNumberFlag(
              'lease-ms',
              'Primary-backup: lease length in log-time ms; failover takes about 1.5 to 1.75 of it (default 2000)',
            ),
          )
          .option('query', {
            type: 'string',
            describe:
              'Catch up read-only with the commit point, print the answer to this JSON query, exit',
          })
          .option('linearizable', {
            type: 'boolean',
            default: false,
            describe:
              'With --query: answer only once the state reflects a read index from the sequencer (every write acknowledged before the query)',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'Print events as JSON lines on stdout',
          })
          .option('query-timeout-ms', {
            ...wholeNumberFlag(
              'query-timeout-ms',
              'With --query: how long to wait to catch up with the commit point',
            ),
            default: queryCatchUpTimeoutMs,
          }),
        [
          {
            does: 'run a replica of the key-value example',
            command: [
              '$0 replica --brokers 127.0.0.1:7001',
              '--plugin dist/clients/examples/kv-store.js --data /tmp/kv-1',
            ],
          },
          {
            does: 'run a replica of the primary-backup example',
            command: [
              '$0 replica --brokers 127.0.0.1:7001',
              '--plugin dist/clients/examples/stamp-service.js',
              '--data /tmp/stamps-1 --lease-ms 1000',
            ],
          },
          {
            does: 'query it',
            command: [
              '$0 replica --brokers 127.0.0.1:7001',
              '--plugin dist/clients/examples/kv-store.js --data /tmp/kv-1',
              `--query '{"op":"size"}'`,
            ],
          },
          {
            does: 'query it, linearizable',
            command: [
              '$0 replica --brokers 127.0.0.1:7001',
              '--plugin dist/clients/examples/kv-store.js --data /tmp/kv-1',
              `--query '{"op":"size"}' --linearizable`,
            ],
          },
        ],
      ),
    async (argv) => {
      const brokers = parseBrokers(argv.brokers);
      const loaded = await loadPlugin(argv.plugin);
      const plugin = argv.name ?? loaded.name;
      const query = argv.query === undefined ? undefined : parseQuery(argv.query);
      const print = (event: Record<string, unknown>) => {
        if (argv.json) process.stdout.write(`${JSON.stringify(event)}\n`);
      };
      const { credentials } = clientRuntimeFrom(argv.credentials);
      const mode = argv.mode ?? loaded.mode;
      if (mode !== 'primary-backup' && argv['lease-ms'] !== undefined)
        throw new InvalidRequestError('--lease-ms applies only with --mode primary-backup');
      // A primary-backup replica closes through its own close(), which also stops its timers and publisher.
      const closer: { close: (() => Promise<void>) | null } = { close: null };
      const start = (common: Omit<ReplicaOptions, 'stateMachine'>): Promise<Replica> =>
        mode === 'primary-backup'
          ? startPrimaryBackupReplica({
              ...common,
              service: loaded.factory as unknown as PrimaryBackupServiceFactory,
              // A read-only query never claims the lease.
              claimLease: query === undefined,
              ...(argv['lease-ms'] === undefined ? {} : { leaseMs: argv['lease-ms'] }),
              onEvent: (event) => {
                const { type, ...fields } = event;
                print({ event: type, ...fields });
              },
            }).then((pb) => {
              closer.close = () => pb.close();
              return pb.replica;
            })
          : startReplica({ ...common, stateMachine: loaded.factory });
      const replica = await start({
        brokers,
        ...(credentials === undefined ? {} : { credentials }),
        plugin,
        dataDir: argv.data,
        readOnly: query !== undefined,
        logger: defaultReplicaLogger('replica', query === undefined ? 'info' : 'warn'),
        faults: replicaFaultsFromEnv(process.env['ORDO_TEST_REPLICA_FAULTS']),
        onEvent: (event: ReplicaEvent) => {
          const { type, ...fields } = event;
          print({ event: type, ...fields });
        },
        ...(argv.id === undefined ? {} : { replicaId: argv.id }),
        ...(argv.topic === undefined ? {} : { topics: argv.topic }),
        ...(argv['snapshot-every'] === undefined
          ? {}
          : { snapshotEveryMessages: argv['snapshot-every'] }),
        ...(argv['snapshot-interval-ms'] === undefined
          ? {}
          : { snapshotIntervalMs: argv['snapshot-interval-ms'] }),
        ...(argv['digest-every'] === undefined ? {} : { digestIntervalSeqs: argv['digest-every'] }),
        ...(argv['report-interval-ms'] === undefined
          ? {}
          : { reportIntervalMs: argv['report-interval-ms'] }),
      });
      if (query !== undefined) {
        try {
          let answer: unknown;
          if (argv.linearizable) {
            answer = await replica.query(query, {
              consistency: 'linearizable',
              timeoutMs: argv['query-timeout-ms'],
            });
          } else {
            await replica.whenApplied(await commitSeq(brokers), argv['query-timeout-ms']);
            answer = replica.query(query);
          }
          console.log(JSON.stringify(answer, null, 2));
        } finally {
          await (closer.close?.() ?? replica.close());
        }
        return;
      }
      print({
        event: 'ready',
        replicaId: replica.replicaId,
        plugin,
        seq: replica.appliedSeq,
        pid: process.pid,
      });
      const stop = () => void (closer.close?.() ?? replica.close());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await replica.done;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    },
  );
}

function parseQuery(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidRequestError(`--query must be JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The highest commit seq any broker reports: what a query must reflect to be current. */
async function commitSeq(brokers: string[]): Promise<number> {
  const admin = new AdminClient(brokers);
  try {
    const all = await admin.statusAll();
    const seqs = all.flatMap((b) => (b.status === null ? [] : [b.status.commitSeq]));
    if (seqs.length === 0)
      throw new InvalidRequestError('no broker answered: cannot tell how far to catch up');
    return Math.max(...seqs);
  } finally {
    await admin.close();
  }
}
