import { invariant } from '../core/assert.js';
import { decodeMembership, encodeMembership, type Membership } from '../core/membership.js';
import type { AppendMessage, Entry, NodeId, NodeMessage } from '../core/types.js';
import { LIMITS } from '../limits.js';
import { validateEntries } from './entry-codec.js';
import {
  checkEpoch,
  checkFrameSize,
  checkSeq,
  checkString,
  checkUint,
  decodeOrThrow,
  FrameError,
} from './frame-error.js';
import { decodePackedEntries } from './packed-entries.js';
import { packEntries, packedPieces, rememberPackedSource } from './packed-source.js';
import { PackedWriter, varintBytes } from './packed-writer.js';
import { REPAIR_COPY_DIGEST_BYTES } from './repair-copy-digest.js';
import { ordo } from './schema.js';

/** Encodes a core message for the node-to-node sockets (PeerEnvelope). */
export function encodePeerMessage(clusterId: string, message: NodeMessage): Uint8Array {
  const envelope: ordo.PeerEnvelope.$Properties = {
    clusterId,
    from: message.from,
    epoch: message.epoch,
  };
  switch (message.type) {
    case 'append':
      if (message.entries.length > 0) return encodeAppendFrame(envelope, message);
      envelope.append = { ...appendFields(message), packedEntries: packEntries(message.entries) };
      break;
    case 'ack':
      envelope.ack = {
        matchSeq: message.matchSeq,
        reject: message.reject,
        hintSeq: message.hintSeq,
        hintEpoch: message.hintEpoch,
        readRound: message.readRound ?? 0,
      };
      break;
    case 'nack':
      envelope.nack = { fromSeq: message.fromSeq, toSeq: message.toSeq };
      break;
    case 'voteRequest':
      envelope.voteRequest = {
        lastSeq: message.lastSeq,
        lastEpoch: message.lastEpoch,
        preVote: message.preVote,
        transfer: message.transfer,
      };
      break;
    case 'voteResponse':
      envelope.voteResponse = { granted: message.granted, preVote: message.preVote };
      break;
    case 'timeoutNow':
      envelope.timeoutNow = {};
      break;
    case 'repairRequest':
      envelope.repairRequest = { fromSeq: message.fromSeq, toSeq: message.toSeq };
      break;
    case 'hello':
      envelope.hello = { incarnation: message.incarnation };
      break;
    case 'helloReply':
      envelope.helloReply = { knownIncarnation: message.knownIncarnation };
      break;
    case 'repairResponse':
      envelope.repairResponse = {
        fromSeq: message.fromSeq,
        toSeq: message.toSeq,
        entries: message.entries as ordo.Entry.$Properties[],
        firstSeq: message.firstSeq,
        lastSeq: message.lastSeq,
        copyDigest: message.copyDigest,
      };
      break;
  }
  return ordo.PeerEnvelope.encode(envelope).finish();
}

/** Every field of an append but its packed entries, as the schema spells them. */
export function appendFields(message: AppendMessage): ordo.Append.$Properties {
  return {
    prevSeq: message.prevSeq,
    prevEpoch: message.prevEpoch,
    commitSeq: message.commitSeq,
    logStart: message.logStart === true,
    prevTimestampMs: message.prevTimestampMs ?? 0,
    transferTo: message.transferTo ?? '',
    membership:
      message.membership === undefined ? new Uint8Array(0) : encodeMembership(message.membership),
    readRound: message.readRound ?? 0,
    dataSeq: message.dataSeq ?? 0,
    catchUp: message.catchUp === true,
  };
}

/** Wire tags (field number << 3 | length-delimited) of the two fields an append frame is spliced at. */
const ENVELOPE_APPEND_TAG = (10 << 3) | 2;
const APPEND_PACKED_ENTRIES_TAG = (60 << 3) | 2;

/**
 * An append with entries, encoded as protobufjs would (it writes fields in
 * field-number order: `append`, 10, is the envelope's last field set and
 * `packed_entries`, 60, the append's last), but with the packed runs written
 * straight into the frame from the pieces they are remembered in. Put
 * together first and then copied by protobufjs, a sequencer's multicast
 * copied every byte twice and allocated the frame twice. A test checks the
 * bytes are the same as protobufjs's.
 */
