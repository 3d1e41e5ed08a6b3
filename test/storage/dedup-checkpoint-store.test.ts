import { readFile, writeFile } from 'node:fs/promises';
import test from 'ava';
import { crc32c } from '../../src/storage/crc32c.js';
import { DedupCheckpointStore } from '../../src/storage/dedup-checkpoint-store.js';
import { tempDir } from './helpers.js';

test("a checkpoint keeps each producer id's owner", async (t) => {
  const dir = await tempDir(t);
  const store = new DedupCheckpointStore(dir);
  const checkpoint = {
    seq: 12,
    producers: [
      {
        producerId: 'p',
        lastProducerSeq: 3,
        producerSeqs: [2, 3],
        seqs: [10, 12],
        evictedProducerSeq: 1,
        evictedSeq: 4,
        owner: 'alice',
      },
      {
        producerId: 'q',
        lastProducerSeq: 1,
        producerSeqs: [1],
        seqs: [11],
        evictedProducerSeq: null,
        evictedSeq: null,
        owner: '',
      },
    ],
  };
  await store.save(checkpoint);
  await store.close();
  t.is(JSON.parse(await readFile(store.path, 'utf8')).version, 2);
  t.deepEqual(await new DedupCheckpointStore(dir).load(), { checkpoint, problem: null });
});

test('a version 1 checkpoint (before owners) still loads, its producers without an owner', async (t) => {
  const dir = await tempDir(t);
  const store = new DedupCheckpointStore(dir);
  const body = JSON.stringify({
    version: 1,
    seq: 5,
    producers: [['p', 2, [1, 2], [4, 5], null, null]],
  });
  const text = `${body.slice(0, -1)},"crc32c":${crc32c(Buffer.from(body, 'utf8'))}}\n`;
  await writeFile(store.path, text);
  t.deepEqual(await store.load(), {
    checkpoint: {
      seq: 5,
      producers: [
        {
          producerId: 'p',
          lastProducerSeq: 2,
          producerSeqs: [1, 2],
          seqs: [4, 5],
          evictedProducerSeq: null,
          evictedSeq: null,
          owner: '',
        },
      ],
    },
    problem: null,
  });
});

test('an owner that is not a string makes the checkpoint damaged, not a crash', async (t) => {
  const dir = await tempDir(t);
  const store = new DedupCheckpointStore(dir);
  const body = JSON.stringify({
    version: 2,
    seq: 5,
    producers: [['p', 2, [2], [5], null, null, 7]],
  });
  await writeFile(
    store.path,
    `${body.slice(0, -1)},"crc32c":${crc32c(Buffer.from(body, 'utf8'))}}\n`,
  );
  const { checkpoint, problem } = await store.load();
  t.is(checkpoint, null);
  t.regex(problem ?? '', /malformed/);
});

test('a producer history whose producerSeqs or seqs do not rise makes the checkpoint damaged, not a crash', async (t) => {
  const dir = await tempDir(t);
  const store = new DedupCheckpointStore(dir);
  const histories = [
    [
      [3, 2],
      [5, 6],
    ],
    [
      [2, 3],
      [6, 6],
    ],
    [
      [1, -2],
      [5, 6],
    ],
  ];
  for (const [producerSeqs, seqs] of histories) {
    const body = JSON.stringify({
      version: 2,
      seq: 7,
      producers: [['p', 3, producerSeqs, seqs, null, null, '']],
    });
    await writeFile(
      store.path,
      `${body.slice(0, -1)},"crc32c":${crc32c(Buffer.from(body, 'utf8'))}}\n`,
    );
    const { checkpoint, problem } = await store.load();
    t.is(checkpoint, null, JSON.stringify({ producerSeqs, seqs }));
    t.regex(problem ?? '', /malformed/);
  }
});
