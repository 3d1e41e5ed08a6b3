import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const fixture = join(root, 'test', 'package', 'consumer');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface PackResult {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

test('the packed package installs into another TypeScript project, type-checks strictly with skipLibCheck off, and runs against a cluster', async (t) => {
  const startedMs = Date.now();
  const work = await mkdtemp(join(tmpdir(), 'ordo-pack-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));

  // The tarball a registry would serve. The build already ran: no scripts.
  const packed = await run(
    npm,
    ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
    { cwd: root, timeout: 60_000 },
  );
  const [pack] = JSON.parse(packed.stdout) as PackResult[];
  const files = new Set(pack!.files.map((f) => f.path));
  for (const needed of [
    'LICENSE',
    'README.md',
    'package.json',
    'bin/ordo.js',
    'proto/ordo.proto',
    'dist/clients/index.js',
    'dist/clients/index.d.ts',
    'dist/src/gen/ordo.js',
    'dist/src/gen/ordo.d.ts',
    'dist/src/cli/main.js',
  ]) {
    t.true(files.has(needed), `the package ships ${needed}`);
  }
  t.false(
    [...files].some((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/')),
    'tests and benchmarks stay out of the package',
  );
  t.false(
    [...files].some((f) => f.endsWith('.map')),
    'no source maps for sources not shipped',
  );
  t.log(`packed ${pack!.filename}: ${files.size} files after ${Date.now() - startedMs} ms`);

  // A project of its own, outside this repository, that depends on the tarball.
  const consumer = join(work, 'consumer');
  await mkdir(consumer);
  const typesNode = JSON.parse(
    await readFile(join(root, 'node_modules', '@types', 'node', 'package.json'), 'utf8'),
  ) as { version: string };
  await writeFile(
    join(consumer, 'package.json'),
    JSON.stringify({
      name: 'ordo-consumer',
      private: true,
      type: 'module',
      devDependencies: { '@types/node': typesNode.version },
    }),
  );
  await copyFile(join(fixture, 'example.ts'), join(consumer, 'example.ts'));
  await copyFile(join(fixture, 'tsconfig.json'), join(consumer, 'tsconfig.json'));
  // Dependencies come from the npm cache that installing this project filled.
  await run(
    npm,
    ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, pack!.filename)],
    { cwd: consumer, timeout: 120_000 },
  );
  t.log(`installed after ${Date.now() - startedMs} ms`);

  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  const checked = await run(tsc, ['-p', 'tsconfig.json'], { cwd: consumer, timeout: 60_000 }).catch(
    (error: { stdout?: string }) => error,
  );
  t.is((checked as { stdout?: string }).stdout?.trim() ?? '', '', 'strict type check passes');
  t.log(`type-checked after ${Date.now() - startedMs} ms`);

  const cluster = await startCluster(t);
  const ran = await run(process.execPath, [join(consumer, 'out', 'example.js')], {
    cwd: consumer,
    timeout: 60_000,
    env: { ...process.env, ORDO_BROKERS: cluster.clientEndpoints.join(',') },
  });
  const result = JSON.parse(ran.stdout.trim()) as {
    seq: number;
    received: string;
    leaders: number;
    counted: number;
    typed: boolean;
  };
  t.true(result.seq >= 1);
  t.is(result.received, 'hello from a dependent project');
  t.is(result.leaders, 1);
  t.is(result.counted, 1);
  t.true(result.typed);

  // The installed command works too.
  const status = await run(
    join(consumer, 'node_modules', '.bin', 'ordo'),
    ['status', '--brokers', cluster.clientEndpoints.join(',')],
    { cwd: consumer, timeout: 30_000 },
  );
  t.regex(status.stdout, /leader/);
  t.log(`done after ${Date.now() - startedMs} ms`);
});
