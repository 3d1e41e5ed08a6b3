import { execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Publisher } from '../../clients/index.js';
import { startCluster } from '../helpers/cluster.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ordo.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Most `ordo` processes these tests run at once: each loads the whole CLI, and CI machines are small. */
const maxConcurrentRuns = 3;
let running = 0;
const queued: (() => void)[] = [];

/** Runs `ordo` with `args`, optionally feeding `input` on stdin; never rejects on a non-zero exit. */
async function ordo(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Run> {
  while (running >= maxConcurrentRuns) await new Promise<void>((resolve) => queued.push(resolve));
  running++;
  try {
    return await new Promise<Run>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [bin, ...args],
        { timeout: 60_000, env: { ...process.env, ORDO_BROKERS: '', ...options.env } },
        (error, stdout, stderr) => {
          if (error !== null && child.exitCode === null) reject(error);
          else resolve({ code: child.exitCode, stdout, stderr });
        },
      );
      child.stdin?.end(options.input ?? '');
    });
  } finally {
    running--;
    queued.shift()?.();
  }
}

const usageCases: [string[], string][] = [
  [
    ['publish', '--brokers', 'localhost'],
    'ordo: --brokers: invalid broker endpoint "localhost": it has no port (expected host:port or tcp://host:port, e.g. 127.0.0.1:7001)',
  ],
  [
    ['publish', '--brokers', '127.0.0.1:7001,127.0.0.1:70001'],
    'ordo: --brokers: invalid broker endpoint "127.0.0.1:70001": the port 70001 is out of range 1-65535 (expected host:port or tcp://host:port, e.g. 127.0.0.1:7001)',
  ],
  [
    ['tail', '--brokers', 'ipc:///tmp/x:1'],
    'ordo: --brokers: invalid broker endpoint "ipc:///tmp/x:1": the scheme ipc:// is not supported, only tcp:// (expected host:port or tcp://host:port, e.g. 127.0.0.1:7001)',
  ],
  [
    ['publish', '--brokers', '127.0.0.1:7001', '--count', '-3'],
    "ordo: --count must be a whole number 1 or more, got '-3'",
  ],
  [
    ['publish', '--brokers', '127.0.0.1:7001', '--count', 'abc'],
    "ordo: --count must be a whole number 1 or more, got 'abc'",
  ],
  [
    ['publish', '--brokers', '127.0.0.1:7001', '--count', '0'],
    "ordo: --count must be a whole number 1 or more, got '0'",
  ],
  [
    ['publish', '--brokers', '127.0.0.1:7001', '--count', '2.5'],
    "ordo: --count must be a whole number 1 or more, got '2.5'",
  ],
  [
    ['publish', '--brokers', '127.0.0.1:7001', '--timeout-ms', '0'],
    "ordo: --timeout-ms must be a whole number 1 or more, got '0'",
  ],
  [
    ['publish', '--brokers', '127.0.0.1:7001', '--first-producer-seq', '3'],
    'ordo: --first-producer-seq needs --producer-id',
  ],
  [
    ['publish', '--brokers', '127.0.0.1:7001', '--stdin', 'hello'],
    'ordo: Arguments stdin and message are mutually exclusive',
  ],
  [
    ['tail', '--brokers', '127.0.0.1:7001', '--from', 'abc'],
    "ordo: --from must be a whole number 1 or more, got 'abc'",
  ],
  [
    ['tail', '--brokers', '127.0.0.1:7001', '--from', '0'],
    "ordo: --from must be a whole number 1 or more, got '0'",
  ],
  [
    ['tail', '--brokers', '127.0.0.1:7001', '--count', '1', '--count', '2'],
    'ordo: --count is given more than once',
  ],
  [['dev', '--nodes', '0'], "ordo: --nodes must be a whole number from 1 to 15, got '0'"],
  [['dev', '--nodes', 'three'], "ordo: --nodes must be a whole number from 1 to 15, got 'three'"],
  [
    ['dev', '--port', '65530'],
    'ordo: --port 65530 with 3 nodes needs ports up to 65541, beyond 65535',
  ],
  [
    ['transfer-leader', '--brokers', '127.0.0.1:7001', '--to', 'n2', '--wait-ms', 'soon'],
    "ordo: --wait-ms must be a whole number 1 or more, got 'soon'",
  ],
  [
    ['replica', '--brokers', '127.0.0.1:7001', '--plugin', 'p.js', '--data', '/tmp/x'].concat([
      '--snapshot-every',
      '-1',
    ]),
    "ordo: --snapshot-every must be a whole number 1 or more, got '-1'",
  ],
  [['publish', 'hello'], 'ordo: Missing required argument: brokers'],
  [
    ['members', 'replace', 'n1', '--brokers', '127.0.0.1:7001'],
    'ordo: members replace OLD needs --with NEW, another node id',
  ],
  [
    ['members', 'add', 'n4', '--host', '127.0.0.1', '--client-port', '1'].concat(
      ['--peer-port', '2', '--pub-port', '3', '--public-key', 'not-a-key'],
      ['--brokers', '127.0.0.1:7001'],
    ),
    'ordo: --public-key must be a 40-character Z85 key (as ordo keygen prints)',
  ],
  [
    ['members', 'add', 'n4', '--public-key', 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7'].concat([
      '--brokers',
      '127.0.0.1:7001',
    ]),
    'ordo: --public-key needs the address too (--host and ports, or --config)',
  ],
  [
    // A Z85 key may start with '-': it is still the flag's value, not a flag.
    ['members', 'add', 'n4', '--public-key', '-Fq:M>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7'].concat([
      '--brokers',
      '127.0.0.1:7001',
    ]),
    'ordo: --public-key needs the address too (--host and ports, or --config)',
  ],
];

