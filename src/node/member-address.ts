import type { Member } from '../core/membership.js';
import { isZ85Key } from '../runtime/curve-keys.js';
import type { NodeAddress } from './cluster-config.js';

/**
 * How a member is reached, as its config entry records it: the advertised
 * host and ports and, on a secured cluster, its CurveZMQ public key, as JSON
 * (the core keeps it opaque). Members of the seed config have none ('') and
 * are reached at their config file address, with their config file key.
 */
export function encodeMemberAddress(node: NodeAddress): string {
  return JSON.stringify({
    host: node.host,
    clientPort: node.clientPort,
    peerPort: node.peerPort,
    pubPort: node.pubPort,
    httpPort: node.httpPort,
    ...(node.publicKey === undefined ? {} : { publicKey: node.publicKey }),
  });
}

/** The member's address from its config entry; undefined when it has none or it is unreadable. */
export function addressOfMember(member: Member): NodeAddress | undefined {
  if (member.address === '') return undefined;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(member.address) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const port = (v: unknown): v is number =>
    Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536;
  const { host, clientPort, peerPort, pubPort, httpPort, publicKey } = raw ?? {};
  if (typeof host !== 'string' || host.length === 0) return undefined;
  if (!port(clientPort) || !port(peerPort) || !port(pubPort)) return undefined;
  if (publicKey !== undefined && !isZ85Key(publicKey)) return undefined;
  return {
    id: member.id,
    host,
    bindHost: host,
    clientPort,
    peerPort,
    pubPort,
    httpPort: port(httpPort) ? httpPort : null,
    ...(publicKey === undefined ? {} : { publicKey }),
  };
}
