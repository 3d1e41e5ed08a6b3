import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Maps a position in compiled JavaScript back to the TypeScript source via
 * the `.js.map` the build writes beside it, so that profile hot spots are
 * reported as `src/...ts:line`, the lines the engineers actually edit.
 * Only what that needs: decoding the VLQ mappings, no names, no sections.
 */

interface Segment {
  readonly column: number;
  readonly source: number;
  readonly line: number;
}

const base64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function decodeVlq(text: string, at: { index: number }): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    const digit = base64.indexOf(text[at.index++]!);
    result += (digit & 31) << shift;
    shift += 5;
    if ((digit & 32) === 0) break;
  }
  return result & 1 ? -(result >>> 1) : result >>> 1;
}

class SourceMap {
  private readonly lines: Segment[][] = [];

  constructor(
    private readonly sources: readonly string[],
    mappings: string,
  ) {
    let source = 0;
    let line = 0;
    for (const lineText of mappings.split(';')) {
      const segments: Segment[] = [];
      let column = 0;
      for (const segmentText of lineText.split(',')) {
        if (segmentText === '') continue;
        const at = { index: 0 };
        column += decodeVlq(segmentText, at);
        if (at.index >= segmentText.length) continue;
        source += decodeVlq(segmentText, at);
        line += decodeVlq(segmentText, at);
        segments.push({ column, source, line });
      }
      this.lines.push(segments);
    }
  }

  /** Original source and 1-based line of a 0-based generated line and column. */
  lookup(line: number, column: number): { source: string; line: number } | null {
    const segments = this.lines[line];
    if (segments === undefined || segments.length === 0) return null;
    let found = segments[0]!;
    for (const segment of segments) {
      if (segment.column > column) break;
      found = segment;
    }
    return { source: this.sources[found.source] ?? '?', line: found.line + 1 };
  }
}

const cache = new Map<string, SourceMap | null>();

function mapFor(jsPath: string): SourceMap | null {
  if (cache.has(jsPath)) return cache.get(jsPath)!;
  let map: SourceMap | null = null;
  try {
    const raw = JSON.parse(readFileSync(`${jsPath}.map`, 'utf8')) as {
      sources: string[];
      sourceRoot?: string;
      mappings: string;
    };
    const sources = raw.sources.map((s) => resolve(dirname(jsPath), raw.sourceRoot ?? '', s));
    map = new SourceMap(sources, raw.mappings);
  } catch {
    // No map (node internals, dependencies): the JavaScript position is reported as is.
  }
  cache.set(jsPath, map);
  return map;
}

/** `file:line` of a profile call frame, in TypeScript when a source map exists, relative to `root`. */
export function sourcePosition(url: string, line0: number, column0: number, root: string): string {
  if (url === '') return '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const original = path.startsWith('/') ? mapFor(path)?.lookup(line0, column0) : null;
  const shown = original ?? { source: path, line: line0 + 1 };
  const file = shown.source.startsWith(root)
    ? relative(root, shown.source)
    : shown.source.replace(/^.*node_modules\//, 'node_modules/');
  return `${file}:${shown.line}`;
}
