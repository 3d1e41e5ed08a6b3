/**
 * Counts of what a run exercised. The summary adds them up over all seeds so
 * that the figures show the faults really happened.
 */
export interface SimStats {
  ticks: number;
  crashes: number;
  /** Crashes that struck while a Ready was half carried out. */
  crashesMidReady: number;
  /** Unsynced log writes (appends, truncations) lost to crashes. */
  lostUnsyncedWrites: number;
  restarts: number;
  pauses: number;
  symmetricPartitions: number;
  oneWayPartitions: number;
  elections: number;
  transfersRequested: number;
  truncations: number;
  truncatedEntries: number;
  publishes: number;
  publisherRetries: number;
  publisherTimeouts: number;
  notLeaderReplies: number;
  duplicateProposals: number;
  outOfOrderReplies: number;
  busyReplies: number;
  truncatedPublishes: number;
  /** Acks for a duplicate whose original seq the sequencer no longer knew. */
  acksWithoutSeq: number;
  packetsSent: number;
  packetsLost: number;
  packetsDuplicated: number;
  packetsCut: number;
  packetsHeld: number;
  retransmitsShortRead: number;
  committedEntries: number;
  /** Times a disk's retention dropped old committed entries, and how many it dropped. */
  compactions: number;
  compactedEntries: number;
  /** Log resets carried out (the node lacked entries the sequencer no longer held), and the seqs they skipped. */
  logResets: number;
  resetSkippedEntries: number;
  /** Crashes that struck while a log reset deleted the old log. */
  tornResets: number;
  /** Restarts from a disk whose log starts after seq 1. */
  restartsWithLogStart: number;
  /** Publishers that started a new producer session because the sequencer forgot theirs. */
  publisherSessions: number;
  /** Unacknowledged messages those publishers failed when they did. */
  publishesFailed: number;
  /** Dedup checkpoints whose save completed, and saves a crash cut short (the previous one stayed). */
  checkpointsSaved: number;
  checkpointsLost: number;
  /** Restarts from a dedup checkpoint plus the entries after it. */
  restartsFromCheckpoint: number;
  /** Restarts that fell back to the held log: no checkpoint yet, one older than the log's start, one ahead of its end. */
  restartsNoCheckpoint: number;
  checkpointsOlderThanLog: number;
  checkpointsAheadOfLog: number;
}

export function emptyStats(): SimStats {
  return {
    ticks: 0,
    crashes: 0,
    crashesMidReady: 0,
    lostUnsyncedWrites: 0,
    restarts: 0,
    pauses: 0,
    symmetricPartitions: 0,
    oneWayPartitions: 0,
    elections: 0,
    transfersRequested: 0,
    truncations: 0,
    truncatedEntries: 0,
    publishes: 0,
    publisherRetries: 0,
    publisherTimeouts: 0,
    notLeaderReplies: 0,
    duplicateProposals: 0,
    outOfOrderReplies: 0,
    busyReplies: 0,
    truncatedPublishes: 0,
    acksWithoutSeq: 0,
    packetsSent: 0,
    packetsLost: 0,
    packetsDuplicated: 0,
    packetsCut: 0,
    packetsHeld: 0,
    retransmitsShortRead: 0,
    committedEntries: 0,
    compactions: 0,
    compactedEntries: 0,
    logResets: 0,
    resetSkippedEntries: 0,
    tornResets: 0,
    restartsWithLogStart: 0,
    publisherSessions: 0,
    publishesFailed: 0,
    checkpointsSaved: 0,
    checkpointsLost: 0,
    restartsFromCheckpoint: 0,
    restartsNoCheckpoint: 0,
    checkpointsOlderThanLog: 0,
    checkpointsAheadOfLog: 0,
  };
}

export function addStats(total: SimStats, more: SimStats): void {
  for (const key of Object.keys(total) as (keyof SimStats)[]) total[key] += more[key];
}
