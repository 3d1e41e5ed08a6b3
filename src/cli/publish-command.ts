import type { Argv } from 'yargs';
import { Publisher } from '../../clients/publisher.js';
import { brokersOption, parseBrokers } from './brokers.js';

export function publishCommand(yargs: Argv): Argv {
  return yargs.command(
    'publish [message]',
    'Publish messages and print the seq each one was given',
    (y) =>
      y
        .positional('message', {
          type: 'string',
          default: 'message',
          describe: 'Payload (with --count N: numbered "message-1".."message-N")',
        })
        .option('brokers', brokersOption)
        .option('topic', { type: 'string', default: 'default', describe: 'Topic' })
        .option('count', { type: 'number', describe: 'Publish N numbered messages' })
        .option('ack', {
          choices: ['quorum', 'sequenced'] as const,
          default: 'quorum' as const,
          describe: 'When the broker answers: at commit (quorum) or when sequenced (weaker)',
        })
        .option('timeout-ms', {
          type: 'number',
          default: 10_000,
          describe: 'Give up on a message not acknowledged within this long',
        })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'One JSON line per acknowledged message',
        })
        .example('$0 publish --brokers 127.0.0.1:7001 --topic orders hello', 'publish one message')
        .example(
          '$0 publish --brokers 127.0.0.1:7001 --count 1000 --json m',
          'publish m-1..m-1000',
        ),
    async (argv) => {
      const publisher = new Publisher({
        brokers: parseBrokers(argv.brokers),
        ackMode: argv.ack,
        publishTimeoutMs: argv['timeout-ms'],
      });
      const count = argv.count;
      const payloads =
        count === undefined
          ? [argv.message]
          : Array.from({ length: count }, (_, i) => `${argv.message}-${i + 1}`);
      let failed = 0;
      const acks = payloads.map((payload) =>
        publisher.publish(argv.topic, payload).then(
          (ack) => {
            if (argv.json) {
              console.log(
                JSON.stringify({
                  seq: ack.seq,
                  topic: argv.topic,
                  payload,
                  producerId: ack.producerId,
                  producerSeq: ack.producerSeq,
                }),
              );
            } else {
              console.log(`seq ${ack.seq}: ${payload}${ack.duplicate ? ' (duplicate)' : ''}`);
            }
          },
          (error: Error) => {
            failed++;
            console.error(`failed: ${payload}: ${error.message}`);
          },
        ),
      );
      await Promise.all(acks);
      publisher.close();
      if (failed > 0) process.exitCode = 1;
    },
  );
}