function encodeAppendFrame(
  envelope: ordo.PeerEnvelope.$Properties,
  message: AppendMessage,
): Uint8Array {
  const head = ordo.PeerEnvelope.encode(envelope).finish();
  const fields = ordo.Append.encode(appendFields(message)).finish();
  const { pieces, bytes } = packedPieces(message.entries);
  const appendBytes =
    fields.length + varintBytes(APPEND_PACKED_ENTRIES_TAG) + varintBytes(bytes) + bytes;
  const size =
    head.length + varintBytes(ENVELOPE_APPEND_TAG) + varintBytes(appendBytes) + appendBytes;
  const w = new PackedWriter(size);
  w.bytes(head);
  w.varint(ENVELOPE_APPEND_TAG);
  w.varint(appendBytes);
  w.bytes(fields);
  w.varint(APPEND_PACKED_ENTRIES_TAG);
  w.varint(bytes);
  for (const piece of pieces) w.bytes(piece);
  if (w.pos !== size) invariant(false, `append frame: wrote ${w.pos} bytes, measured ${size}`);
  return w.out;
}

/**
 * Decodes and validates a node-to-node frame. Throws FrameError for anything
 * that is not a well-formed envelope of this cluster, so that a bad frame is
 * dropped at the edge and never reaches the core or the log.
 */
