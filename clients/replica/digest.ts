import { createHash } from 'node:crypto';

/** A replica's state digest at one agreed seq. */
export interface StateDigest {
  readonly seq: number;
  /** SHA-256 of the plugin's snapshot bytes, in hex. */
  readonly digest: string;
}

/** The digest of a state: SHA-256 of the plugin's canonical snapshot bytes, in hex. */
export function digestOf(snapshot: Uint8Array): string {
  return createHash('sha256').update(snapshot).digest('hex');
}

/**
 * The latest agreed digest seq at or below `throughSeq`: digests are taken at
 * every multiple of `intervalSeqs`, so every replica digests the same seqs
 * whatever its speed, restarts or snapshots.
 */
export function agreedSeqAtOrBelow(throughSeq: number, intervalSeqs: number): number {
  return Math.floor(throughSeq / intervalSeqs) * intervalSeqs;
}

/** The most recent digests of one replica, oldest first, at most `capacity` of them. */
export class DigestHistory {
  private readonly digests: StateDigest[] = [];

  constructor(private readonly capacity: number) {}

  record(digest: StateDigest): void {
    this.digests.push(digest);
    if (this.digests.length > this.capacity) this.digests.shift();
  }

  get latest(): StateDigest | null {
    return this.digests.at(-1) ?? null;
  }

  at(seq: number): string | undefined {
    return this.digests.find((d) => d.seq === seq)?.digest;
  }

  all(): readonly StateDigest[] {
    return [...this.digests];
  }
}
