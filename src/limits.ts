import { CORE_LIMITS } from './core/core-limits.js';

/**
 * Every bound in Ordo lives here, named with its unit, so that an operator can
 * see in one place how much memory, bandwidth and time each part may take.
 * The pure core receives the subset it needs through `CoreConfig`; the edges
 * (transport, storage, clients) import what they need from this module.
 */
/** Largest ZeroMQ frame any socket accepts (named here so that other limits can derive from it). */
const maxFrameBytes = 4 * 1024 * 1024;

export const LIMITS = {
  // The pure core's bounds (batches, windows, NACK and retransmit ranges, the
  // dedup table, epoch boundaries): see src/core/core-limits.ts.
  ...CORE_LIMITS,
  /** Largest ZeroMQ frame any socket accepts; larger frames are dropped and reported. */
  maxFrameBytes,
  /** Largest payload of one published message. */
  maxPayloadBytes: 1024 * 1024,
  /** Longest topic name. */
  maxTopicBytes: 256,
  /** Longest producer id (publish requests, log entries, peer batches and the disk record all check it). */
  maxProducerIdBytes: 64,
  /**
   * Longest client identity name: the config refuses a longer one, and a log
   * entry carries its publisher's identity (the owner of its producer id).
   */
  maxIdentityBytes: 128,
  /** Longest node id: peer messages and `transferLeader` requests name nodes by it. */
  maxNodeIdBytes: 64,
  /** Longest replica id, plugin name or state digest string a node accepts from a replica. */
  maxReplicaNameBytes: 128,
  /** Most topics one subscription may filter on. */
  maxTopicsPerSubscription: 256,
  /** Most retransmissions (reads from the log for a NACK or a probe) a node runs at once. */
  maxConcurrentRetransmits: 8,
  /** Most damaged entries a node asks one peer for in one repair request. */
  maxRepairEntries: 1024,
  /** A repairing node waits this long for every peer to answer its request. */
  repairRequestTimeoutMs: 250,
  /** After a round in which no peer could help (some did not answer), a repairing node waits this long. */
  repairRoundPauseMs: 250,
  /** Most bytes one retransmission carries. */
  maxRetransmitBytes: 2 * 1024 * 1024,
  /** Most publish requests waiting for their commit on one node. */
  maxPendingPublishReplies: 262_144,
  /** Most messages waiting in one socket's send queue; further sends fail fast. */
  maxSendQueueMessages: 10_000,
  /** ZeroMQ high-water marks, in messages. */
  socketHighWaterMarkMessages: 100_000,
  /**
   * V8's young-generation semi-space, in MiB, for the node processes this
   * project starts (local clusters: `ordo dev`, the tests, the benches) and
   * the bench's publisher processes (`--max-semi-space-size`; 16 by
   * default). A publisher's window and a node's entries in flight live tens
   * of milliseconds: in the default young generation they outlived two
   * scavenges, were moved to the old generation and collected there at
   * great cost (a third of a saturated publisher's CPU). docs/operations.md
   * tells how to give it to nodes and publishers started otherwise.
   */
  youngSemiSpaceMiB: 32,
  /**
   * V8's first old-generation size, in MiB, for the node processes this
   * project starts (`--initial-old-space-size`; a few MiB by default, grown
   * as the heap grows). A node's live heap is small (15-40 MiB) but turns
   * over fast, and from V8's small start its old generation was collected
   * whole two to five times a second, 5-15 ms each, which made most of the
   * light-load latency tail. The size is a threshold, not memory taken up
   * front: a node's resident memory at start is the same. It is a command
   * line flag only (NODE_OPTIONS refuses it); docs/operations.md tells how
   * to give it to nodes started otherwise.
   */
  initialOldSpaceMiB: 256,
  /** Times a ZeroMQ connect or disconnect that a signal interrupted (EINTR) is made in all before its error stands. */
  interruptedCallAttempts: 8,
  /** Most subscribers one node serves at once. */
  maxSubscribers: 1024,
  /** Most entries a subscriber may have unacknowledged (its credit window). */
  subscriberWindowEntries: 16_384,
  /** Most entries one delivery batch to a subscriber carries. */
  maxDeliveryBatchEntries: 1024,
  /** Most messages in one batch `Subscriber.batches()` hands its reader. */
  subscriberBatchMessages: 1024,
  /** Most payload bytes one delivery batch to a subscriber carries. */
  maxDeliveryBatchBytes: 256 * 1024,
  /** A node sends an idle subscriber a heartbeat (its position and the commit seq) this often. */
  subscriberHeartbeatMs: 200,
  /** A node forgets a subscriber it has not heard from for this long. */
  subscriberTimeoutMs: 15_000,
  /** Most publishes a client keeps in flight by default. */
  publisherWindowMessages: 8192,
  /** Most publish calls that may wait for room in a publisher's full window; more are refused. */
  publisherMaxWaitingCalls: 100_000,
  /** Most publishes a client packs into one request frame. */
  publisherBatchMessages: 1024,
  /** Most messages a Subscriber buffers for its reader before it stops granting credit. */
  subscriberBufferMessages: 16_384,
  /** Most replicas whose reports one node keeps. */
  maxReplicaReports: 1024,
  /** Digests remembered per replica, for comparing replicas that report at different moments. */
  maxDigestsPerReplica: 256,
  /** Most plugins whose snapshots a node stores on disk for late-joining replicas. */
  maxSnapshotPlugins: 16,
  /** Most snapshot uploads a node keeps partial at once (over all plugins); a further one is refused until one completes or expires. */
  maxSnapshotUploads: 8,
  /** A partial snapshot upload that received no chunk for this long is deleted. */
  snapshotUploadExpiryMs: 10 * 60 * 1000,
  /** Snapshot chunk requests one node serves at once (each holds up to snapshotChunkBytes); more are answered LIMIT. */
  maxSnapshotRequestsInFlight: 64,
  /** Complete snapshots a node keeps per plugin: the newest, and the previous one for a download still reading it. */
  storedSnapshotsPerPlugin: 2,
  /**
   * Longest a sequencer holds a multicast that only moves the followers'
   * commit point, waiting for an append to carry it instead (see
   * CommitNoticeHold); 0 sends each at once. Followers' subscribers see an
   * idle stream's last message up to this much later.
   */
  commitNoticeHoldMs: 2,
  /** A node saves a moved commit point (alone, without an epoch or vote change) at most this often. */
  commitSaveIntervalMs: 1000,
  /** How often a node checkpoints its dedup table (when the commit point moved). */
  dedupCheckpointIntervalMs: 2000,
  /** Recent (producerSeq, seq) pairs per producer saved in a dedup checkpoint. */
  dedupCheckpointPairsPerProducer: 16,
  /** A checkpoint further behind the log than this many entries is not replayed (the node falls back to the recent window). */
  maxDedupReplayEntries: 2_000_000,
  /** How often a node applies its log retention policy. */
  retentionCheckIntervalMs: 1000,
  /** Entries kept in memory after commit for fast delivery and retransmission. */
  memoryLogCacheEntries: 200_000,
  /**
   * Most entries in one packed run of a log held in memory (the memory log,
   * the durable log's cache of recent entries): a read of one entry decodes
   * past at most this many, and a cut inside a run packs at most this many
   * again. As many as an append may carry (`maxBatchEntries`), so that a
   * follower keeps a received append's bytes as one run.
   */
  memoryRunEntries: 2048,
  /**
   * Packed byte strings (a publisher's batch as a run, a received append, a
   * run a log packed) remembered with the entries they hold, so that a log
   * or a multicast reuses them instead of packing the same entries again;
   * each holds at most `maxBatchEntries` entries, which a Ready holds anyway.
   */
  packedSourcesRemembered: 64,

  // Budgets against hostile or runaway input (per client connection and per node).
  // A client is identified by its connection (the ROUTER routing id): one
  // client process holds one connection per broker.
  /** A log line that input from the network can repeat (a bad frame, a silent subscriber) is written at most once per this interval. */
  repeatedLogIntervalMs: 1000,
  /**
   * A peer that refused this node's key at the CurveZMQ handshake (ZeroMQ
   * then gives the connection up) is dialled again after this long: a node
   * joining a secured cluster is admitted once its membership change, which
   * carries its key, reaches that peer.
   */
  peerHandshakeRetryMs: 1000,
  /** Largest frame ZeroMQ receives at all: a frame between maxFrameBytes and this is counted, logged and refused with TOO_LARGE; a larger one makes ZeroMQ close its connection. */
  maxReceivedFrameBytes: 2 * maxFrameBytes,
  /** Most client connections one node holds open at once (and at most half its descriptor limit, `ulimit -n`); more are refused at the handshake. */
  maxClientConnectionsPerNode: 8192,
  /** Most client connections one source IP address holds on one node (an estimate: see docs/operations.md); more are refused at the handshake. */
  maxClientConnectionsPerAddress: 1024,
  /** A node forgets a client connection it admitted after this long when counting connections per address. */
  clientAddressMemoryMs: 60_000,
  /** A client connection that has not finished its ZeroMQ handshake within this long is closed. */
  clientHandshakeTimeoutMs: 5000,
  /** Most subscriptions one client connection holds on one node; more are refused with LIMIT. */
  maxSubscriptionsPerConnection: 64,
  /** Most subscriptions one identity holds on one node, over all its connections (secured clusters; per connection otherwise); more are refused with LIMIT. */
  maxSubscriptionsPerIdentity: 256,
  /** Most delivery bytes one subscriber may have waiting in the node's send queue; its stream pauses until they have gone out, and a NACK never queues again what is still waiting. */
  subscriberMaxQueuedBytes: 4 * 1024 * 1024,
  /** Most NACKs per second one subscriber is served; more are ignored (the subscriber asks again) and counted. */
  subscriberMaxNacksPerSecond: 20,
  /** Most publishes one client connection may have waiting for commit on one node; more are answered BUSY. */
  maxPendingPublishesPerConnection: 65_536,
  /** Most publishes one identity may have waiting for commit on one node, over all its connections (secured clusters; per connection otherwise); more are answered BUSY. */
  maxPendingPublishesPerIdentity: 131_072,
  /** Messages ZeroMQ holds per client connection, each way (a delivery is at most maxDeliveryBatchBytes; past it sends to that client fail and it NACKs). */
  clientHighWaterMarkMessages: 256,
  /** Messages ZeroMQ holds per peer connection, each way. */
  peerHighWaterMarkMessages: 10_000,
  /** Frames a client receive loop handles before it lets the event loop run timers and the peer sockets. */
  clientFramesPerTurn: 64,
  /** Frames a peer receive loop handles before it lets the event loop run. */
  peerFramesPerTurn: 256,
  /** Bad frames after which a peer connection (routing id) is ignored: a member never sends one. */
  maxBadFramesPerPeerConnection: 8,
  /** Most peer connections remembered as ignored (bad senders); the oldest is forgotten first. */
  maxIgnoredPeerConnections: 4096,
  /** A save of the epoch, vote or commit point that failed for want of file descriptors or space is tried again after this long (doubling up to the next limit). */
  resourceRetryBaseMs: 50,
  /** Longest wait between such attempts; meanwhile the node refuses publishes and sends nothing that depends on the save. */
  resourceRetryMaxMs: 1000,

  // Operations (HTTP metrics, health and status page).
  /** A follower further behind the sequencer than this is not ready (`/readyz` answers 503). */
  readyMaxCatchUpEntries: 1000,
  /** The status page asks for the cluster's status this often. */
  statusPageRefreshMs: 1000,
  /** A node answers cluster status requests from a cache at most this old, whoever asks. */
  clusterStatusCacheMs: 500,
  /** How long a node waits for each other node's status for the cluster view. */
  clusterStatusTimeoutMs: 1000,
  /** Most HTTP requests one node serves at once; more are answered 503. */
  maxHttpRequestsInFlight: 64,

  // Durable log (src/storage). Defaults of SegmentedLogStore and FileMetaStore, and hard caps.
  /** A log segment is closed and a new one started once it would grow past this size. */
  logSegmentBytes: 64 * 1024 * 1024,
  /** Largest segment size an operator may configure: record offsets are stored as 32-bit integers. */
  maxLogSegmentBytes: 1024 * 1024 * 1024,
  /** With `fsync=interval`, the longest a written entry waits for its fsync. */
  logFsyncIntervalMs: 100,
  /**
   * Most entries one log record holds: the entries of one write go into as
   * few records as these two bounds allow, each with one header, one CRC
   * and one SHA-256 chain hash.
   */
  maxLogRecordEntries: 1024,
  /** A record is closed before its entry bodies pass this size (a single larger entry gets a record of its own). */
  maxLogRecordBytes: 256 * 1024,
  /** Most recent entries the durable log keeps decoded in memory, to serve reads without disk. */
  logCacheEntries: 65_536,
  /** Most payload and header bytes that cache of recent entries holds. */
  logCacheBytes: 64 * 1024 * 1024,
  /** Most entries `open()` hands back as recent entries (for rebuilding the dedup table). */
  logRecoveredEntries: 10_000,
  /** Most record bytes `open()` hands back as recent entries. */
  logRecoveredBytes: 64 * 1024 * 1024,
  /** Most closed segments whose offset index is held in memory at once (each 4 bytes per entry). */
  logIndexCacheSegments: 16,
  /** Most bytes one positional disk read of the log fetches; a long read is done in chunks of this. */
  logReadChunkBytes: 1024 * 1024,
  /** Size of the window through which `open()` scans a segment to validate it. */
  logScanChunkBytes: 4 * 1024 * 1024,
  /** Retention by size: whole committed segments are deleted while the log is larger than this. */
  logRetentionBytes: 16 * 1024 * 1024 * 1024,
  /** Retention by age: a committed segment whose newest entry is older than this is deleted. */
  logRetentionAgeMs: 7 * 24 * 60 * 60 * 1000,
  /**
   * Largest log segment of a witness: it deletes whole closed segments once
   * every data voter holds them, so its disk holds at most one such segment
   * beyond its tail (CORE_LIMITS.witnessTailMaxEntries entries).
   */
  witnessSegmentBytes: 4 * 1024 * 1024,

  // Replica host (clients/replica).
  /** Largest state snapshot a replica writes to or reads from its data folder; a larger state stops the replica. */
  maxReplicaSnapshotBytes: 1024 * 1024 * 1024,
  /** Bytes of one snapshot chunk in transfer between a replica and a broker: a chunk and its fields fit one frame. */
  snapshotChunkBytes: 1024 * 1024,
  /** Snapshot chunks one replica has in flight to or from one broker (sent and not yet answered). */
  snapshotChunksInFlight: 8,
  /** How long a replica waits for the answer to one snapshot chunk request (the last chunk of an upload waits for the broker to check the whole snapshot's SHA-256). */
  snapshotChunkTimeoutMs: 30_000,
  /** Times one chunk of a snapshot download is fetched again after a bad checksum before the replica tries another broker. */
  snapshotChunkRetries: 3,
  /** Most reports and snapshot offers one replica keeps waiting on one broker; more are dropped. */
  maxPendingReplicaRequests: 32,
  /** Digests a replica remembers (for status, tests and its own divergence messages). */
  replicaDigestHistory: 256,
  /** Longest plugin name or replica id a replica accepts: under maxReplicaNameBytes, as a generated id adds a 9-byte suffix. */
  replicaMaxNameBytes: 100,
  // Primary-backup replicas (clients/replica/primary-backup).
  /** Most requests a primary-backup app holds as received and not yet executed; more are dropped (the caller times out). */
  pbMaxPendingRequests: 10_000,
  /** Request ids a primary-backup app remembers as executed, to apply each once; the oldest are forgotten first. */
  pbRememberedRequestIds: 100_000,
  /** Longest request id a primary-backup app accepts, in bytes. */
  pbMaxRequestIdBytes: 128,
  /** Calls one primary-backup client has waiting on one app's shared subscription; more read on their own. */
  pbMaxCallsPerWatch: 10_000,
  /** Entries a call keeps while its request's publish is not yet acknowledged; beyond, it reads on its own. */
  pbCallBufferEntries: 1000,
  /** Longest a primary waits for one `execute`; then the request counts as failed (the app must not stall behind it). */
  pbExecuteTimeoutMs: 30_000,
  /** Shortest and longest primary lease, in milliseconds of log time. */
  pbMinLeaseMs: 100,
  pbMaxLeaseMs: 600_000,

  // Clients (clients/): defaults of the options and fixed bounds.
  /** Most requests one client connection keeps waiting for an answer; more are refused as retriable. */
  clientMaxPendingRequests: 100_000,
  /** A publish request unanswered for this long is sent again, to another broker (`requestTimeoutMs`). */
  publisherRequestTimeoutMs: 1000,
  /** A message still unacknowledged after this long fails with TimeoutError (`publishTimeoutMs`). */
  publisherPublishTimeoutMs: 30_000,
  /** How often a publisher looks for messages past their publish timeout (at most; less for shorter timeouts). */
  publisherDeadlineCheckIntervalMs: 1000,
  /**
   * How long a broker whose connection dropped is not trusted as a leader
   * hint. A search for the sequencer still asks it, and its own answer counts.
   */
  publisherSuspectBrokerMs: 2000,
  /** First backoff ceiling after a failed send that was not a timeout (it doubles per attempt). */
  publisherSendFailureBackoffBaseMs: 20,
  /** Largest backoff after failed sends. */
  publisherSendFailureBackoffMaxMs: 1000,
  /**
   * First pause ceiling between two searches for the sequencer that found
   * none (an election is running). Short, so that the publisher follows the
   * election within a few tens of milliseconds of its end.
   */
  publisherNoLeaderBackoffBaseMs: 5,
  /** Largest pause between two searches for the sequencer (each asks every broker once). */
  publisherNoLeaderBackoffMaxMs: 20,
  /**
   * How long a publisher waits for each broker's answer while it asks them
   * all at once which one is the sequencer (after its broker dropped,
   * timed out or named no usable sequencer).
   */
  publisherLeaderSearchTimeoutMs: 500,
  /**
   * For how long a publisher takes hints naming a broker that said it is
   * not the sequencer as stale (so that stale hints naming each other cannot
   * send it back and forth). Short: that broker may win the next election.
   */
  publisherNotSequencerMs: 200,
  /** First backoff ceiling after a BUSY or RETRY answer. */
  publisherBusyBackoffBaseMs: 5,
  /** Largest backoff after BUSY or RETRY answers. */
  publisherBusyBackoffMaxMs: 500,
  /** A broker silent this long (it heartbeats every subscriberHeartbeatMs) is left for the next (`brokerTimeoutMs`). */
  subscriberBrokerTimeoutMs: 1500,
  /** A gap a subscriber NACKed is NACKed again if not repaired within this long (`nackRetryMs`). */
  subscriberNackRetryMs: 50,
  /** How long a read index keeps asking through elections before it fails (`readIndex(waitMs)`). */
  readIndexWaitMs: 10_000,
  /** First pause before asking another broker for a read index (it doubles per attempt). */
  readIndexRetryBaseMs: 10,
  /** Longest pause between read index attempts. */
  readIndexRetryMaxMs: 100,
  /** How often a subscriber checks its broker's silence and sends its credit when it consumed more. */
  subscriberTickIntervalMs: 50,
  /**
   * A subscriber that consumed nothing new repeats its last credit this
   * often: it replaces a credit lost on the way and keeps the broker from
   * forgetting it (`subscriberTimeoutMs`), at a fifth of the tick rate.
   */
  subscriberCreditRepeatMs: 250,
  /** How long a closing subscriber leaves its unsubscribe to go out before closing the connection. */
  subscriberUnsubscribeGraceMs: 20,
  /** An admin request unanswered this long fails. */
  adminRequestTimeoutMs: 2000,
  /** How long `transferLeader` waits for the target to lead. */
  adminTransferWaitMs: 5000,
  /** How often `transferLeader` asks who leads while it waits. */
  adminTransferPollMs: 10,
} as const;

export type Limits = typeof LIMITS;
