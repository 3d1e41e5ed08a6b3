import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * The chaos cluster's network: each node in a Linux network namespace of
 * its own, joined by a veth pair to one bridge in the harness's namespace,
 * on a private /24 that exists only on this machine (10.213.K.0/24, K
 * picked free at start). The harness's clients reach the nodes through the
 * bridge at 10.213.K.254. Faults are iptables and tc rules inside the
 * nodes' namespaces, so they cut real TCP traffic and the processes see
 * exactly what a real network fault does to them:
 *
 * - a partition drops, in the sender's namespace, every packet to the
 *   addresses it must not reach (both ways for a symmetric cut, one way for
 *   a one-way link);
 * - a lossy link drops a random fraction of packets (`-m statistic`);
 * - a duplicating link sends a copy of a random fraction of packets (`-j TEE`);
 * - a slow link is a token bucket (`tc tbf`): little bandwidth and a queue,
 *   which delays every packet behind the ones queued before it.
 */
export interface NodeNet {
  readonly id: string;
  readonly namespace: string;
  readonly address: string;
  /** The interface inside the namespace. */
  readonly device: string;
}

const chain = 'ORDO-CHAOS';
const namePrefix = 'ordoc';

function run(args: readonly string[]): string {
  return execFileSync(args[0]!, args.slice(1), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function tryRun(args: readonly string[]): boolean {
  try {
    run(args);
    return true;
  } catch {
    return false;
  }
}

/** Installs iproute2 and iptables from the system's packages when missing (CI starts from a fresh machine). */
export function ensureNetworkTools(log: (line: string) => void): void {
  const missing = ['ip', 'iptables', 'tc'].filter(
    (tool) => !['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${tool}`)),
  );
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the chaos suite needs ${missing.join(', ')} (packages iproute2, iptables) and root to create network namespaces`,
    );
  }
  log(`installing iproute2 and iptables (missing: ${missing.join(', ')})`);
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', 'iproute2', 'iptables']);
}

/** Removes namespaces and bridges left by chaos runs whose process is gone (a run killed with -9). */
export function removeStaleNetworks(log: (line: string) => void): void {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const owner = (name: string) => Number(/^ordoc(\d+)/.exec(name)?.[1] ?? Number.NaN);
  for (const line of run(['ip', 'netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith(namePrefix) && !alive(owner(name))) {
      // The nodes that run was running are still in it: stop them by pid first.
      const pids = run(['ip', 'netns', 'pids', name])
        .split('\n')
        .filter((p) => p !== '');
      log(
        `removing stale namespace ${name}${pids.length > 0 ? ` and its processes ${pids.join(', ')}` : ''}`,
      );
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      tryRun(['ip', 'netns', 'del', name]);
    }
  }
  for (const line of run(['ip', '-o', 'link', 'show', 'type', 'bridge']).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1] ?? '';
    if (name.startsWith(namePrefix) && !alive(owner(name))) {
      log(`removing stale bridge ${name}`);
      tryRun(['ip', 'link', 'del', name]);
    }
  }
}

export class ChaosNetwork {
  readonly nodes: readonly NodeNet[];
  readonly bridge: string;
  readonly hostAddress: string;
  private removed = false;

  private constructor(nodes: NodeNet[], bridge: string, hostAddress: string) {
    this.nodes = nodes;
    this.bridge = bridge;
    this.hostAddress = hostAddress;
  }

  /** Creates the bridge and one namespace per node; removes what it made if a step fails. */
  static create(nodeIds: readonly string[]): ChaosNetwork {
    const tag = `${namePrefix}${process.pid}`;
    const subnet = freeSubnet();
    const bridge = `${tag}br`;
    const nodes = nodeIds.map((id, i) => ({
      id,
      namespace: `${tag}${id}`,
      address: `${subnet}.${i + 1}`,
      device: 'eth0',
    }));
    const network = new ChaosNetwork(nodes, bridge, `${subnet}.254`);
    try {
      run(['ip', 'link', 'add', bridge, 'type', 'bridge']);
      run(['ip', 'addr', 'add', `${subnet}.254/24`, 'dev', bridge]);
      run(['ip', 'link', 'set', bridge, 'up']);
      for (const n of nodes) {
        const hostSide = `${n.namespace}h`;
        run(['ip', 'netns', 'add', n.namespace]);
        run(['ip', 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', `${n.namespace}p`]);
        run(['ip', 'link', 'set', `${n.namespace}p`, 'netns', n.namespace]);
        run(['ip', '-n', n.namespace, 'link', 'set', `${n.namespace}p`, 'name', n.device]);
        run(['ip', 'link', 'set', hostSide, 'master', bridge, 'up']);
        run(['ip', '-n', n.namespace, 'addr', 'add', `${n.address}/24`, 'dev', n.device]);
        run(['ip', '-n', n.namespace, 'link', 'set', n.device, 'up']);
        run(['ip', '-n', n.namespace, 'link', 'set', 'lo', 'up']);
        network.iptables(n, ['-N', chain]);
        network.iptables(n, ['-A', 'OUTPUT', '-o', n.device, '-j', chain]);
      }
    } catch (error) {
      network.remove();
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`cannot create the chaos network: ${(error as Error).message} ${stderr}`, {
        cause: error,
      });
    }
    return network;
  }

  node(id: string): NodeNet {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id} in the chaos network`);
    return n;
  }

  /** The command that runs a process inside a node's namespace (it execs, keeping the pid). */
  commandPrefix(id: string): string[] {
    return ['ip', 'netns', 'exec', this.node(id).namespace];
  }

  /** Drops every packet `from` sends to `to` (one way). */
  cut(from: string, to: string): void {
    this.iptables(this.node(from), ['-A', chain, '-d', this.node(to).address, '-j', 'DROP']);
  }

  /** Drops every packet a node sends to anyone but itself: peers and clients alike. */
  isolate(id: string): void {
    this.iptables(this.node(id), ['-A', chain, '-j', 'DROP']);
  }

  /** Drops a random fraction of the packets every node sends. */
  lose(fraction: number): void {
    for (const n of this.nodes) {
      this.iptables(n, [
        '-A',
        chain,
        '-m',
        'statistic',
        '--mode',
        'random',
        '--probability',
        String(fraction),
        '-j',
        'DROP',
      ]);
    }
  }

  /** Sends a second copy of a random fraction of the packets between nodes. */
  duplicate(fraction: number): void {
    for (const n of this.nodes) {
      for (const peer of this.nodes) {
        if (peer === n) continue;
        this.iptables(n, [
          '-t',
          'mangle',
          '-A',
          'POSTROUTING',
          '-o',
          n.device,
          '-d',
          peer.address,
          '-m',
          'statistic',
          '--mode',
          'random',
          '--probability',
          String(fraction),
          '-j',
          'TEE',
          '--gateway',
          peer.address,
        ]);
      }
    }
  }

  /** Limits what each node sends to `rateKbit` with a queue of up to `queueMs`, which delays every packet behind it. */
  slow(rateKbit: number, queueMs: number): void {
    for (const n of this.nodes) {
      run([
        ...this.commandPrefix(n.id),
        'tc',
        'qdisc',
        'replace',
        'dev',
        n.device,
        'root',
        'tbf',
        'rate',
        `${rateKbit}kbit`,
        'burst',
        '16kb',
        'latency',
        `${queueMs}ms`,
      ]);
    }
  }

  /** Removes every fault rule: the network is whole again. */
  heal(): void {
    for (const n of this.nodes) {
      this.iptables(n, ['-F', chain]);
      this.iptables(n, ['-t', 'mangle', '-F', 'POSTROUTING']);
      tryRun([...this.commandPrefix(n.id), 'tc', 'qdisc', 'del', 'dev', n.device, 'root']);
    }
  }

  /** Deletes the namespaces (and with them their veth pairs) and the bridge. Idempotent. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    for (const n of this.nodes) tryRun(['ip', 'netns', 'del', n.namespace]);
    tryRun(['ip', 'link', 'del', this.bridge]);
  }

  private iptables(n: NodeNet, args: readonly string[]): void {
    run(['ip', 'netns', 'exec', n.namespace, 'iptables', '-w', ...args]);
  }
}

/** A 10.213.K.0/24 that no interface or route on this machine uses yet. */
function freeSubnet(): string {
  const routes = run(['ip', '-4', 'route', 'show', 'table', 'all']);
  const start = process.pid % 200;
  for (let i = 0; i < 250; i++) {
    const k = 1 + ((start + i) % 250);
    const subnet = `10.213.${k}`;
    if (!routes.includes(`${subnet}.`)) return subnet;
  }
  throw new Error('no free 10.213.K.0/24 subnet for the chaos network');
}
