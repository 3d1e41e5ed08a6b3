/**
 * Lays rows out in columns that line up: each column as wide as its widest
 * cell, numbers right-aligned, two spaces between columns, no trailing spaces.
 */
export function formatTable(
  header: readonly string[] | null,
  rows: readonly (readonly (string | number)[])[],
  indent = '',
): string {
  const all = header === null ? rows : [header, ...rows];
  const columns = Math.max(0, ...all.map((r) => r.length));
  const numeric = Array.from(
    { length: columns },
    (_, c) => rows.length > 0 && rows.every((r) => r[c] === undefined || isNumeric(r[c]!)),
  );
  const widths = Array.from({ length: columns }, (_, c) =>
    Math.max(0, ...all.map((r) => String(r[c] ?? '').length)),
  );
  return all
    .map((r) =>
      (
        indent +
        Array.from({ length: columns }, (_, c) => {
          const text = String(r[c] ?? '');
          return numeric[c] ? text.padStart(widths[c]!) : text.padEnd(widths[c]!);
        }).join('  ')
      ).trimEnd(),
    )
    .join('\n');
}

/** A duration as an operator reads it: 45 s, 12 min, 3 h 5 min, 2 d 4 h. */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Numbers, and strings that hold one (`1.95`) or stand for none (`-`), are right-aligned. */
function isNumeric(cell: string | number): boolean {
  return typeof cell === 'number' || cell === '-' || /^-?\d+(\.\d+)?$/.test(cell);
}
