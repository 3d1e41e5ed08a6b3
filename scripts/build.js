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
run(bin('pbjs'), [
  '-t',
  'static-module',
  '-w',
  'esm',
  '--es6',
  '--force-number',
  '--no-beautify',
  '--no-comments',
  '--no-delimited',
  '--no-typeurl',
  '--no-service',
  '-o',
  'src/gen/ordo.js',
  'proto/ordo.proto',
]);
run(bin('pbjs'), [
  '-t',
  'static-module',
  '-w',
  'esm',
  '--es6',
  '--force-number',
  '--no-delimited',
  '--no-typeurl',
  '--no-service',
  '-o',
  'src/gen/ordo.full.js',
  'proto/ordo.proto',
]);
run(bin('pbts'), ['-o', 'src/gen/ordo.d.ts', 'src/gen/ordo.full.js']);
rmSync(join(root, 'src/gen/ordo.full.js'));
if (process.argv.includes('--proto-only')) process.exit(0);
run(bin('tsc'), ['-p', 'tsconfig.json', '--outDir', outDir]);
mkdirSync(join(root, outDir, 'src/gen'), { recursive: true });
copyFileSync(join(root, 'src/gen/ordo.js'), join(root, outDir, 'src/gen/ordo.js'));
