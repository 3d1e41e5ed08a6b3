import test from 'ava';
import { closestKey, configWarnings, parseClusterConfig } from '../../src/node/cluster-config.js';
import { ConfigError } from '../../src/node/config-error.js';

const node = (id: string, base: number, extra: Record<string, unknown> = {}) => ({
  id,
  host: '127.0.0.1',
  clientPort: base,
  peerPort: base + 1,
  pubPort: base + 2,
  ...extra,
});
const valid = () => ({
  clusterId: 'c',
  fsync: 'always',
  dataDir: '/var/lib/ordo',
  nodes: [node('n1', 7001, { httpPort: 7101 }), node('n2', 7004, { httpPort: 7102 })],
});

function problem(raw: unknown): string {
  const error = (() => {
    try {
      parseClusterConfig(raw, 'cluster.json');
    } catch (e) {
      return e;
    }
    return null;
  })();
  if (!(error instanceof ConfigError)) throw new Error('expected a ConfigError');
  return error.message;
}

test('an unknown top-level key is rejected with the closest setting suggested', (t) => {
  const message = problem({ ...valid(), fsynk: 'always' });
  t.is(message, "cluster.json: unknown setting 'fsynk' (did you mean 'fsync'?)");
  t.false(message.includes('\n'));
});

test('an unknown node key is rejected, naming the node', (t) => {
  const config = valid();
  config.nodes[1] = node('n2', 7004, { clientPrt: 1 });
  t.is(
    problem(config),
    "cluster.json: nodes[1]: unknown setting 'clientPrt' (did you mean 'clientPort'?)",
  );
});

test('a key far from every setting lists the known ones instead of guessing', (t) => {
  t.regex(
    problem({ ...valid(), colour: 'blue' }),
    /unknown setting 'colour' \(known: clusterId, nodes,/,
  );
  t.is(closestKey('colour', ['fsync', 'nodes']), null);
  t.is(closestKey('electionTimeoutMS', ['electionTimeoutMs', 'tickMs']), 'electionTimeoutMs');
});

test('a duplicate node id names both entries', (t) => {
  const config = valid();
  config.nodes.push(node('n1', 7007));
  t.is(problem(config), "cluster.json: node id 'n1' is used twice (nodes[0] and nodes[2])");
});

test('a duplicate port on one host names both sockets', (t) => {
  const config = valid();
  config.nodes[1] = node('n2', 7004, { httpPort: 7001 });
  t.is(
    problem(config),
    'cluster.json: port 7001 on 127.0.0.1 is used twice (nodes[0].clientPort and nodes[1].httpPort)',
  );
});

test('the same port on two hosts is fine', (t) => {
  const config = valid();
  config.nodes[1] = { ...node('n2', 7001), host: '10.0.0.2' };
  t.is(parseClusterConfig(config).nodes.length, 2);
});

test('every documented setting can be set, and defaults fill the rest', (t) => {
  const config = parseClusterConfig({
    ...valid(),
    tickMs: 5,
    heartbeatIntervalMs: 40,
    electionTimeoutMs: 400,
    nackRetryMs: 20,
    fsync: 'interval',
    fsyncIntervalMs: 25,
    segmentBytes: 8 * 1024 * 1024,
    retentionBytes: 1e9,
    retentionMs: 3_600_000,
    nodes: [node('n1', 7001, { bindHost: '0.0.0.0', httpPort: 7101 })],
  });
  t.is(config.fsyncIntervalMs, 25);
  t.is(config.segmentBytes, 8 * 1024 * 1024);
  t.is(config.tickMs, 5);
  t.is(config.nodes[0]!.bindHost, '0.0.0.0');
  t.is(config.nodes[0]!.host, '127.0.0.1');
  t.is(config.nodes[0]!.httpPort, 7101);
  const defaults = parseClusterConfig({ nodes: [node('n1', 7001)] });
  t.is(defaults.nodes[0]!.bindHost, '127.0.0.1', 'binds where it is advertised by default');
  t.is(defaults.nodes[0]!.httpPort, null);
  t.is(defaults.fsyncIntervalMs, 100);
});

test('a bad value names the field and what it must be', (t) => {
  t.is(
    problem({ ...valid(), fsyncIntervalMs: -1 }),
    'cluster.json: fsyncIntervalMs must be a positive number of milliseconds, got -1',
  );
  t.regex(
    problem({ ...valid(), fsync: 'sometimes' }),
    /fsync must be one of always, interval, never, memory/,
  );
});

test("fsync 'memory' draws a warning; a durable policy none", (t) => {
  t.deepEqual(configWarnings(parseClusterConfig(valid())), []);
  const warnings = configWarnings(parseClusterConfig({ nodes: [node('n1', 7001)] }));
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /fsync is 'memory'/);
});

test('keys: on every node or none, clients only with node keys, no key used twice', (t) => {
  const k1 = 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7';
  const k2 = 'Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID';
  const k3 = 'D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs';
  const secured = {
    ...valid(),
    nodes: [
      node('n1', 7001, { publicKey: k1, secretKeyFile: '/k/n1.key' }),
      node('n2', 7004, { publicKey: k2, secretKeyFile: '/k/n2.key' }),
    ],
    clients: [{ identity: 'alice', publicKey: k3 }],
  };
  const config = parseClusterConfig(secured);
  t.deepEqual(config.clients, [{ identity: 'alice', publicKey: k3 }]);
  t.is(config.nodes[0]!.publicKey, k1);
  t.regex(
    problem({ ...secured, nodes: [secured.nodes[0], node('n2', 7004)] }),
    /node 'n2' has no publicKey while others have one/,
  );
  t.regex(problem({ ...valid(), clients: secured.clients }), /clients are listed but no node/);
  t.regex(
    problem({ ...secured, clients: [{ identity: 'alice', publicKey: k1 }] }),
    /client 'alice' has the same public key as node 'n1'/,
  );
  t.regex(
    problem({ ...secured, nodes: [node('n1', 7001, { publicKey: 'short' })] }),
    /nodes\[0\]\.publicKey must be a Z85 public key/,
  );
  t.regex(problem({ ...valid(), insecure: 'yes' }), /insecure must be true or false/);
});

test('a node may be a witness; a config of witnesses only, or a witness flag that is not a boolean, is refused', (t) => {
  const config = {
    ...valid(),
    nodes: [...valid().nodes, node('w1', 7007, { witness: true })],
  };
  const parsed = parseClusterConfig(config, 'cluster.json');
  t.deepEqual(
    parsed.nodes.map((n) => [n.id, n.witness === true]),
    [
      ['n1', false],
      ['n2', false],
      ['w1', true],
    ],
  );
  t.regex(
    problem({ ...valid(), nodes: [node('w1', 7001, { witness: true })] }),
    /every node is a witness; a cluster needs at least one data node/,
  );
  t.regex(
    problem({ ...valid(), nodes: [node('n1', 7001, { witness: 'yes' })] }),
    /nodes\[0\]\.witness must be true or false/,
  );
});
