import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { MembershipState } from '../../src/core/membership.js';
import { FileIncarnationStore } from '../../src/storage/incarnation-store.js';
import { FileMembershipStore } from '../../src/storage/membership-store.js';
import { CorruptMetaError } from '../../src/storage/storage-errors.js';
import { tempDir } from './helpers.js';

const voter = (id: string) => ({ id, voter: true, address: '' });

const STATE: MembershipState = {
  committed: { members: [voter('n1'), voter('n2'), voter('n3')] },
  pending: [
    {
      seq: 42,
      epoch: 3,
      membership: {
        members: [
          voter('n1'),
          voter('n2'),
          voter('n3'),
          { id: 'n4', voter: false, address: '{"host":"10.0.0.4"}' },
        ],
      },
    },
  ],
};

test('the membership round-trips across instances; a new folder has none', async (t) => {
  const dir = await tempDir(t);
  const store = new FileMembershipStore(dir);
  t.is(await store.load(), null);
  await store.save(STATE);
  await store.close();
  const again = new FileMembershipStore(dir);
  t.deepEqual(await again.load(), STATE);
  // A joining node knows no committed membership, only the entries of its log.
  const joining = { committed: { members: [] }, pending: STATE.pending };
  await again.save(joining);
  t.deepEqual(await again.load(), joining);
  await again.close();
});

test('a damaged membership file is reported, not trusted', async (t) => {
  const dir = await tempDir(t);
  const store = new FileMembershipStore(dir);
  await store.save(STATE);
  const path = join(dir, 'membership.json');
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace('"seq":42', '"seq":43'));
  await t.throwsAsync(store.load(), { instanceOf: CorruptMetaError, message: /CRC32C/ });
  await writeFile(path, text.slice(0, 20));
  await t.throwsAsync(store.load(), { instanceOf: CorruptMetaError, message: /not valid JSON/ });
  await store.close();
});

test('the incarnation record round-trips and a damaged one is reported', async (t) => {
  const dir = await tempDir(t);
  const store = new FileIncarnationStore(dir);
  t.is(await store.load(), null);
  const record = { nodeId: 'n1', incarnation: '0123abcd', peers: { n2: 'ffff0000' } };
  await store.save(record);
  t.deepEqual(await store.load(), record);
  await writeFile(join(dir, 'incarnation.json'), '{"version":1,"nodeId":7}');
  await t.throwsAsync(store.load(), { instanceOf: CorruptMetaError });
  await store.close();
});
