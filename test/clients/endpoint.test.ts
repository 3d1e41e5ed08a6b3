import test from 'ava';
import { brokerErrorCode, brokerErrorCodes } from '../../clients/errors.js';
import {
  AdminClient,
  InvalidRequestError,
  Publisher,
  parseEndpoint,
  Subscriber,
  startReplica,
} from '../../clients/index.js';
import { ordo } from '../../src/wire/schema.js';

test('host:port and tcp://host:port are both accepted and written as tcp://host:port', (t) => {
  t.is(parseEndpoint('127.0.0.1:7001'), 'tcp://127.0.0.1:7001');
  t.is(parseEndpoint('tcp://127.0.0.1:7001'), 'tcp://127.0.0.1:7001');
  t.is(parseEndpoint(' broker-1.example.com:65535 '), 'tcp://broker-1.example.com:65535');
  t.is(parseEndpoint('[::1]:7001'), 'tcp://[::1]:7001');
  t.is(parseEndpoint('tcp://localhost:1'), 'tcp://localhost:1');
});

for (const [endpoint, problem] of [
  ['localhost', /"localhost": it has no port/],
  ['127.0.0.1', /"127.0.0.1": it has no port/],
  ['127.0.0.1:', /"127.0.0.1:": it has no port/],
  ['tcp://127.0.0.1', /"tcp:\/\/127.0.0.1": it has no port/],
  ['[::1]', /"\[::1\]": it has no port/],
  [':7001', /":7001": it has no host/],
  ['127.0.0.1:0', /the port 0 is out of range 1-65535/],
  ['127.0.0.1:65536', /the port 65536 is out of range 1-65535/],
  ['127.0.0.1:70a', /the port "70a" is not a number/],
  ['ipc:///tmp/ordo.sock', /the scheme ipc:\/\/ is not supported, only tcp:\/\//],
  ['http://127.0.0.1:7001', /the scheme http:\/\/ is not supported/],
  ['tcp://*:7001', /"\*" is not a host name or IP address/],
  ['', /it is empty/],
] as const) {
  test(`the endpoint '${endpoint}' is an InvalidRequestError naming it`, (t) => {
    const error = t.throws(() => parseEndpoint(endpoint), { instanceOf: InvalidRequestError });
    t.regex(error.message, problem);
    t.true(error.message.includes(`"${endpoint}"`));
    t.false(error.retriable);
  });
}

test('each client throws from its constructor for a malformed endpoint, before opening any socket', async (t) => {
  const bad = ['127.0.0.1:7001', 'localhost'];
  const named = /invalid broker endpoint "localhost": it has no port/;
  t.throws(() => new Publisher({ brokers: bad }), {
    instanceOf: InvalidRequestError,
    message: named,
  });
  t.throws(() => new Subscriber({ brokers: bad }), {
    instanceOf: InvalidRequestError,
    message: named,
  });
  t.throws(() => new AdminClient(bad), { instanceOf: InvalidRequestError, message: named });
  await t.throwsAsync(
    startReplica({
      brokers: bad,
      plugin: 'p',
      stateMachine: () => ({
        apply: () => {},
        snapshot: () => new Uint8Array(),
        restore: () => {},
      }),
      dataDir: '/nonexistent-ordo-data-dir',
    }),
    { instanceOf: InvalidRequestError, message: named },
  );
  t.throws(() => new Publisher({ brokers: [] }), {
    instanceOf: InvalidRequestError,
    message: /a publisher needs at least one broker endpoint/,
  });
});

test('each client throws from its constructor for a nonsensical option, naming it', (t) => {
  const brokers = ['127.0.0.1:7001'];
  for (const [options, message] of [
    [{ maxInFlightMessages: 0 }, /maxInFlightMessages must be a whole number at least 1, got 0/],
    [
      { requestTimeoutMs: Number.NaN },
      /requestTimeoutMs must be a whole number at least 1, got NaN/,
    ],
    [{ firstProducerSeq: 1.5 }, /firstProducerSeq must be a whole number at least 1, got 1.5/],
    [{ producerId: '' }, /producerId must be 1 to 64 bytes/],
    [{ ackMode: 'all' }, /ackMode must be one of quorum, sequenced, got all/],
  ] as const) {
    t.throws(() => new Publisher({ brokers, ...(options as object) }), {
      instanceOf: InvalidRequestError,
      message,
    });
  }
  for (const [options, message] of [
    [{ fromSeq: -1 }, /fromSeq must be a whole number at least 0, got -1/],
    [{ windowEntries: 0 }, /windowEntries must be a whole number from 1 to/],
    [{ topics: [''] }, /topic "" must be 1 to 256 bytes/],
  ] as const) {
    t.throws(() => new Subscriber({ brokers, ...(options as object) }), {
      instanceOf: InvalidRequestError,
      message,
    });
  }
  t.throws(() => new AdminClient(brokers, -5), {
    instanceOf: InvalidRequestError,
    message: /timeoutMs must be a whole number at least 1, got -5/,
  });
});

test('broker error codes are strings, in the order of the wire enum', (t) => {
  for (const [name, value] of Object.entries(ordo.ErrorCode)) {
    if (typeof value !== 'number') continue;
    const expected = name
      .replace(/^ERROR_CODE_/, '')
      .toLowerCase()
      .replaceAll('_', '-');
    t.is(brokerErrorCode(value) as string, expected);
  }
  t.is(
    brokerErrorCodes.length,
    Object.values(ordo.ErrorCode).filter((v) => typeof v === 'number').length,
  );
  t.is(brokerErrorCode(99), 'unspecified');
});
