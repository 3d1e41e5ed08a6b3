/** Plain-text tables for the benchmark output: fixed-width columns, numbers right-aligned. */

export type Cell = string | number | null;

export function formatNumber(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value >= 100
    ? `${formatNumber(value, 0)} ms`
    : `${formatNumber(value, value >= 10 ? 1 : 2)} ms`;
}

export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
): string {
  const text = rows.map((row) =>
    row.map((cell) => (cell === null ? '' : typeof cell === 'number' ? formatNumber(cell) : cell)),
  );
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...text.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[], numeric: readonly boolean[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const numericColumns = headers.map((_, i) =>
    rows.every(
      (row) => typeof row[i] !== 'string' || /^[\d,.]+( ms|%|x)?$|^n\/a$/.test(row[i] as string),
    ),
  );
  return [
    line(headers, numericColumns),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...text.map((row) => line(row, numericColumns)),
  ].join('\n');
}

/** Prints the machine-readable result: one line, so that scripts can pick it out with `grep '^{'`. */
export function printJsonLine(result: object): void {
  console.log(JSON.stringify(result));
}
