import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginError } from './replica-errors.js';
import type { StateMachine, StateMachineFactory } from './state-machine.js';

export interface LoadedPlugin {
  readonly factory: StateMachineFactory;
  /** The module's `pluginName` export, else its file name without extension. */
  readonly name: string;
  /** The module's `replicationMode` export: how `ordo replica` hosts it (default 'state-machine'). */
  readonly mode: 'state-machine' | 'primary-backup';
}

/**
 * Loads a plugin module by path with dynamic `import()`. The module must
 * default-export a function returning a fresh state machine; it may export
 * `pluginName`, the app name replicas report and share snapshots under, and
 * `replicationMode = 'primary-backup'` when the default export returns a
 * primary-backup service (primary-backup/pb-service.ts) instead.
 */
export async function loadPlugin(path: string): Promise<LoadedPlugin> {
  const url = pathToFileURL(resolve(path)).href;
  let module: { default?: unknown; pluginName?: unknown; replicationMode?: unknown };
  try {
    module = (await import(url)) as typeof module;
  } catch (error) {
    throw new PluginError(`cannot load plugin ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof module.default !== 'function') {
    throw new PluginError(
      `plugin ${path} must default-export a function returning a state machine`,
    );
  }
  const name =
    typeof module.pluginName === 'string' && module.pluginName.length > 0
      ? module.pluginName
      : basename(path, extname(path));
  const mode = module.replicationMode ?? 'state-machine';
  if (mode !== 'state-machine' && mode !== 'primary-backup') {
    throw new PluginError(
      `plugin ${path}: replicationMode must be 'state-machine' or 'primary-backup', got ${String(mode)}`,
    );
  }
  return { factory: module.default as StateMachineFactory, name, mode };
}

/** Calls the factory and checks that what it returned has the methods of a state machine. */
export function createStateMachine(factory: StateMachineFactory, name: string): StateMachine {
  let machine: unknown;
  try {
    machine = factory();
  } catch (error) {
    throw new PluginError(`plugin ${name}: its factory threw: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const m = machine as Partial<StateMachine> | null;
  for (const method of ['apply', 'snapshot', 'restore'] as const) {
    if (m === null || typeof m !== 'object' || typeof m[method] !== 'function') {
      throw new PluginError(
        `plugin ${name}: the factory must return an object with apply, snapshot and restore methods`,
      );
    }
  }
  if (m!.query !== undefined && typeof m!.query !== 'function') {
    throw new PluginError(`plugin ${name}: query must be a method when present`);
  }
  return m as StateMachine;
}
