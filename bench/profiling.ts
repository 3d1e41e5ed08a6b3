import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDir } from './children.js';

/** `--profile DIR`: where the time goes; `--heap-profile DIR`: what is allocated. */
export type ProfileKind = 'cpu' | 'heap';

export interface Profiling {
  readonly dir: string;
  readonly kind: ProfileKind;
}

const preload = (): string =>
  `--import=${pathToFileURL(join(benchDir, 'profile-preload.js')).href}`;

/** The environment that makes a process started by others (a cluster node) profile itself into `dir/group`. */
export function profilingEnv(
  profiling: Profiling | null,
  group: string,
  name?: string,
): Record<string, string> {
  if (profiling === null) return {};
  return {
    NODE_OPTIONS: preload(),
    ORDO_BENCH_PROFILE_DIR: join(profiling.dir, group),
    ORDO_BENCH_PROFILE_KIND: profiling.kind,
    ...(name === undefined ? {} : { ORDO_BENCH_PROFILE_NAME: name }),
  };
}

/**
 * The flags and environment for a process the bench starts itself (a
 * publisher, a replica): a CPU profile through Node's own `--cpu-prof`, a
 * heap profile through the preload.
 */
export function profilingOf(
  profiling: Profiling | null,
  group: string,
  name: string,
): { readonly execArgv: string[]; readonly env: Record<string, string> } {
  if (profiling === null) return { execArgv: [], env: {} };
  if (profiling.kind === 'cpu')
    return { execArgv: ['--cpu-prof', `--cpu-prof-dir=${join(profiling.dir, group)}`], env: {} };
  return {
    execArgv: [preload()],
    env: {
      ORDO_BENCH_PROFILE_DIR: join(profiling.dir, group),
      ORDO_BENCH_PROFILE_KIND: 'heap',
      ORDO_BENCH_PROFILE_NAME: name,
    },
  };
}
