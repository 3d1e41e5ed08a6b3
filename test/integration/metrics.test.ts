import test from 'ava';
import { AdminClient, Publisher } from '../../clients/index.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import {
  histogramCount,
  type MetricFamilies,
  sample,
  scrape,
  total,
} from '../helpers/prometheus.js';

const MESSAGES = 50;

async function leaderOf(admin: AdminClient): Promise<string> {
  const leader = await eventually(() => admin.findLeader(), 10_000, 'a sequencer');
  return leader.id;
}

test.serial(
  'metrics scraped from a running cluster parse as Prometheus text, and the counters move with traffic',
  async (t) => {
    const logLines: string[] = [];
    const cluster = await startCluster(t, { logs: (_id, line) => logLines.push(line) });
    const admin = new AdminClient(cluster.clientEndpoints);
    t.teardown(() => admin.close());
    const leaderId = await leaderOf(admin);
    const leaderUrl = cluster.node(leaderId).httpUrl;

    const before = new Map<string, MetricFamilies>();
    for (const node of cluster.nodes) before.set(node.id, await scrape(node.httpUrl));
    const publisher = new Publisher({ brokers: cluster.clientEndpoints });
    t.teardown(() => publisher.close());
    const acks = await Promise.all(
      Array.from({ length: MESSAGES }, (_, i) => publisher.publish('metrics', `m${i}`)),
    );
    const lastSeq = Math.max(...acks.map((a) => a.seq));

    const after = await scrape(leaderUrl);
    const was = before.get(leaderId)!;
    t.is(
      sample(after, 'ordo_publishes_total') - sample(was, 'ordo_publishes_total'),
      MESSAGES,
      'the sequencer counts each published message once',
    );
    t.true(
      histogramCount(after, 'ordo_publish_to_commit_seconds') -
        histogramCount(was, 'ordo_publish_to_commit_seconds') >=
        MESSAGES,
      'every committed publish is timed from append to commit',
    );
    t.true(
      histogramCount(after, 'ordo_batch_entries') > histogramCount(was, 'ordo_batch_entries'),
      'appended batches are counted',
    );
    t.is(sample(after, 'ordo_is_sequencer'), 1);
    t.is(sample(after, 'ordo_role', { role: 'leader' }), 1);
    t.is(sample(after, 'ordo_role', { role: 'follower' }), 0);
    t.true(sample(after, 'ordo_epoch') >= 1, 'an elected sequencer has an epoch');
    t.true(sample(after, 'ordo_elections_won_total') >= 1, 'the sequencer counted its win');
    t.true(sample(after, 'ordo_commit_seq') >= lastSeq, 'the commit point covers every ack');
    const followers = cluster.nodes.filter((n) => n.id !== leaderId);
    for (const f of followers) {
      t.true(
        sample(after, 'ordo_follower_lag_entries', { follower: f.id }) >= 0,
        'lag is never negative',
      );
      // Followers learn the commit point with the next append or heartbeat.
      // The commit point (read from the node's state) moves when the append
      // is taken, the counter when the Ready that reports the commit is
      // applied, a turn of the event loop later: a scrape in between sees
      // the one and not yet the other, so both are waited for.
      const committedSince = (m: MetricFamilies): number =>
        sample(m, 'ordo_committed_entries_total') -
        sample(before.get(f.id)!, 'ordo_committed_entries_total');
      const scraped = await eventually(
        async () => {
          const m = await scrape(f.httpUrl);
          return sample(m, 'ordo_commit_seq') >= lastSeq && committedSince(m) >= MESSAGES
            ? m
            : null;
        },
        5000,
        `${f.id} to report commit seq ${lastSeq} and count every committed entry`,
      );
      t.true(committedSince(scraped) >= MESSAGES, `${f.id} counts every committed entry`);
      t.is(sample(scraped, 'ordo_is_sequencer'), 0);
      t.is(sample(scraped, 'ordo_publishes_total'), 0, 'followers sequence nothing');
    }
    t.is(sample(after, 'ordo_bad_frames_total'), 0);
    t.is(sample(after, 'ordo_build_info', { node: leaderId }), 1);

    // The nodes log JSON lines by default, elections at info.
    const events = logLines.map(
      (l) => JSON.parse(l) as { level: string; event?: string; message: string },
    );
    t.true(
      events.some(
        (e) =>
          e.level === 'info' &&
          e.event === 'role' &&
          /won epoch \d+ and is the sequencer/.test(e.message),
      ),
      'the election winner logs its win at info',
    );
  },
);

