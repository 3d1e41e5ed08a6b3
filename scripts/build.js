#!/usr/bin/env node
// Generates the protobuf code from proto/ (never edited by hand), compiles
// the TypeScript and places the generated JavaScript beside the output.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
const outDir = process.argv[2] ?? 'dist';

mkdirSync(join(root, 'src/gen'), { recursive: true });
const pbjs = [
  '-t',
  'static-module',
  '-w',
  'esm',
  '--es6',
  '--force-number',
  '--no-delimited',
  '--no-typeurl',
  '--no-service',
];
// The code that runs: compact, without comments.
run(bin('pbjs'), [
  ...pbjs,
  '--no-beautify',
  '--no-comments',
  '-o',
  'src/gen/ordo.js',
  'proto/ordo.proto',
]);
// A commented copy, only to generate the type declarations from.
run(bin('pbjs'), [...pbjs, '-o', 'src/gen/ordo.full.js', 'proto/ordo.proto']);
run(bin('pbts'), ['-o', 'src/gen/ordo.d.ts', 'src/gen/ordo.full.js']);
rmSync(join(root, 'src/gen/ordo.full.js'));
if (process.argv.includes('--proto-only')) process.exit(0);
run(bin('tsc'), ['-p', 'tsconfig.json', '--outDir', outDir]);
mkdirSync(join(root, outDir, 'src/gen'), { recursive: true });
copyFileSync(join(root, 'src/gen/ordo.js'), join(root, outDir, 'src/gen/ordo.js'));
// The declarations too: the compiled .d.ts files import them, and a consumer's type check needs them.
copyFileSync(join(root, 'src/gen/ordo.d.ts'), join(root, outDir, 'src/gen/ordo.d.ts'));
