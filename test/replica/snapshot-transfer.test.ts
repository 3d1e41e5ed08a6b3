import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import * as zmq from 'zeromq';
import { BrokerChannel } from '../../clients/replica/broker-channel.js';
import { SnapshotStore } from '../../clients/replica/snapshot-store.js';
import { LIMITS } from '../../src/limits.js';
import { chunkChecksum, chunkCount } from '../../src/storage/snapshot-chunks.js';
import { decodeClientRequest, encodeClientResponse } from '../../src/wire/client-codec.js';
import { RecordingLogger, tempDir } from './replica-fixtures.js';

/** Seeded bytes: the SHA-256 chain from 'transfer <seed>'. */
function bytesOf(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let block = createHash('sha256').update(`transfer ${seed}`).digest();
  for (let offset = 0; offset < length; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/**
 * A broker reduced to its snapshot reads, on a real ROUTER socket: it serves
 * one snapshot and damages one bit of the chunks `damage` picks (their
 * SHA-256 is the true one), as a bit flip on the way would.
 */
async function fakeBroker(
  data: Buffer,
  seq: number,
  damage: (index: number, timesAsked: number) => boolean,
) {
  const router = new zmq.Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:*');
  const digest = createHash('sha256').update(data).digest('hex');
  const chunkBytes = LIMITS.snapshotChunkBytes;
  const asked: number[] = [];
  void (async () => {
    try {
      for await (const [id, frame] of router) {
        const request = decodeClientRequest(frame!);
        if (request.body !== 'getSnapshotChunk') continue;
        const { plugin, index, describe } = request.getSnapshotChunk;
        const head = {
          found: true,
          plugin,
          seq,
          digest,
          totalBytes: data.length,
          chunkBytes,
          index,
        };
        let snapshotChunk: object = head;
        if (!describe) {
          asked.push(index);
          const piece = data.subarray(index * chunkBytes, (index + 1) * chunkBytes);
          const sent = Buffer.from(piece);
          if (damage(index, asked.filter((i) => i === index).length)) sent[100]! ^= 0x01;
          snapshotChunk = { ...head, data: sent, sha256: chunkChecksum(piece) };
        }
        await router.send([
          id!,
          encodeClientResponse({ requestId: request.requestId, snapshotChunk }),
        ]);
      }
    } catch {
      // Closed.
    }
  })();
  return { endpoint: router.lastEndpoint!, asked, close: () => router.close() };
}

test('a downloaded chunk that fails its SHA-256 is refused with the reason and fetched again; the snapshot lands whole', async (t) => {
  const data = bytesOf(1, 2 * LIMITS.snapshotChunkBytes + 12_345);
  const broker = await fakeBroker(data, 77, (index, times) => index === 1 && times === 1);
  t.teardown(() => broker.close());
  const logger = new RecordingLogger('transfer');
  const channel = new BrokerChannel([broker.endpoint], 'app', 'r1', logger);
  t.teardown(() => channel.close());
  const dir = tempDir(t, 'transfer');
  const store = await SnapshotStore.open(dir);
  const refused: { index: number; problem: string }[] = [];
  const result = await channel.fetchSnapshot(store, 10, {
    onRefusedChunk: (index, problem) => refused.push({ index, problem }),
  });
  if (!('record' in result)) return t.fail(`no snapshot: ${JSON.stringify(result)}`);
  t.deepEqual(
    refused.map((r) => r.index),
    [1],
  );
  t.regex(refused[0]!.problem, /chunk 1 failed its SHA-256 check/);
  t.true(logger.lines.some((l) => /snapshot chunk from .* refused: chunk 1 failed/.test(l)));
  t.is(broker.asked.filter((i) => i === 1).length, 2, 'chunk 1 was asked for twice');
  t.is(result.record.seq, 77);
  t.true(Buffer.from(result.record.data).equals(data));
  // It is the newest local snapshot now, intact on disk.
  const reopened = await SnapshotStore.open(dir);
  t.is(reopened.latest?.seq, 77);
  t.true(Buffer.from(reopened.latest!.data).equals(data));
  t.deepEqual(
    readdirSync(join(dir)).filter((n) => n.endsWith('.part')),
    [],
  );
});

test('a chunk that keeps failing its check is given up on after the retries, with the reason', async (t) => {
  const data = bytesOf(2, LIMITS.snapshotChunkBytes + 10);
  const broker = await fakeBroker(data, 5, (index) => index === 0);
  t.teardown(() => broker.close());
  const logger = new RecordingLogger('transfer-bad');
  const channel = new BrokerChannel([broker.endpoint], 'app', 'r1', logger);
  t.teardown(() => channel.close());
  const dir = tempDir(t, 'transfer-bad');
  const store = await SnapshotStore.open(dir);
  t.is(chunkCount(data.length, LIMITS.snapshotChunkBytes), 2);
  t.deepEqual(await channel.fetchSnapshot(store, 1), { bestSeq: null });
  t.is(broker.asked.filter((i) => i === 0).length, LIMITS.snapshotChunkRetries + 1);
  t.true(
    logger.lines.some((l) =>
      /snapshot download at seq 5 from .* failed: chunk 0 failed its check 4 times/.test(l),
    ),
    logger.lines.join('\n'),
  );
  // Nothing usable was stored: the partial file holds no chunk.
  t.is((await SnapshotStore.open(dir)).latest, null);
});