test.serial(
  '/healthz and /readyz answer on every node of a cluster with a sequencer',
  async (t) => {
    const cluster = await startCluster(t);
    const admin = new AdminClient(cluster.clientEndpoints);
    t.teardown(() => admin.close());
    await leaderOf(admin);
    for (const node of cluster.nodes) {
      const health = await fetch(`${node.httpUrl}/healthz`);
      t.is(health.status, 200);
      const ready = await eventually(
        async () => {
          const r = await fetch(`${node.httpUrl}/readyz`);
          return r.status === 200 ? r : null;
        },
        5000,
        `${node.id} to be ready`,
      );
      t.is(await ready.text(), 'ready\n');
    }
    const missing = await fetch(`${cluster.nodes[0]!.httpUrl}/nope`);
    t.is(missing.status, 404);
  },
);

test.serial('a lone node is alive but not ready: it has no sequencer', async (t) => {
  const cluster = await startCluster(t);
  await cluster.signalNode('n2', 'SIGKILL');
  await cluster.signalNode('n3', 'SIGKILL');
  const n1 = cluster.node('n1');
  t.is((await fetch(`${n1.httpUrl}/healthz`)).status, 200);
  const notReady = await eventually(
    async () => {
      const r = await fetch(`${n1.httpUrl}/readyz`);
      return r.status === 503 ? r.text() : null;
    },
    10_000,
    'n1 to report not ready',
  );
  t.regex(notReady, /^not ready: no sequencer known/);
});

test.serial(
  'NACKs, retransmissions and their metrics move when multicast frames are dropped',
  async (t) => {
    const cluster = await startCluster(t, {
      env: { ORDO_TEST_FAULTS: JSON.stringify({ dropMulticastFraction: 0.3 }) },
    });
    const admin = new AdminClient(cluster.clientEndpoints);
    t.teardown(() => admin.close());
    const leaderId = await leaderOf(admin);
    const publisher = new Publisher({ brokers: cluster.clientEndpoints });
    t.teardown(() => publisher.close());
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => publisher.publish('lossy', `r${round}-${i}`)),
      );
    }
    const followers = cluster.nodes.filter((n) => n.id !== leaderId);
    let nacksSent = 0;
    for (const f of followers)
      nacksSent += sample(await scrape(f.httpUrl), 'ordo_nacks_sent_total');
    const leader = await scrape(cluster.node(leaderId).httpUrl);
    t.true(nacksSent > 0, 'followers missing multicast entries send NACKs');
    t.true(sample(leader, 'ordo_nacks_served_total') > 0, 'the sequencer serves them');
    t.true(total(leader, 'ordo_retransmissions_total') > 0, 'and retransmits what they missed');
    t.is(
      sample(leader, 'ordo_retransmissions_total', { source: 'log' }) +
        sample(leader, 'ordo_retransmissions_total', { source: 'memory' }),
      total(leader, 'ordo_retransmissions_total'),
    );
  },
);

test.serial(
  'the sequencer logs at info when a follower stops answering and when it is back',
  async (t) => {
    const lines: { id: string; line: string }[] = [];
    const cluster = await startCluster(t, { logs: (id, line) => lines.push({ id, line }) });
    const admin = new AdminClient(cluster.clientEndpoints);
    t.teardown(() => admin.close());
    const leaderId = await leaderOf(admin);
    const follower = cluster.nodes.find((n) => n.id !== leaderId)!;
    const membership = (active: boolean) =>
      lines
        .filter((l) => l.id === leaderId)
        .map(
          (l) =>
            JSON.parse(l.line) as {
              level: string;
              event?: string;
              follower?: string;
              active?: boolean;
            },
        )
        .some(
          (e) =>
            e.level === 'info' &&
            e.event === 'membership' &&
            e.follower === follower.id &&
            e.active === active,
        );
    await cluster.signalNode(follower.id, 'SIGKILL');
    await eventually(
      async () => membership(false),
      15_000,
      `${leaderId} to log that ${follower.id} stopped answering`,
    );
    await cluster.startNode(follower.id);
    await eventually(
      async () => membership(true),
      15_000,
      `${leaderId} to log that ${follower.id} is back`,
    );
    // The follower that stayed up was never reported gone.
    const other = cluster.nodes.find((n) => n.id !== leaderId && n.id !== follower.id)!;
    const otherEvents = lines
      .filter((l) => l.id === leaderId)
      .map((l) => JSON.parse(l.line) as { event?: string; follower?: string })
      .filter((e) => e.event === 'membership' && e.follower === other.id);
    t.deepEqual(otherEvents, []);
  },
);
