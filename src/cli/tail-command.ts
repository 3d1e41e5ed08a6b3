import type { Argv } from 'yargs';
import { Subscriber } from '../../clients/subscriber.js';
import { brokersOption, parseBrokers } from './brokers.js';

export function tailCommand(yargs: Argv): Argv {
  return yargs.command(
    'tail',
    'Print the committed stream, in order',
    (y) =>
      y
        .option('brokers', brokersOption)
        .option('from', {
          type: 'number',
          describe: 'First seq (default: what commits from now on)',
        })
        .option('topic', {
          type: 'string',
          array: true,
          describe: 'Only these topics (repeatable)',
        })
        .option('count', { type: 'number', describe: 'Exit after N messages' })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'One JSON object per line: seq, topic, payload, producerId, producerSeq',
        })
        .example(
          '$0 tail --brokers 127.0.0.1:7001 --from 1 --count 10',
          'print the first 10 messages',
        ),
    async (argv) => {
      const subscriber = new Subscriber({
        brokers: parseBrokers(argv.brokers),
        ...(argv.from === undefined ? {} : { fromSeq: argv.from }),
        ...(argv.topic === undefined ? {} : { topics: argv.topic }),
      });
      const stop = () => subscriber.close();
      process.once('SIGINT', stop);
      // The subscriber retries without end; say so when every broker has failed once.
      const brokers = parseBrokers(argv.brokers);
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
      const decoder = new TextDecoder();
      try {
        for await (const m of subscriber) {
          const payload = decoder.decode(m.payload);
          if (argv.json) {
            console.log(
              JSON.stringify({
                seq: m.seq,
                topic: m.topic,
                payload,
                producerId: m.producerId,
                producerSeq: m.producerSeq,
                timestampMs: m.timestampMs,
              }),
            );
          } else {
            console.log(`${m.seq}\t${m.topic}\t${payload}`);
          }
          if (argv.count !== undefined && ++seen >= argv.count) break;
        }
      } finally {
        clearInterval(watch);
        subscriber.close();
        process.off('SIGINT', stop);
      }
    },
  );
}
