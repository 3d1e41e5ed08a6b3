import type { BenchArgs } from './args.js';
import type { WorkerSet } from './children.js';
import { machine, revision } from './machine.js';
import { measureRawPair } from './raw-zmq.js';
import { formatTable, printJsonLine } from './report.js';

/** `npm run bench -- raw-zmq`: only the zeromq.js PUB/SUB ceiling, single and packed frames. */
export async function rawZmqBench(workers: WorkerSet, args: BenchArgs): Promise<void> {
  const { single, packed } = await measureRawPair(
    workers,
    args.payloadBytes,
    args.packedMessages,
    args.rawSeconds * 1000,
  );
  console.log(
    formatTable(
      [
        `raw zeromq.js PUB/SUB, ${args.payloadBytes}-byte messages`,
        'received msgs/s',
        'sent msgs/s',
      ],
      [
        ['1 msg per frame', single.receivedPerSecond, single.sentPerSecond],
        [`${args.packedMessages} msgs per frame`, packed.receivedPerSecond, packed.sentPerSecond],
      ],
    ),
  );
  if (args.json)
    printJsonLine({
      bench: 'raw-zmq',
      date: new Date().toISOString(),
      machine: machine(),
      revision: revision(),
      single,
      packed,
    });
}