for (const [args, expected] of usageCases) {
  test(`ordo ${args.join(' ')}: usage text, then one line naming the problem, exit code 2`, async (t) => {
    const run = await ordo(args);
    t.is(run.code, 2);
    t.is(run.stdout, '');
    const lines = run.stderr.trimEnd().split('\n');
    t.is(lines.at(-1), expected);
    t.true(
      lines.some((l) => l.startsWith('Options:')),
      'the usage text comes first',
    );
    t.false(run.stderr.includes('    at '), 'no stack trace');
  });
}

test('a bad endpoint in ORDO_BROKERS is reported like a bad --brokers', async (t) => {
  const run = await ordo(['tail', '--count', '1'], { env: { ORDO_BROKERS: '127.0.0.1' } });
  t.is(run.code, 2);
  t.regex(
    run.stderr.trimEnd().split('\n').at(-1)!,
    /invalid broker endpoint "127.0.0.1": it has no port/,
  );
});

test('help examples are whole commands: none is wrapped by the help layout', async (t) => {
  for (const command of [
    'publish',
    'tail',
    'dev',
    'node',
    'replica',
    'transfer-leader',
    'members',
    'call',
  ]) {
    const run = await ordo([command, '--help']);
    t.is(run.code, 0);
    const lines = run.stdout.split('\n');
    const start = lines.indexOf('Examples:');
    t.true(start >= 0, `${command} --help has examples`);
    const examples = lines.slice(start + 1).filter((l) => l.trim().length > 0);
    t.true(examples.length >= 2);
    examples.forEach((line, i) => {
      const continued = i > 0 && examples[i - 1]!.endsWith(' \\');
      if (continued) t.regex(line, /^ {6}\S/, `${command}: continuation line: ${line}`);
      else t.regex(line, /^ {2}(# |ordo |ORDO_BROKERS=)/, `${command}: example line: ${line}`);
      t.true(line.length <= 80, `${command}: example line wider than 80: ${line}`);
    });
  }
});

test('ordo completion prints a shell completion script', async (t) => {
  const run = await ordo(['completion']);
  t.is(run.code, 0);
  t.regex(run.stdout, /complete -o bashdefault -o default -F _ordo_yargs_completions ordo/);
});

test('publish --stdin with --producer-id can be run again without publishing anything twice; ORDO_BROKERS stands for --brokers; tail prints binary payloads in JSON and raw', async (t) => {
  const cluster = await startCluster(t);
  // host:port, without tcp://, the form the CLI prints.
  const brokers = cluster.clientEndpoints.map((e) => e.replace('tcp://', ''));
  const env = { ORDO_BROKERS: brokers.join(',') };
  const input = 'first line\n\nsecond line\r\nthird line';
  const args = ['publish', '--topic', 'lines', '--stdin', '--producer-id', 'import-1', '--json'];
  const first = await ordo(args, { env, input });
  t.is(first.code, 0, first.stderr);
  const acks = first.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; payload: string; duplicate: boolean });
  t.deepEqual(
    acks.map((a) => a.payload),
    ['first line', 'second line', 'third line'],
  );
  t.true(acks.every((a) => !a.duplicate));
  const again = await ordo(args, { env, input });
  t.is(again.code, 0, again.stderr);
  const repeated = again.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; duplicate: boolean });
  t.deepEqual(
    repeated.map((a) => a.seq),
    acks.map((a) => a.seq),
    'the same seqs: nothing new was published',
  );
  t.true(repeated.every((a) => a.duplicate));

  const publisher = new Publisher({ brokers });
  const binary = Uint8Array.from([0xff, 0x00, 0x80, 0x0a, 0x41]);
  const ack = await publisher.publish('bytes', binary);
  await publisher.close();

  const json = await ordo(['tail', '--from', String(ack.seq), '--count', '1', '--format', 'json'], {
    env,
  });
  t.is(json.code, 0, json.stderr);
  const line = JSON.parse(json.stdout) as { seq: number; payload?: string; payloadBase64: string };
  t.is(line.seq, ack.seq);
  t.is(line.payload, undefined, 'no text form for bytes that are not UTF-8');
  t.deepEqual(Uint8Array.from(Buffer.from(line.payloadBase64, 'base64')), binary);

  const text = await ordo(
    ['tail', '--from', String(acks[0]!.seq), '--count', '1', '--format', 'json'],
    {
      env,
    },
  );
  const textLine = JSON.parse(text.stdout) as { payload?: string; payloadBase64: string };
  t.is(textLine.payload, 'first line');
  t.is(Buffer.from(textLine.payloadBase64, 'base64').toString(), 'first line');

  const raw = await rawTail(
    ['tail', '--from', String(ack.seq), '--count', '1', '--format', 'raw'],
    env,
  );
  t.deepEqual(raw, Buffer.concat([binary, Buffer.from('\n')]));
});

/** Runs `ordo` and returns its stdout as bytes. */
function rawTail(args: string[], env: NodeJS.ProcessEnv): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 30_000,
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`ordo exited with ${code}`)),
    );
  });
}
