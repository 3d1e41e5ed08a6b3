import type { PublishAck, Publisher } from '../../clients/index.js';

/** A load loop stops by itself after this many rounds, should nobody stop it. */
const MAX_LOAD_ROUNDS = 5000;

/**
 * Publishes rounds of 20 messages on `topic` until told to stop (after at
 * least `minRounds`), at most MAX_LOAD_ROUNDS rounds; every publish must
 * succeed and its ack is kept in `acks`.
 */
export function publishUnderLoad(
  publisher: Publisher,
  acks: PublishAck[],
  topic: string,
  minRounds = 0,
): { stop: () => Promise<void> } {
  let stopping = false;
  const done = (async () => {
    for (let round = 0; (!stopping || round < minRounds) && round < MAX_LOAD_ROUNDS; round++) {
      const batch = Array.from({ length: 20 }, (_, i) =>
        publisher.publish(topic, `r${round}-m${i}`),
      );
      acks.push(...(await Promise.all(batch)));
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await done;
    },
  };
}
