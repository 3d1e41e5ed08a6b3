import test from 'ava';
import type { AppendMessage } from '../../src/core/types.js';
import { CommitNoticeHold } from '../../src/node/commit-notice-hold.js';
import { systemClock } from '../../src/runtime/clock.js';

/** An append of epoch 2 with the given commit point and entries (none for a notice). */
function append(commitSeq: number, epoch = 2): AppendMessage {
  return { type: 'append', epoch, from: 'n1', prevSeq: 10, prevEpoch: 2, entries: [], commitSeq };
}

/** A hold on the real clock that records what it multicasts and resolves `sent` at the first. */
function recordingHold(holdMs: number, leads: (epoch: number) => boolean = () => true) {
  const multicast: AppendMessage[] = [];
  let onSent: () => void = () => {};
  const sent = new Promise<void>((resolve) => {
    onSent = resolve;
  });
  const hold = new CommitNoticeHold(
    systemClock,
    holdMs,
    (notice) => {
      multicast.push(notice);
      onSent();
    },
    leads,
  );
  return { hold, multicast, sent };
}

test('a held notice goes out when nothing else does, as the newest of those held', async (t) => {
  const { hold, multicast, sent } = recordingHold(2);
  hold.hold(append(11));
  hold.hold(append(12));
  t.deepEqual(multicast, [], 'a notice waits for its hold');
  await sent;
  t.deepEqual(
    multicast.map((m) => m.commitSeq),
    [12],
  );
  t.is(hold.noticesLeftOut, 1, 'the older notice was replaced, not sent');
});

test('an append of the same epoch with a commit point as new makes the held notice redundant', async (t) => {
  const { hold, multicast, sent } = recordingHold(2);
  hold.hold(append(11));
  hold.passing(append(11));
  t.is(hold.noticesLeftOut, 1);
  // A later notice is held afresh and goes out alone: the first never does.
  hold.hold(append(13));
  await sent;
  t.deepEqual(
    multicast.map((m) => m.commitSeq),
    [13],
  );
});

test('an append with an older commit point or of another epoch, or a vote, leaves the notice held', async (t) => {
  const { hold, multicast, sent } = recordingHold(2);
  hold.hold(append(11));
  hold.passing(append(10));
  hold.passing(append(11, 3));
  hold.passing({
    type: 'voteRequest',
    epoch: 2,
    from: 'n1',
    lastSeq: 10,
    lastEpoch: 2,
    preVote: false,
  } as never);
  t.is(hold.noticesLeftOut, 0);
  await sent;
  t.deepEqual(
    multicast.map((m) => m.commitSeq),
    [11],
  );
});

test('a notice whose epoch the node no longer leads is dropped when its hold ends', async (t) => {
  let asked: (epoch: number) => void = () => {};
  const askedEpoch = new Promise<number>((resolve) => {
    asked = resolve;
  });
  const { hold, multicast } = recordingHold(2, (epoch) => {
    asked(epoch);
    return false;
  });
  hold.hold(append(11));
  t.is(await askedEpoch, 2);
  t.deepEqual(multicast, []);
  t.is(hold.noticesLeftOut, 1);
});

test('with no hold a notice goes out at once, and stop() drops a held one', async (t) => {
  const now = recordingHold(0);
  now.hold.hold(append(11));
  t.deepEqual(
    now.multicast.map((m) => m.commitSeq),
    [11],
  );
  const held = recordingHold(2, () => {
    throw new Error('a stopped hold must not release');
  });
  held.hold.hold(append(11));
  held.hold.stop();
  // A later hold on the real clock shows the stopped one's time has passed.
  const later = recordingHold(4);
  later.hold.hold(append(1));
  await later.sent;
  t.deepEqual(held.multicast, []);
});
