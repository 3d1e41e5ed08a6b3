/**
 * Loaded into every cluster node with `NODE_OPTIONS=--import=...` when the
 * benchmark runs with `--profile`: Node 20 refuses `--cpu-prof` in
 * NODE_OPTIONS, and the nodes are started by LocalCluster, whose command
 * line the benchmark does not own. It starts the V8 sampling profiler in
 * this process and writes a `.cpuprofile` into ORDO_BENCH_PROFILE_DIR when
 * the process exits normally (the nodes exit on SIGTERM).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env['ORDO_BENCH_PROFILE_DIR'];
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.once('exit', () => {
    // An in-process inspector session answers synchronously, so the profile
    // is in hand before the process is gone.
    session.post('Profiler.stop', (error, result) => {
      if (error !== null || result === undefined) return;
      mkdirSync(dir, { recursive: true });
      const id = process.argv.includes('--id')
        ? process.argv[process.argv.indexOf('--id') + 1]
        : 'node';
      writeFileSync(join(dir, `${id}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
