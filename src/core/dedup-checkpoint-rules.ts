/**
 * Whether a saved dedup checkpoint at commit point `checkpointSeq` can seed
 * a restart of a log holding `firstSeq..lastSeq`: it must not be older than
 * the log's start (the entries between would be missing), nor ahead of its
 * end (those entries were lost), nor so far behind that replaying the
 * entries after it costs more than `maxReplayEntries`.
 */
export function checkpointUsable(
  checkpointSeq: number,
  firstSeq: number,
  lastSeq: number,
  maxReplayEntries: number,
): boolean {
  const behind = lastSeq - checkpointSeq;
  return checkpointSeq >= firstSeq - 1 && behind >= 0 && behind <= maxReplayEntries;
}

/**
 * The highest seq retention may drop up to. Never an uncommitted entry, and
 * with dedup checkpoints never past the last saved one: a restart must find
 * the producers of whatever was dropped in the checkpoint.
 */
export function retentionLimitSeq(committedSeq: number, savedCheckpointSeq: number | null): number {
  return savedCheckpointSeq === null ? committedSeq : Math.min(committedSeq, savedCheckpointSeq);
}
