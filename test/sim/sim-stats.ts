/**
 * Counts of what a run exercised. The summary adds them up over all seeds so
 * that the figures show the faults really happened.
 */
export interface SimStats {
  ticks: number;
  /** Simulator events run (timers, disk completions, disconnect notices). */
  events: number;
  crashes: number;
  /** Crashes that struck part way through a node's disk operations. */
  crashesMidWrite: number;
  lostUnsyncedWrites: number;
  /** Sequencers crashed on purpose soon after their election (scenario seeds). */
  sequencersHunted: number;
  restarts: number;
  pauses: number;
  symmetricPartitions: number;
  oneWayPartitions: number;
  elections: number;
  transfersRequested: number;
  readIndexesAnswered: number;
  readIndexesFailed: number;
  /** Config entries appended on request (learners added, voters removed). */
  membershipChanges: number;
  /** Nodes removed from the cluster and stopped for good. */
  nodesRetired: number;
  publishes: number;
  /** publishManySettled() calls (their messages count in `publishes` too). */
  publishBatches: number;
  /** Publishes acknowledged as duplicates (an earlier attempt got through). */
  duplicateProposals: number;
  acksWithoutSeq: number;
  publishesFailed: number;
  /** Failed publishes by error class (TimeoutError, UncertainOutcomeError, …). */
  publishFailuresByKind: Record<string, number>;
  packetsSent: number;
  packetsLost: number;
  packetsDuplicated: number;
  packetsCut: number;
  packetsHeld: number;
  /** Unsynced writes a crash tore part way. */
  tornWrites: number;
  /** Unsynced directory changes (new segments, renamed files) a crash undid. */
  lostDirectoryChanges: number;
  /** Fsyncs that failed with EIO (the node stopped as if it crashed). */
  fsyncErrors: number;
  bitFlips: number;
  /** Instants when every running node crashed together. */
  powerLosses: number;
  /** Messages a faulty member sent that the fencing rules must refuse. */
  forgedFrames: number;
  /**
   * Forged transfer campaigns (a vote request with `transfer` that the
   * sequencer never announced) that reached a live sequencer in its lease
   * and were checked to be refused, counted, and to leave it in office.
   */
  forgedTransfersRefused: number;
  /** Repair copies that arrived with a bit flipped (each must be refused). */
  damagedCopies: number;
  /** Damaged records nodes repaired from their peers as they started. */
  recordsRepaired: number;
  /** Nodes that refused to start: damage no peer held a fitting copy of. */
  refusedStarts: number;
  /** Ticks a witness spent with its tail full (taking no more entries until a data voter catches up). */
  witnessTailFullTicks: number;
  /** Tails a witness sent to a lagging data voter whose campaign it refused (AppendMessage.catchUp). */
  witnessCatchUps: number;
  /** Entries delivered by the per-node subscribers, all nodes together. */
  deliveredEntries: number;
  /** Seqs a node's subscriber skipped because the node no longer held them. */
  skippedEntries: number;
}

export function emptyStats(): SimStats {
  return {
    ticks: 0,
    events: 0,
    crashes: 0,
    crashesMidWrite: 0,
    lostUnsyncedWrites: 0,
    sequencersHunted: 0,
    restarts: 0,
    pauses: 0,
    symmetricPartitions: 0,
    oneWayPartitions: 0,
    elections: 0,
    transfersRequested: 0,
    readIndexesAnswered: 0,
    readIndexesFailed: 0,
    membershipChanges: 0,
    nodesRetired: 0,
    publishes: 0,
    publishBatches: 0,
    duplicateProposals: 0,
    acksWithoutSeq: 0,
    publishesFailed: 0,
    publishFailuresByKind: {},
    packetsSent: 0,
    packetsLost: 0,
    packetsDuplicated: 0,
    packetsCut: 0,
    packetsHeld: 0,
    tornWrites: 0,
    lostDirectoryChanges: 0,
    fsyncErrors: 0,
    bitFlips: 0,
    powerLosses: 0,
    forgedFrames: 0,
    forgedTransfersRefused: 0,
    damagedCopies: 0,
    recordsRepaired: 0,
    refusedStarts: 0,
    witnessTailFullTicks: 0,
    witnessCatchUps: 0,
    deliveredEntries: 0,
    skippedEntries: 0,
  };
}

export function addStats(total: SimStats, more: SimStats): void {
  for (const key of Object.keys(total) as (keyof SimStats)[]) {
    if (key === 'publishFailuresByKind') {
      for (const [kind, count] of Object.entries(more.publishFailuresByKind))
        total.publishFailuresByKind[kind] = (total.publishFailuresByKind[kind] ?? 0) + count;
    } else {
      total[key] += more[key];
    }
  }
}