export function decodePeerMessage(bytes: Uint8Array, clusterId: string): NodeMessage {
  checkFrameSize(bytes, LIMITS.maxFrameBytes);
  const envelope = decodeOrThrow('peer envelope', () => ordo.PeerEnvelope.decode(bytes));
  if (envelope.clusterId !== clusterId) {
    throw new FrameError(
      'foreign-cluster',
      // Neither id is printed: this cluster's id must not reach a stranger's
      // logs, and the stranger's may be anything (it is attacker-chosen text).
      'frame of another cluster (the cluster id does not match)',
    );
  }
  const from: NodeId = checkString(envelope.from, 'from', LIMITS.maxNodeIdBytes, false);
  const epoch = checkEpoch(envelope.epoch, 'epoch');
  switch (envelope.body) {
    case 'append': {
      const a = envelope.append!;
      const prevSeq = checkSeq(a.prevSeq, 'append.prevSeq');
      const entries = appendEntries(a, prevSeq);
      for (const entry of entries) {
        if (entry.epoch > epoch)
          throw new FrameError('malformed', `entry ${entry.seq} has an epoch beyond the sender's`);
      }
      const transferTo = checkString(
        a.transferTo ?? '',
        'append.transferTo',
        LIMITS.maxNodeIdBytes,
        true,
      );
      return {
        type: 'append',
        epoch,
        from,
        prevSeq,
        prevEpoch: checkEpoch(a.prevEpoch, 'append.prevEpoch'),
        entries,
        commitSeq: checkSeq(a.commitSeq, 'append.commitSeq'),
        ...(a.logStart === true
          ? {
              logStart: true,
              prevTimestampMs: checkUint(a.prevTimestampMs, 'append.prevTimestampMs'),
              ...(a.membership != null && a.membership.length > 0
                ? { membership: decodeMembershipField(a.membership, 'append.membership') }
                : {}),
            }
          : {}),
        ...(transferTo !== '' ? { transferTo } : {}),
        ...readRoundField(a.readRound, 'append.readRound'),
        ...(a.dataSeq != null && Number(a.dataSeq) > 0
          ? { dataSeq: checkSeq(a.dataSeq, 'append.dataSeq') }
          : {}),
        ...(a.catchUp === true ? { catchUp: true } : {}),
      };
    }
    case 'ack': {
      const a = envelope.ack!;
      return {
        type: 'ack',
        epoch,
        from,
        matchSeq: checkSeq(a.matchSeq, 'ack.matchSeq'),
        reject: a.reject === true,
        hintSeq: checkSeq(a.hintSeq, 'ack.hintSeq'),
        hintEpoch: checkEpoch(a.hintEpoch, 'ack.hintEpoch'),
        ...readRoundField(a.readRound, 'ack.readRound'),
      };
    }
    case 'nack': {
      const n = envelope.nack!;
      const fromSeq = checkSeq(n.fromSeq, 'nack.fromSeq');
      const toSeq = checkSeq(n.toSeq, 'nack.toSeq');
      if (fromSeq < 1 || toSeq < fromSeq)
        throw new FrameError('malformed', `nack range [${fromSeq}, ${toSeq}] is empty`);
      return { type: 'nack', epoch, from, fromSeq, toSeq };
    }
    case 'voteRequest': {
      const v = envelope.voteRequest!;
      return {
        type: 'voteRequest',
        epoch,
        from,
        lastSeq: checkSeq(v.lastSeq, 'voteRequest.lastSeq'),
        lastEpoch: checkEpoch(v.lastEpoch, 'voteRequest.lastEpoch'),
        preVote: v.preVote === true,
        transfer: v.transfer === true,
      };
    }
    case 'voteResponse': {
      const v = envelope.voteResponse!;
      return {
        type: 'voteResponse',
        epoch,
        from,
        granted: v.granted === true,
        preVote: v.preVote === true,
      };
    }
    case 'timeoutNow':
      return { type: 'timeoutNow', epoch, from };
    case 'repairRequest': {
      const r = envelope.repairRequest!;
      const fromSeq = checkSeq(r.fromSeq, 'repairRequest.fromSeq');
      const toSeq = checkSeq(r.toSeq, 'repairRequest.toSeq');
      if (fromSeq < 1 || toSeq < fromSeq)
        throw new FrameError('malformed', `repair range [${fromSeq}, ${toSeq}] is empty`);
      return { type: 'repairRequest', epoch, from, fromSeq, toSeq };
    }
    case 'repairResponse': {
      const r = envelope.repairResponse!;
      const fromSeq = checkSeq(r.fromSeq, 'repairResponse.fromSeq');
      const toSeq = checkSeq(r.toSeq, 'repairResponse.toSeq');
      const entries = validateEntries(
        (r.entries ?? []) as ordo.Entry[],
        fromSeq,
        'repairResponse.entries',
      );
      if (entries.length > 0 && entries.at(-1)!.seq > toSeq)
        throw new FrameError('malformed', `repair response goes past seq ${toSeq}`);
      const firstSeq = checkSeq(r.firstSeq, 'repairResponse.firstSeq');
      const lastSeq = checkSeq(r.lastSeq, 'repairResponse.lastSeq');
      const copyDigest = r.copyDigest ?? new Uint8Array(0);
      if (copyDigest.length !== REPAIR_COPY_DIGEST_BYTES) {
        throw new FrameError(
          'malformed',
          `repair response digest has ${copyDigest.length} bytes, not ${REPAIR_COPY_DIGEST_BYTES}`,
        );
      }
      return {
        type: 'repairResponse',
        epoch,
        from,
        fromSeq,
        toSeq,
        entries,
        firstSeq,
        lastSeq,
        copyDigest,
      };
    }
    case 'hello':
      return {
        type: 'hello',
        epoch,
        from,
        incarnation: checkString(envelope.hello!.incarnation, 'hello.incarnation', 64, true),
      };
    case 'helloReply':
      return {
        type: 'helloReply',
        epoch,
        from,
        knownIncarnation: checkString(
          envelope.helloReply!.knownIncarnation,
          'helloReply.knownIncarnation',
          64,
          true,
        ),
      };
    default:
      throw new FrameError('malformed', 'peer envelope has no body');
  }
}

/** An append's entries, packed (as this version sends them) or one message each. */
function appendEntries(a: ordo.IAppend, prevSeq: number): Entry[] {
  const packed = a.packedEntries;
  if (packed != null && packed.length > 0) {
    if (a.entries != null && a.entries.length > 0)
      throw new FrameError('malformed', 'append carries both entries and packed entries');
    // Payloads are viewed only when read: a follower's log keeps these bytes.
    const entries = decodePackedEntries(packed, { firstSeq: prevSeq + 1 }, 'append.packedEntries', {
      lazyPayloads: true,
    });
    rememberPackedSource(entries, packed);
    return entries;
  }
  return validateEntries((a.entries ?? []) as ordo.Entry[], prevSeq + 1, 'append.entries');
}

function decodeMembershipField(bytes: Uint8Array, field: string): Membership {
  try {
    return decodeMembership(bytes);
  } catch (error) {
    throw new FrameError('malformed', `${field}: ${(error as Error).message}`);
  }
}

/** A read round travels only when set; it is bounded like a seq (one round per read index at most). */
function readRoundField(value: unknown, field: string): { readRound?: number } {
  const round = checkSeq(value ?? 0, field);
  return round > 0 ? { readRound: round } : {};
}
