import type { Argv } from 'yargs';
import type { Message } from '../../clients/subscriber.js';
import { Subscriber } from '../../clients/subscriber.js';
import { brokersOption, clientRuntimeFrom, credentialsOption, parseBrokers } from './brokers.js';
import { withExamples } from './examples.js';
import { wholeNumberFlag } from './flags.js';

export const tailFormats = ['text', 'json', 'raw'] as const;
export type TailFormat = (typeof tailFormats)[number];

export function tailCommand(yargs: Argv): Argv {
  return yargs.command(
    'tail',
    'Print the committed stream, in order',
    (y) =>
      withExamples(
        y
          .option('brokers', brokersOption)
          .option('credentials', credentialsOption)
          .option(
            'from',
            wholeNumberFlag('from', 'First seq, 1 or more (default: what commits from now on)'),
          )
          .option('topic', {
            type: 'string',
            array: true,
            describe: 'Only these topics (repeatable)',
          })
          .option('count', wholeNumberFlag('count', 'Exit after N messages (N ≥ 1)'))
          .option('format', {
            choices: tailFormats,
            describe:
              'text: seq, topic and payload, tab-separated; json: one object per line, ' +
              'the payload as text (when it is UTF-8) and always as payloadBase64; ' +
              'raw: the payload bytes, each followed by a newline',
          })
          .option('json', {
            type: 'boolean',
            describe: 'The same as --format json',
          })
          .conflicts('json', 'format'),
        [
          {
            does: 'print the first 10 messages',
            command: ['$0 tail --brokers 127.0.0.1:7001 --from 1 --count 10'],
          },
          {
            does: 'follow topic orders as JSON lines, binary payloads in base64',
            command: ['$0 tail --brokers 127.0.0.1:7001 --topic orders --format json'],
          },
        ],
      ),
    async (argv) => {
      const format: TailFormat = argv.json === true ? 'json' : (argv.format ?? 'text');
      const brokers = parseBrokers(argv.brokers);
      const subscriber = new Subscriber({
        brokers,
        runtime: clientRuntimeFrom(argv.credentials),
        ...(argv.from === undefined ? {} : { fromSeq: argv.from }),
        ...(argv.topic === undefined ? {} : { topics: argv.topic }),
      });
      const stop = () => void subscriber.close();
      process.once('SIGINT', stop);
      // The subscriber retries without end; say so when every broker has failed once.
      let warnedAt = 0;
      const watch = setInterval(() => {
        const rounds = Math.floor(subscriber.stats.failovers / brokers.length);
        if (rounds > warnedAt) {
          warnedAt = rounds;
          console.error(`ordo: no broker is answering (${brokers.join(', ')}); still trying`);
        }
      }, 500);
      watch.unref();
      let seen = 0;
      try {
        for await (const m of subscriber) {
          await write(formatMessage(m, format));
          if (argv.count !== undefined && ++seen >= argv.count) break;
        }
      } finally {
        clearInterval(watch);
        await subscriber.close();
        process.off('SIGINT', stop);
      }
    },
  );
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder();

/** One message as `ordo tail` prints it, with its line end. */
export function formatMessage(m: Message, format: TailFormat): Uint8Array | string {
  switch (format) {
    case 'raw':
      return Buffer.concat([m.payload, Buffer.from('\n')]);
    case 'json': {
      let text: string | undefined;
      try {
        text = strictUtf8.decode(m.payload);
      } catch {
        text = undefined; // Not UTF-8: only the base64 form can carry it.
      }
      return `${JSON.stringify({
        seq: m.seq,
        epoch: m.epoch,
        topic: m.topic,
        ...(text === undefined ? {} : { payload: text }),
        payloadBase64: Buffer.from(m.payload).toString('base64'),
        producerId: m.producerId,
        producerSeq: m.producerSeq,
        timestampMs: m.timestampMs,
      })}\n`;
    }
    default:
      return `${m.seq}\t${m.topic}\t${lenientUtf8.decode(m.payload)}\n`;
  }
}

/** Writes to stdout and waits when its buffer is full, so a slow reader of the output slows the tail. */
function write(chunk: Uint8Array | string): Promise<void> {
  if (process.stdout.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}
