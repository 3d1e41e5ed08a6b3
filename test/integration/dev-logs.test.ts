import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { eventually } from '../helpers/cluster.js';
import { ordoBin } from '../helpers/ordo-cli.js';

test("'ordo dev' keeps each node's log in a file in its data folder and names it in the banner", async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'ordo-dev-logs-'));
  t.teardown(() => rmSync(data, { recursive: true, force: true }));
  const child = spawn(process.execPath, [ordoBin, 'dev', '--nodes', '1', '--data', data], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const logFile = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no banner within 30 s')), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = / log (\S+\.log)$/.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  t.is(logFile, join(data, 'n1.log'));
  await eventually(
    async () =>
      existsSync(logFile) && readFileSync(logFile, 'utf8').includes('listening for clients'),
    10_000,
    "the node's first lines in its log file",
  );
  child.kill('SIGINT');
  await exited;
  t.true(readFileSync(logFile, 'utf8').includes('n1'));
});
