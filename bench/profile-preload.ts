/**
 * Loaded into a process with `--import=...` (through NODE_OPTIONS for the
 * cluster nodes: Node 20 refuses `--cpu-prof` there, and the nodes are
 * started by LocalCluster, whose command line the benchmark does not own)
 * when the benchmark runs with `--profile` or `--heap-profile`. It starts
 * the V8 sampler ORDO_BENCH_PROFILE_KIND names in this process and writes
 * its profile into ORDO_BENCH_PROFILE_DIR when the process exits normally
 * (the nodes exit on SIGTERM, the bench's workers when told to):
 * - `cpu`: a `.cpuprofile`, where the time goes;
 * - `heap`: a `.heapprofile` of every allocation sampled, those the
 *   collector has freed included, so that it shows what a process allocates
 *   (the garbage its collector pays for), not what it holds at the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

/** Bytes allocated between two samples, on average: fine enough for functions that allocate per message. */
const HEAP_SAMPLING_INTERVAL_BYTES = 32 * 1024;

const dir = process.env['ORDO_BENCH_PROFILE_DIR'];
const kind = process.env['ORDO_BENCH_PROFILE_KIND'] === 'heap' ? 'heap' : 'cpu';
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  if (kind === 'cpu') {
    session.post('Profiler.enable');
    session.post('Profiler.start');
  } else {
    session.post('HeapProfiler.enable');
    session.post('HeapProfiler.startSampling', {
      samplingInterval: HEAP_SAMPLING_INTERVAL_BYTES,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  const name =
    process.env['ORDO_BENCH_PROFILE_NAME'] ??
    (process.argv.includes('--id') ? process.argv[process.argv.indexOf('--id') + 1] : 'node');
  const write = (profile: unknown, extension: string): void => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}-${process.pid}.${extension}`), JSON.stringify(profile));
  };
  process.once('exit', () => {
    // An in-process inspector session answers synchronously, so the profile
    // is in hand before the process is gone.
    if (kind === 'cpu') {
      session.post('Profiler.stop', (error, result) => {
        if (error === null && result !== undefined) write(result.profile, 'cpuprofile');
      });
    } else {
      session.post('HeapProfiler.stopSampling', (error, result) => {
        if (error === null && result !== undefined) write(result.profile, 'heapprofile');
      });
    }
  });
}
