import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadCredentials } from '../../src/runtime/curve-keys.js';
import { runOrdo } from '../helpers/ordo-cli.js';

test('ordo keygen writes a node key pair and client credentials readable by their owner only, and prints no secret', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordo-keys-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const made = await runOrdo(['keygen', '--name', 'n1', '--out', dir]);
  t.is(made.code, 0, made.stderr);
  const secret = readFileSync(join(dir, 'n1.key'), 'utf8').trim();
  const publicKey = readFileSync(join(dir, 'n1.pub'), 'utf8').trim();
  t.is(secret.length, 40);
  t.is(statSync(join(dir, 'n1.key')).mode & 0o777, 0o600);
  t.true(made.stdout.includes(publicKey));
  t.false(made.stdout.includes(secret));
  const again = await runOrdo(['keygen', '--name', 'n1', '--out', dir]);
  t.is(again.code, 1);
  t.regex(again.stderr, /exists \(use --force/);

  const config = join(dir, 'cluster.json');
  writeFileSync(
    config,
    JSON.stringify({
      clusterId: 'k',
      nodes: [
        {
          id: 'n1',
          clientPort: 7001,
          peerPort: 7002,
          pubPort: 7003,
          publicKey,
          secretKeyFile: join(dir, 'n1.key'),
        },
      ],
    }),
  );
  const client = await runOrdo(['keygen', '--identity', 'alice', '--config', config, '--out', dir]);
  t.is(client.code, 0, client.stderr);
  const path = join(dir, 'alice.credentials.json');
  t.is(statSync(path).mode & 0o777, 0o600);
  const credentials = loadCredentials(path);
  t.is(credentials.identity, 'alice');
  t.is(credentials.brokerKeys.get('tcp://127.0.0.1:7001'), publicKey);
  t.false(client.stdout.includes(credentials.secretKey.reveal()));
  t.regex(client.stdout, /"identity":"alice","publicKey":/);
});

test('ordo node on an address other machines reach refuses to start without keys, naming the way out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordo-open-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'cluster.json');
  writeFileSync(
    config,
    JSON.stringify({
      nodes: [{ id: 'n1', bindHost: '0.0.0.0', clientPort: 1, peerPort: 2, pubPort: 3 }],
    }),
  );
  const refused = await runOrdo(['node', '--config', config, '--id', 'n1']);
  t.is(refused.code, 1);
  t.regex(
    refused.stderr,
    /binds 0\.0\.0\.0, which other machines can reach, and the cluster has no keys/,
  );
  t.regex(refused.stderr, /or set "insecure": true/);
});
