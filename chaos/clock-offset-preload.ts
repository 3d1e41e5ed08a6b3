/**
 * Loaded into every chaos node (`node --import`): makes `Date.now()` run at
 * an offset that the harness can change while the node runs, to jump a
 * node's wall clock forward or back the way an NTP step does. Timers are
 * not touched, as an NTP step does not touch the monotonic clock either.
 *
 * The offset in ms is read from `$ORDO_CHAOS_CLOCK_DIR/<node id>.offset` at
 * start and again on each SIGUSR2.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env['ORDO_CHAOS_CLOCK_DIR'];
const idIndex = process.argv.indexOf('--id');
const nodeId = idIndex >= 0 ? process.argv[idIndex + 1] : undefined;

if (dir !== undefined && nodeId !== undefined) {
  const systemNow = Date.now;
  let offsetMs = 0;
  const readOffset = () => {
    try {
      const value = Number(readFileSync(join(dir, `${nodeId}.offset`), 'utf8').trim());
      offsetMs = Number.isFinite(value) ? value : 0;
    } catch {
      offsetMs = 0;
    }
  };
  readOffset();
  process.on('SIGUSR2', readOffset);
  Date.now = () => systemNow() + offsetMs;
}
