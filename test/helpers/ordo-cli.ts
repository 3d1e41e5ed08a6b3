import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ordoBin = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'bin',
  'ordo.js',
);

export interface OrdoRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the `ordo` CLI to its end (bounded by `timeoutMs`) and returns its exit code and output. */
export function runOrdo(args: readonly string[], timeoutMs = 30_000): Promise<OrdoRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [ordoBin, ...args],
      { timeout: timeoutMs },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(new Error(`ordo ${args.join(' ')} did not finish: ${error.message}\n${stderr}`));
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}
