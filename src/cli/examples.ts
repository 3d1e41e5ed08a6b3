import type { Argv } from 'yargs';

/** One example: what it does, and the command, split into lines that end with ` \`. */
export interface Example {
  readonly does: string;
  readonly command: readonly string[];
}

/** Examples are printed at most this wide, so a help text never wraps inside a command. */
export const exampleWidthChars = 78;

/**
 * Adds examples to a command's help as ready-to-paste shell lines: a
 * comment saying what each does, then the command, continued with ` \` at
 * word boundaries chosen here rather than wherever the help layout would
 * wrap it.
 */
export function withExamples<T>(y: Argv<T>, examples: readonly Example[]): Argv<T> {
  const lines = ['Examples:'];
  for (const example of examples) {
    lines.push(`  # ${example.does}`);
    example.command.forEach((part, i) => {
      const last = i === example.command.length - 1;
      lines.push(`${i === 0 ? '  ' : '      '}${part}${last ? '' : ' \\'}`);
    });
  }
  return y.epilogue(lines.join('\n'));
}
