/**
 * The connection budgets of one client port: how many TCP connections the
 * node holds open at once, and how many of them one source address may
 * hold. The ZAP handler asks `admit` at every handshake, with the peer's
 * address; the socket's monitor events report each connection accepted and
 * closed.
 *
 * The count per node is exact: every accepted connection is counted until
 * ZeroMQ reports it closed. The count per address is an estimate, because
 * ZeroMQ does not say which address a closed connection came from. Each
 * admission is remembered with its time; whenever more admissions are
 * remembered than connections are open, the address holding the most
 * remembered admissions forgets its oldest one, and every admission is
 * forgotten after `addressMemoryMs`. So the estimate never exceeds the open
 * connections, a client that reconnects is never locked out for longer than
 * `addressMemoryMs`, and the exact count per node bounds what any estimate
 * lets through.
 */
export class ConnectionBudget {
  /** Accept events seen, handshakes asked about, and close events seen, since the start. */
  private accepted = 0;
  private asked = 0;
  private closed = 0;
  /** Admission times (ms) per source address, oldest first. */
  private readonly admissions = new Map<string, number[]>();
  private remembered = 0;
  /** Handshakes refused because the node held its budget of connections. */
  refusedForNode = 0;
  /** Handshakes refused because the source address held its budget. */
  refusedForAddress = 0;

  constructor(
    readonly maxPerNode: number,
    readonly maxPerAddress: number,
    private readonly addressMemoryMs: number,
    private readonly nowMs: () => number,
  ) {
    if (!(maxPerNode >= 1) || !(maxPerAddress >= 1) || !(addressMemoryMs > 0)) {
      throw new RangeError(
        `connection budgets must be positive (per node ${maxPerNode}, per address ${maxPerAddress}, memory ${addressMemoryMs} ms)`,
      );
    }
  }

  /**
   * TCP connections open now (accepted, not yet closed), whether or not
   * their handshake is done. Every handshake asked about is of an accepted
   * connection, whose accept event may not have arrived yet: the larger of
   * the two counts is what was accepted.
   */
  get open(): number {
    return Math.max(0, Math.max(this.accepted, this.asked) - this.closed);
  }

  get refused(): number {
    return this.refusedForNode + this.refusedForAddress;
  }

  onAccepted(): void {
    this.accepted++;
  }

  onClosed(): void {
    this.closed++;
    while (this.remembered > this.open) this.forgetOne();
  }

  /** Null to admit a handshake from `address` (and count it), or why it is refused. */
  admit(address: string): string | null {
    this.asked++;
    // The connection asking is itself among the open ones.
    if (this.open > this.maxPerNode) {
      this.refusedForNode++;
      return `this node holds ${this.maxPerNode} client connections, its limit (maxClientConnectionsPerNode)`;
    }
    const times = this.admissions.get(address) ?? [];
    const horizonMs = this.nowMs() - this.addressMemoryMs;
    let expired = 0;
    while (expired < times.length && times[expired]! <= horizonMs) expired++;
    if (expired > 0) {
      times.splice(0, expired);
      this.remembered -= expired;
    }
    if (times.length >= this.maxPerAddress) {
      this.refusedForAddress++;
      return `address ${address} holds ${this.maxPerAddress} connections to this node, its limit (maxClientConnectionsPerAddress)`;
    }
    times.push(this.nowMs());
    this.admissions.set(address, times);
    this.remembered++;
    return null;
  }

  /** Forgets the oldest admission of the address that holds the most. */
  private forgetOne(): void {
    let busiest: string | null = null;
    let most = 0;
    for (const [address, times] of this.admissions) {
      if (times.length > most) {
        most = times.length;
        busiest = address;
      }
    }
    if (busiest === null) {
      this.remembered = 0;
      return;
    }
    const times = this.admissions.get(busiest)!;
    times.shift();
    if (times.length === 0) this.admissions.delete(busiest);
    this.remembered--;
  }
}

/**
 * The descriptor limit of this process (`ulimit -n`, the soft limit), read
 * from /proc/self/limits; null where that file does not exist or says
 * "unlimited".
 */
export function openFilesLimit(read: () => string): number | null {
  let text: string;
  try {
    text = read();
  } catch {
    return null;
  }
  const match = /^Max open files\s+(\d+)/m.exec(text);
  return match === null ? null : Number(match[1]);
}
