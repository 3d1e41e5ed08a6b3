import test from 'ava';
import { PluginError } from '../../clients/replica/replica-errors.js';
import type { StateMachine } from '../../clients/replica/state-machine.js';
import { startCluster } from '../helpers/cluster.js';
import { startTestReplica, testPublisher } from './replica-fixtures.js';

/** Breaks the rule "never throw for bad input" on its third message. */
function createFragile(): StateMachine {
  let applied = 0;
  return {
    apply() {
      if (++applied === 3) throw new Error('cannot handle this one');
    },
    snapshot: () => new Uint8Array([applied]),
    restore(snapshot) {
      applied = snapshot[0] ?? 0;
    },
  };
}

test('a plugin whose apply throws stops its replica with a PluginError naming the seq', async (t) => {
  const cluster = await startCluster(t);
  const brokers = cluster.clientEndpoints;
  const publisher = testPublisher(t, brokers);
  const fragile = await startTestReplica(t, {
    brokers,
    plugin: 'fragile',
    stateMachine: createFragile,
  });
  const acks = await Promise.all([1, 2, 3, 4].map((i) => publisher.publish('any', `m${i}`)));
  const failure = await t.throwsAsync(fragile.replica.done, { instanceOf: PluginError });
  t.regex(failure?.message ?? '', new RegExp(`apply threw at seq ${acks[2]!.seq}`));
  // It stopped before the message, so its state is still that of the message before.
  t.is(fragile.replica.appliedSeq, acks[1]!.seq);
  t.true(fragile.events.some((e) => e.type === 'stopped' && e.error !== null));
  await t.throwsAsync(fragile.replica.whenApplied(acks[3]!.seq), { instanceOf: PluginError });
});
