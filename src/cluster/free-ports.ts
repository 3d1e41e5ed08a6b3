import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** How many ports below the kernel's ephemeral range free ports are drawn from. */
const PORT_RANGE_SIZE = 12_000;
/** Candidates tried per port wanted before falling back to a kernel-chosen port. */
const ATTEMPTS_PER_PORT = 50;

/**
 * Every port this process has handed out: another cluster started here must
 * not pick the port of a node that is down for a restart.
 */
const handedOut = new Set<number>();

/**
 * Finds `count` TCP ports on `host` that are free right now. They are drawn
 * at random from just below the kernel's ephemeral range, for two reasons.
 * A port there is never taken as the source port of an outgoing connection
 * (of any process), which would make a node that owns it fail to restart
 * with EADDRINUSE while it was down. And this process never hands out the
 * same port twice. Where the ephemeral range cannot be read (not Linux), the
 * kernel chooses, as with port 0. All are held open until every one is
 * found, so no port is returned twice in one call.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const range = portRange();
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await holdFreePort(host, range));
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === 'string')
        throw new Error('server has no TCP address');
      handedOut.add(address.port);
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

async function holdFreePort(
  host: string,
  range: { readonly low: number; readonly high: number } | null,
): Promise<Server> {
  if (range !== null) {
    for (let attempt = 0; attempt < ATTEMPTS_PER_PORT; attempt++) {
      const port = range.low + Math.floor(Math.random() * (range.high - range.low));
      if (handedOut.has(port)) continue;
      const server = await tryListen(host, port);
      if (server !== null) {
        handedOut.add(port);
        return server;
      }
    }
  }
  for (let attempt = 0; attempt < ATTEMPTS_PER_PORT; attempt++) {
    const server = await tryListen(host, 0);
    if (server === null) break;
    const address = server.address();
    if (address !== null && typeof address !== 'string' && !handedOut.has(address.port))
      return server;
    await new Promise((resolve) => server.close(resolve));
  }
  throw new Error(`no free TCP port on ${host}`);
}

function tryListen(host: string, port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, host, () => resolve(server));
  });
}

/** The ports just below the ephemeral range, or null when the range is unknown. */
function portRange(): { readonly low: number; readonly high: number } | null {
  let text: string;
  try {
    text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return null;
  }
  const ephemeralLow = Number.parseInt(text.trim().split(/\s+/)[0] ?? '', 10);
  if (!Number.isInteger(ephemeralLow) || ephemeralLow <= 1024 + 1000) return null;
  return { low: Math.max(1025, ephemeralLow - PORT_RANGE_SIZE), high: ephemeralLow };
}
