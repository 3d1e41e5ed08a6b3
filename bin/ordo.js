#!/usr/bin/env node
// The `ordo` command. The TypeScript is compiled by `npm install` (prepare).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  console.error(
    'ordo is not built yet: run `npm install` (or `npm run build`) in the project folder first.',
  );
  process.exit(2);
}
await import(main);
