import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { LIMITS } from '../../src/limits.js';
import { chunkChecksum, chunkCount, chunkProblem } from '../../src/storage/snapshot-chunks.js';
import {
  SnapshotRequestError,
  SnapshotStorage,
  type UploadChunk,
} from '../../src/storage/snapshot-storage.js';

const chunkBytes = 1000;

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ordo-snapstore-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Seeded bytes (printed seed: the text 'snapshot <seed>' hashed in a chain). */
function bytesOf(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let block = createHash('sha256').update(`snapshot ${seed}`).digest();
  for (let offset = 0; offset < length; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

function chunksOf(data: Buffer, seq: number, plugin = 'app'): UploadChunk[] {
  const digest = createHash('sha256').update(data).digest('hex');
  return Array.from({ length: chunkCount(data.length, chunkBytes) }, (_, index) => {
    const piece = data.subarray(index * chunkBytes, (index + 1) * chunkBytes);
    return {
      plugin,
      replicaId: 'r1',
      seq,
      digest,
      totalBytes: data.length,
      chunkBytes,
      index,
      data: piece,
      sha256: chunkChecksum(piece),
      probe: false,
    };
  });
}

const probe = (c: UploadChunk): UploadChunk => ({ ...c, probe: true, data: new Uint8Array() });

test('the chunk checks name what is wrong: beyond the end, wrong length, bad SHA-256', (t) => {
  const data = bytesOf(1, 2500);
  t.is(chunkCount(2500, chunkBytes), 3);
  t.is(chunkCount(0, chunkBytes), 1);
  t.is(
    chunkProblem(2500, chunkBytes, 2, data.subarray(2000), chunkChecksum(data.subarray(2000))),
    null,
  );
  t.regex(
    chunkProblem(2500, chunkBytes, 3, data, chunkChecksum(data))!,
    /beyond the last chunk \(2\)/,
  );
  t.regex(
    chunkProblem(2500, chunkBytes, 0, data.subarray(0, 999), chunkChecksum(data.subarray(0, 999)))!,
    /holds 999 bytes, expected 1000/,
  );
  const damaged = Buffer.from(data.subarray(0, 1000));
  damaged[10]! ^= 1;
  t.regex(
    chunkProblem(2500, chunkBytes, 0, damaged, chunkChecksum(data.subarray(0, 1000)))!,
    /chunk 0 failed its SHA-256 check/,
  );
});

test('an upload in order is stored once complete and served chunk by chunk', async (t) => {
  const dir = tempDir(t);
  const storage = await SnapshotStorage.open(dir, 0);
  const data = bytesOf(2, 2 * chunkBytes + 345);
  const chunks = chunksOf(data, 50);
  t.deepEqual(await storage.putChunk(probe(chunks[0]!), 0), {
    nextIndex: 0,
    complete: false,
    refused: '',
    problem: '',
  });
  t.is((await storage.putChunk(chunks[0]!, 0)).nextIndex, 1);
  t.is((await storage.putChunk(chunks[1]!, 0)).nextIndex, 2);
  // Not stored (not served, not counted by retention) before the last chunk.
  t.false((await storage.getChunk('app', 0, 0, true)).found);
  t.is(storage.retentionFloorSeq(), 0);
  const last = await storage.putChunk(chunks[2]!, 0);
  t.true(last.complete);
  t.is(last.nextIndex, 3);
  t.is(storage.newestSeq('app'), 50);
  t.is(storage.retentionFloorSeq(), 50);
  const head = await storage.getChunk('app', 0, 0, true);
  t.like(head, { found: true, seq: 50, totalBytes: data.length });
  const served: Buffer[] = [];
  for (let i = 0; i < chunkCount(data.length, LIMITS.snapshotChunkBytes); i++) {
    const c = await storage.getChunk('app', 50, i, false);
    t.is(chunkProblem(data.length, LIMITS.snapshotChunkBytes, i, c.data!, c.sha256!), null);
    served.push(Buffer.from(c.data!));
  }
  t.true(Buffer.concat(served).equals(data));
  await t.throwsAsync(storage.getChunk('app', 50, 99, false), {
    instanceOf: SnapshotRequestError,
    message: /has 1 chunks; there is no chunk 99/,
  });
  // An older snapshot is refused; the same one again is complete at once.
  t.regex(
    (await storage.putChunk(chunksOf(bytesOf(3, 10), 40)[0]!, 0)).refused,
    /seq 50 is stored/,
  );
  t.true((await storage.putChunk(probe(chunks[0]!), 0)).complete);
});

test('a damaged chunk is refused with the reason and taken when sent again; a chunk out of order is refused', async (t) => {
  const storage = await SnapshotStorage.open(tempDir(t), 0);
  const chunks = chunksOf(bytesOf(4, 3 * chunkBytes), 7);
  t.is((await storage.putChunk(chunks[0]!, 0)).nextIndex, 1);
  const flipped = Buffer.from(chunks[1]!.data);
  flipped[0]! ^= 0xff;
  const refused = await storage.putChunk({ ...chunks[1]!, data: flipped }, 0);
  t.is(refused.nextIndex, 1);
  t.regex(refused.problem, /chunk 1 failed its SHA-256 check/);
  const skipped = await storage.putChunk(chunks[2]!, 0);
  t.is(skipped.nextIndex, 1);
  t.regex(skipped.problem, /chunk 2 is not the next one \(1\)/);
  t.is((await storage.putChunk(chunks[1]!, 0)).nextIndex, 2);
  t.true((await storage.putChunk(chunks[2]!, 0)).complete);
});

test('a partial upload survives a restart, a torn last chunk is cut off, and the upload resumes', async (t) => {
  const dir = tempDir(t);
  let storage = await SnapshotStorage.open(dir, 0);
  const data = bytesOf(5, 4 * chunkBytes);
  const chunks = chunksOf(data, 9);
  for (const c of chunks.slice(0, 2)) await storage.putChunk(c, 0);
  const pluginDir = join(dir, 'app');
  const part = readdirSync(pluginDir).find((n) => n.endsWith('.part'))!;
  await storage.close();
  // A crash in the middle of the third chunk's write.
  appendFileSync(join(pluginDir, part), data.subarray(2 * chunkBytes, 2 * chunkBytes + 300));

  storage = await SnapshotStorage.open(dir, 0);
  t.is(storage.retentionFloorSeq(), 0, 'the plugin is known after the restart; nothing is stored');
  t.false((await storage.getChunk('app', 0, 0, true)).found, 'a partial upload is never served');
  t.is((await storage.putChunk(probe(chunks[0]!), 0)).nextIndex, 2);
  t.is((await storage.putChunk(chunks[2]!, 0)).nextIndex, 3);
  t.true((await storage.putChunk(chunks[3]!, 0)).complete);
  const stored = readdirSync(pluginDir).find((n) => n.endsWith('.snapshot'))!;
  t.true(readFileSync(join(pluginDir, stored)).equals(data));
  t.deepEqual(
    readdirSync(pluginDir).filter((n) => n.endsWith('.part')),
    [],
  );
});

test('a complete upload whose bytes do not match its digest is refused and not stored', async (t) => {
  const storage = await SnapshotStorage.open(tempDir(t), 0);
  const chunks = chunksOf(bytesOf(6, 1500), 3).map((c) => ({ ...c, digest: 'e'.repeat(64) }));
  await storage.putChunk(chunks[0]!, 0);
  const last = await storage.putChunk(chunks[1]!, 0);
  t.false(last.complete);
  t.regex(last.refused, /SHA-256 is [0-9a-f]{64}, not its digest e{64}/);
  t.is(storage.newestSeq('app'), 0);
});

test('a partial upload that receives nothing for the expiry time is deleted', async (t) => {
  const dir = tempDir(t);
  const storage = await SnapshotStorage.open(dir, 0);
  const chunks = chunksOf(bytesOf(7, 2000), 4);
  await storage.putChunk(chunks[0]!, 1000);
  storage.expireUploads(1000 + LIMITS.snapshotUploadExpiryMs - 1);
  t.is(storage.uploadsInProgress().length, 1);
  storage.expireUploads(1000 + LIMITS.snapshotUploadExpiryMs);
  t.is(storage.uploadsInProgress().length, 0);
  t.regex((await storage.putChunk(chunks[1]!, 2000)).problem, /chunk 1 is not the next one \(0\)/);
});

test('retention rule: no known plugin holds nothing; each known plugin holds the log after its newest stored snapshot', async (t) => {
  const dir = tempDir(t);
  const storage = await SnapshotStorage.open(dir, 0);
  t.is(storage.retentionFloorSeq(), Number.POSITIVE_INFINITY);
  t.true(await storage.notePlugin('a'));
  t.true(await storage.notePlugin('b/with slash'));
  t.is(storage.retentionFloorSeq(), 0);
  for (const c of chunksOf(bytesOf(8, 10), 30, 'a')) await storage.putChunk(c, 0);
  t.is(storage.retentionFloorSeq(), 0, "'b' has no snapshot: the whole log is kept for it");
  for (const c of chunksOf(bytesOf(9, 10), 20, 'b/with slash')) await storage.putChunk(c, 0);
  t.is(storage.retentionFloorSeq(), 20);
  // Known plugins and stored snapshots survive a restart.
  const reopened = await SnapshotStorage.open(dir, 0);
  t.deepEqual(reopened.plugins().sort(), ['a', 'b/with slash']);
  t.is(reopened.retentionFloorSeq(), 20);
  t.is(reopened.newestSeq('a'), 30);
});

test('once a newer snapshot is stored, no answer to a chunk of an older upload says there is more to send when there is not', async (t) => {
  const dir = tempDir(t);
  const storage = await SnapshotStorage.open(dir, 0);
  const older = chunksOf(bytesOf(3, 5 * chunkBytes), 100);
  const newer = chunksOf(bytesOf(4, chunkBytes), 300);
  t.is((await storage.putChunk(older[0]!, 0)).nextIndex, 1);
  // The older upload's chunks queue on it while another replica's newer snapshot completes.
  const answers = older.slice(1).map((chunk) => storage.putChunk(chunk, 0));
  t.true((await storage.putChunk(newer[0]!, 0)).complete);
  answers.push(storage.putChunk(older[4]!, 0));
  for (const answer of await Promise.all(answers)) {
    // "Not complete, nothing wrong, all chunks held" would leave an uploader nothing to send and no reason to stop.
    const dead =
      !answer.complete &&
      answer.refused === '' &&
      answer.problem === '' &&
      answer.nextIndex >= older.length;
    t.false(dead, `answered ${JSON.stringify(answer)}`);
  }
  t.is(storage.newestSeq('app'), 300);
});

test('two replicas uploading the same snapshot at once: the second waits behind the first completing, and what is stored is the snapshot', async (t) => {
  const dir = tempDir(t);
  const storage = await SnapshotStorage.open(dir, 0);
  const data = bytesOf(12, 3 * chunkBytes);
  const fromFirst = chunksOf(data, 70);
  const fromSecond = fromFirst.map((c) => ({ ...c, replicaId: 'r2' }));
  for (const c of fromFirst.slice(0, -1)) await storage.putChunk(c, 0);
  let firstSettled = false;
  const firstDone = storage.putChunk(fromFirst.at(-1)!, 0).finally(() => {
    firstSettled = true;
  });
  // The first upload starts completing once its last chunk is written
  // (checking its file's SHA-256, then renaming it into place, over several
  // turns of the event loop); the second replica's first chunk of the same
  // snapshot arrives meanwhile. Nothing announces that start: the turns are
  // watched until every chunk is in (or, as before this was mended, the
  // upload has left the list), at most 1,000 of them.
  const allChunks = fromFirst.length;
  let turns = 0;
  for (; turns < 1000; turns++) {
    const upload = storage.uploadsInProgress()[0];
    if (upload === undefined || upload.nextIndex === allChunks) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.log(`the second replica's first chunk came ${turns} turns after the first's last`);
  t.false(firstSettled, 'the second chunk arrives while the first upload is being completed');
  const secondFirst = storage.putChunk(fromSecond[0]!, 0);
  const [first, second] = await Promise.all([firstDone, secondFirst]);
  t.like(first, { complete: true, refused: '', problem: '' });
  t.like(second, { complete: true, refused: '', problem: '' });
  t.is(storage.newestSeq('app'), 70);
  const served: Buffer[] = [];
  for (let i = 0; i < chunkCount(data.length, LIMITS.snapshotChunkBytes); i++)
    served.push(Buffer.from((await storage.getChunk('app', 70, i, false)).data!));
  t.true(Buffer.concat(served).equals(data));
  // No partial file is left behind.
  t.deepEqual(
    readdirSync(join(dir, readdirSync(dir)[0]!)).filter((name) => name.endsWith('.part')),
    [],
  );
});
