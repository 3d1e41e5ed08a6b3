import { createInterface } from 'node:readline';
import type { Argv } from 'yargs';
import { Publisher } from '../../clients/publisher.js';
import { LIMITS } from '../limits.js';
import { brokersOption, clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';
import { withExamples } from './examples.js';
import { wholeNumberFlag } from './flags.js';
import { UsageError } from './usage-error.js';

/** Most publish calls the command keeps open at once (the publisher's window bounds what is sent). */
const maxOpenPublishCalls = LIMITS.publisherWindowMessages;

export function publishCommand(yargs: Argv): Argv {
  return yargs.command(
    'publish [message]',
    'Publish messages and print the seq each one was given',
    (y) =>
      withExamples(
        y
          .positional('message', {
            type: 'string',
            describe:
              'Payload (default "message"; with --count N: numbered "message-1".."message-N")',
          })
          .option('brokers', brokersOption)
          .option('credentials', credentialsOption)
          .option('topic', { type: 'string', default: 'default', describe: 'Topic' })
          .option('count', wholeNumberFlag('count', 'Publish N numbered messages (N ≥ 1)'))
          .option('stdin', {
            type: 'boolean',
            describe: 'Publish each non-empty line of standard input as one message, in order',
          })
          .option('producer-id', {
            type: 'string',
            requiresArg: true,
            coerce: producerId,
            describe:
              'Dedup identity: running the same command again with the same --producer-id ' +
              'and --first-producer-seq publishes nothing twice (duplicates are reported)',
          })
          .option(
            'first-producer-seq',
            wholeNumberFlag(
              'first-producer-seq',
              'producerSeq of the first message (default 1); needs --producer-id',
            ),
          )
          .option('ack', {
            choices: ['quorum', 'sequenced'] as const,
            default: 'quorum' as const,
            describe: 'When the broker answers: at commit (quorum) or when sequenced (weaker)',
          })
          .option('timeout-ms', {
            ...wholeNumberFlag(
              'timeout-ms',
              'Give up on a message not acknowledged within this long',
            ),
            default: 10_000,
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'One JSON line per acknowledged message',
          })
          .conflicts('stdin', ['count', 'message'])
          .check((argv) => {
            if (argv['first-producer-seq'] !== undefined && argv['producer-id'] === undefined)
              throw new UsageError('--first-producer-seq needs --producer-id');
            return true;
          }),
        [
          {
            does: 'publish one message',
            command: ['$0 publish --brokers 127.0.0.1:7001 --topic orders hello'],
          },
          {
            does: 'publish m-1..m-1000, one JSON line per acknowledgement',
            command: ['$0 publish --brokers 127.0.0.1:7001 --count 1000 --json m'],
          },
          {
            does: 'publish a file line by line; the same command run again adds nothing',
            command: [
              'ORDO_BROKERS=127.0.0.1:7001 $0 publish --topic orders --stdin',
              '--producer-id orders-import-1 < orders.txt',
            ],
          },
        ],
      ),
    async (argv) => {
      const message = argv.message ?? 'message';
      const publisher = new Publisher({
        brokers: parseBrokers(argv.brokers),
        runtime: clientRuntimeFrom(argv.credentials),
        ackMode: argv.ack,
        publishTimeoutMs: argv['timeout-ms'],
        ...(argv['producer-id'] === undefined ? {} : { producerId: argv['producer-id'] }),
        ...(argv['first-producer-seq'] === undefined
          ? {}
          : { firstProducerSeq: argv['first-producer-seq'] }),
      });
      const payloads =
        argv.stdin === true
          ? linesOf(process.stdin)
          : argv.count === undefined
            ? [message]
            : numbered(message, argv.count);
      let failed = 0;
      const print = (payload: string, ack: Awaited<ReturnType<Publisher['publish']>>) => {
        if (argv.json) {
          console.log(
            JSON.stringify({
              seq: ack.seq,
              topic: argv.topic,
              payload,
              producerId: ack.producerId,
              producerSeq: ack.producerSeq,
              duplicate: ack.duplicate,
            }),
          );
        } else {
          console.log(`seq ${ack.seq}: ${payload}${ack.duplicate ? ' (duplicate)' : ''}`);
        }
      };
      const open = new Set<Promise<void>>();
      try {
        for await (const payload of payloads) {
          const call: Promise<void> = publisher.publish(argv.topic, payload).then(
            (ack) => print(payload, ack),
            (error: Error) => {
              failed++;
              console.error(`failed: ${payload}: ${error.name}: ${error.message}`);
            },
          );
          open.add(call);
          void call.finally(() => open.delete(call));
          if (open.size >= maxOpenPublishCalls) await Promise.race(open);
        }
        await Promise.all(open);
      } finally {
        await publisher.close();
      }
      if (failed > 0) process.exitCode = 1;
    },
  );
}

function producerId(value: unknown): string {
  if (Array.isArray(value)) throw new UsageError('--producer-id is given more than once');
  const id = String(value);
  if (id.length === 0 || Buffer.byteLength(id) > LIMITS.maxProducerIdBytes)
    throw new UsageError(`--producer-id must be 1 to ${LIMITS.maxProducerIdBytes} bytes`);
  return id;
}

function* numbered(message: string, count: number): Generator<string> {
  for (let i = 1; i <= count; i++) yield `${message}-${i}`;
}

/** The non-empty lines of a stream, without their line ends. */
async function* linesOf(input: NodeJS.ReadableStream): AsyncGenerator<string> {
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.length > 0) yield line;
  }
}
