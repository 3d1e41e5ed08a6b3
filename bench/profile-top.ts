import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchArgs } from './args.js';
import { formatTable } from './report.js';
import { sourcePosition } from './source-map.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
    columnNumber: number;
  };
  readonly hitCount?: number;
  /** Samples per source line of this function (1-based lines of the generated JavaScript). */
  readonly positionTicks?: readonly { line: number; ticks: number }[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
}

/** The project root, to print paths relative to it (dist/bench/ is two levels down). */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shownFunctions = 25;
const shownFiles = 12;
const shownLines = 20;

function profilesIn(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.cpuprofile') || f.endsWith('.heapprofile'))
    .map((f) => join(path, f))
    .sort();
}

/** A V8 sampling heap profile: a call tree, and the allocations sampled at its nodes. */
interface HeapProfileNode {
  readonly id: number;
  readonly callFrame: ProfileNode['callFrame'];
  readonly children: readonly HeapProfileNode[];
}

interface HeapProfile {
  readonly head: HeapProfileNode;
  readonly samples: readonly { readonly size: number; readonly nodeId: number }[];
}

/** Bytes sampled by the function that allocated them (`name file:line`), and by file. */
function summarizeHeapProfile(path: string): {
  sampledBytes: number;
  byFunction: Map<string, number>;
  byFile: Map<string, number>;
} {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as HeapProfile;
  const where = new Map<number, string>();
  const pending = [profile.head];
  while (pending.length > 0) {
    const node = pending.pop()!;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    where.set(
      node.id,
      `${functionName || '(anonymous)'}  ${sourcePosition(url, lineNumber, columnNumber, root)}`,
    );
    pending.push(...node.children);
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let sampledBytes = 0;
  for (const { size, nodeId } of profile.samples) {
    const key = where.get(nodeId) ?? '(unknown)';
    sampledBytes += size;
    byFunction.set(key, (byFunction.get(key) ?? 0) + size);
    const file = key.replace(/^.* {2}/, '').replace(/:\d+$/, '');
    byFile.set(file, (byFile.get(file) ?? 0) + size);
  }
  return { sampledBytes, byFunction, byFile };
}

function printHeapProfile(path: string): void {
  const summary = summarizeHeapProfile(path);
  const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  console.log(
    `\n== ${basename(dirname(path))}/${basename(path)}: ${mib(summary.sampledBytes)} allocated (sampled, freed included)`,
  );
  const rows = (map: Map<string, number>, count: number): string[][] =>
    top(map, summary.sampledBytes, count, (bytes) => [mib(bytes)]);
  console.log(
    formatTable(
      ['share', 'allocated', 'function  file:line'],
      rows(summary.byFunction, shownFunctions),
    ),
  );
  console.log('');
  console.log(formatTable(['share', 'allocated', 'file'], rows(summary.byFile, shownFiles)));
}

/** Self time of one profile by function (`name file:line`) and by file; idle time is left out of the total. */
function summarizeProfile(path: string): {
  busySamples: number;
  wallMs: number;
  byFunction: Map<string, number>;
  byFile: Map<string, number>;
  byLine: Map<string, number>;
} {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byLine = new Map<string, number>();
  let busySamples = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    if (hits === 0 || functionName === '(idle)') continue;
    busySamples += hits;
    const position = sourcePosition(url, lineNumber, columnNumber, root);
    const key = `${functionName || '(anonymous)'}  ${position}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
    const file = position.replace(/:\d+$/, '');
    byFile.set(file, (byFile.get(file) ?? 0) + hits);
    // Line-level ticks point at the statement inside a function that costs the time.
    for (const { line, ticks } of node.positionTicks ?? []) {
      const where = `${functionName || '(anonymous)'}  ${sourcePosition(url, line - 1, 0, root)}`;
      byLine.set(where, (byLine.get(where) ?? 0) + ticks);
    }
  }
  return {
    busySamples,
    wallMs: (profile.endTime - profile.startTime) / 1000,
    byFunction,
    byFile,
    byLine,
  };
}

/** The `count` largest of `map` as [share of `total`, ...amount as `shown` gives it, key]. */
function top(
  map: Map<string, number>,
  total: number,
  count: number,
  shown: (value: number) => string[] = () => [],
): string[][] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, value]) => [`${((value * 100) / total).toFixed(1)}%`, ...shown(value), key]);
}

/**
 * `npm run bench -- profile-top <dir|file>`: the hottest functions, lines
 * and files of V8 CPU profiles, and where heap profiles allocate.
 */
export function profileTop(args: BenchArgs): void {
  if (args.profilePath === null)
    throw new Error('profile-top needs a .cpuprofile or .heapprofile file, or a folder of them');
  for (const path of profilesIn(args.profilePath)) {
    if (path.endsWith('.heapprofile')) {
      printHeapProfile(path);
      continue;
    }
    const summary = summarizeProfile(path);
    console.log(
      `\n== ${basename(dirname(path))}/${basename(path)}: ${summary.busySamples} busy samples over ${(summary.wallMs / 1000).toFixed(1)} s`,
    );
    console.log(
      formatTable(
        ['self', 'function  file:line'],
        top(summary.byFunction, summary.busySamples, shownFunctions),
      ),
    );
    console.log('');
    console.log(
      formatTable(
        ['self', 'hottest lines: function  file:line'],
        top(summary.byLine, summary.busySamples, shownLines),
      ),
    );
    console.log('');
    console.log(
      formatTable(['self', 'file'], top(summary.byFile, summary.busySamples, shownFiles)),
    );
  }
}
