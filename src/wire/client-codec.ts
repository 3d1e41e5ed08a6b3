import { invariant } from '../core/assert.js';
import { LIMITS } from '../limits.js';
import { validateEntry } from './entry-codec.js';
import {
  checkFrameSize,
  checkSeq,
  checkString,
  checkUint,
  decodeOrThrow,
  FrameError,
} from './frame-error.js';
import {
  decodePackedEntries,
  decodePackedOkRuns,
  decodePackedPublishItems,
  encodePackedOkResults,
  type OkRun,
  type PackedPublishItem,
  packPublishItemsAfter,
} from './packed-entries.js';
import { varintBytes } from './packed-writer.js';
import { ordo } from './schema.js';

/** A validated request: the body named by `body` is present with every field filled in. */
export type ClientRequest = { readonly requestId: number } & (
  | { readonly body: 'publish'; readonly publish: ordo.PublishRequest }
  | { readonly body: 'subscribe'; readonly subscribe: ordo.SubscribeRequest }
  | { readonly body: 'subscriberAck'; readonly subscriberAck: ordo.SubscriberAck }
  | { readonly body: 'subscriberNack'; readonly subscriberNack: ordo.SubscriberNack }
  | { readonly body: 'unsubscribe'; readonly unsubscribe: ordo.Unsubscribe }
  | { readonly body: 'status'; readonly status: ordo.StatusRequest }
  | { readonly body: 'transferLeader'; readonly transferLeader: ordo.TransferLeaderRequest }
  | { readonly body: 'replicaReport'; readonly replicaReport: ordo.ReplicaReport }
  | { readonly body: 'putSnapshotChunk'; readonly putSnapshotChunk: ordo.SnapshotChunkPut }
  | { readonly body: 'getSnapshotChunk'; readonly getSnapshotChunk: ordo.SnapshotChunkGet }
  | { readonly body: 'members'; readonly members: ordo.MembersRequest }
  | { readonly body: 'readIndex'; readonly readIndex: ordo.ReadIndexRequest }
);
export type ClientResponse = ordo.ClientResponse;

/**
 * Encodes a client request. A publish travels with its items packed
 * (`packed_items`): one run per stretch of consecutive producerSeqs.
 */
export function encodeClientRequest(request: ordo.ClientRequest.$Properties): Uint8Array {
  const publish = request.publish;
  if (publish != null && publish.items != null && publish.items.length > 0)
    return encodePublishFrame(
      request.requestId ?? 0,
      publish.producerId ?? '',
      publish.ackMode ?? 0,
      publish.items as PackedPublishItem[],
    );
  return ordo.ClientRequest.encode(request).finish();
}

/** Protobuf tags (field number << 3 | wire type) of the fields a publish frame holds. */
const TAG_REQUEST_ID = (1 << 3) | 0;
const TAG_PUBLISH = (10 << 3) | 2;
const TAG_PRODUCER_ID = (1 << 3) | 2;
const TAG_ACK_MODE = (2 << 3) | 0;
const TAG_PACKED_ITEMS = (60 << 3) | 2;
/** Most bytes the fields of a publish frame take before its packed items, but the producer id's own. */
const PUBLISH_HEADER_MAX_BYTES = 1 + 8 + 1 + 8 + 1 + 3 + 1 + 8 + 2 + 8;

/**
 * The frame of a publish request, as `ordo.ClientRequest.encode` would make
 * it: `request_id`, then `publish` holding `producer_id`, `ack_mode` and
 * `packed_items`. The items are packed once, behind room for these fields,
 * which are written in front of them once their lengths are known: through
 * protobufjs the packed bytes were copied a second time, and that with its
 * bookkeeping was a tenth of a saturated publisher's CPU. A test checks
 * that protobufjs decodes it to what it encodes itself.
 */
function encodePublishFrame(
  id: number,
  producerId: string,
  ackMode: number,
  items: readonly PackedPublishItem[],
): Uint8Array {
  invariant(
    Number.isSafeInteger(id) && id >= 0 && Number.isSafeInteger(ackMode) && ackMode >= 0,
    'a publish frame takes a request id and an ack mode that are non-negative integers',
  );
  const producerIdBytes = Buffer.byteLength(producerId);
  const headroom = PUBLISH_HEADER_MAX_BYTES + producerIdBytes;
  const w = packPublishItemsAfter(items, headroom);
  const packedBytes = w.pos - headroom;
  const publishBytes =
    1 +
    varintBytes(producerIdBytes) +
    producerIdBytes +
    (ackMode === 0 ? 0 : 1 + varintBytes(ackMode)) +
    2 +
    varintBytes(packedBytes) +
    packedBytes;
  const headerBytes =
    (id === 0 ? 0 : 1 + varintBytes(id)) +
    1 +
    varintBytes(publishBytes) +
    (publishBytes - packedBytes);
  const end = w.pos;
  const start = headroom - headerBytes;
  w.pos = start;
  if (id !== 0) {
    w.byte(TAG_REQUEST_ID);
    w.varint(id);
  }
  w.byte(TAG_PUBLISH);
  w.varint(publishBytes);
  w.byte(TAG_PRODUCER_ID);
  w.varint(producerIdBytes);
  w.utf8(producerId, producerIdBytes);
  if (ackMode !== 0) {
    w.byte(TAG_ACK_MODE);
    w.varint(ackMode);
  }
  w.varint(TAG_PACKED_ITEMS);
  w.varint(packedBytes);
  if (w.pos !== headroom)
    invariant(false, `publish header: wrote ${w.pos - start} of ${headerBytes} bytes`);
  return w.out.subarray(start, end);
}

/**
 * The answer to a packed publish: its OK results (`okSeqs[i] > 0`: item i
 * got that seq) move into `packed_ok` as runs of consecutive producerSeq
 * and seq; every other result (`others[i]`, set where `okSeqs[i]` is 0)
 * stays in `results`. A node answers this way only a client that sent its
 * publish packed.
 */
export function packPublishResults(
  producerSeqs: readonly number[],
  okSeqs: readonly number[],
  others: readonly (ordo.PublishResult.$Properties | undefined)[],
): Pick<ordo.PublishResponse.$Properties, 'results' | 'packedOk'> {
  const rest: ordo.PublishResult.$Properties[] = [];
  let anyOk = false;
  for (let i = 0; i < okSeqs.length; i++) {
    if (okSeqs[i]! > 0) anyOk = true;
    else rest.push(others[i]!);
  }
  return anyOk
    ? { results: rest, packedOk: encodePackedOkResults(producerSeqs, okSeqs) }
    : { results: rest };
}

export function encodeClientResponse(response: ordo.ClientResponse.$Properties): Uint8Array {
  return ordo.ClientResponse.encode(response).finish();
}

/**
 * Decodes a request from a client and checks every field a node relies on.
 * Throws FrameError with a message fit to send back to the client.
 */
export function decodeClientRequest(bytes: Uint8Array): ClientRequest {
  checkFrameSize(bytes, LIMITS.maxFrameBytes);
  const request = decodeOrThrow('client request', () => ordo.ClientRequest.decode(bytes));
  validateClientRequest(request);
  return request as unknown as ClientRequest;
}

function validateClientRequest(request: ordo.ClientRequest): void {
  checkUint(request.requestId, 'requestId');
  switch (request.body) {
    case 'publish': {
      const p = request.publish!;
      checkString(p.producerId, 'publish.producerId', LIMITS.maxProducerIdBytes, false);
      if (p.packedItems != null && p.packedItems.length > 0) {
        if (p.items != null && p.items.length > 0)
          throw new FrameError('malformed', 'publish carries both items and packed items');
        // Unpacked into the field the node reads, the payloads as views of
        // the frame; packedItems stays set: the node answers in kind.
        // The decoder checked every item as the loop below does, and that
        // there is at least one.
        p.items = decodePackedPublishItems(
          p.packedItems,
          LIMITS.maxBatchEntries,
          'publish.packedItems',
        ) as unknown as ordo.PublishItem[];
        return;
      }
      const items = p.items ?? [];
      if (items.length === 0) throw new FrameError('malformed', 'publish has no items');
      if (items.length > LIMITS.maxBatchEntries) {
        throw new FrameError(
          'too-large',
          `publish has ${items.length} items, the limit is ${LIMITS.maxBatchEntries}`,
        );
      }
      items.forEach((item, i) => {
        const seq = checkUint(item.producerSeq, `publish.items[${i}].producerSeq`);
        if (seq < 1)
          throw new FrameError('malformed', `publish.items[${i}].producerSeq must start at 1`);
        checkString(item.topic, `publish.items[${i}].topic`, LIMITS.maxTopicBytes, false);
        if ((item.payload?.length ?? 0) > LIMITS.maxPayloadBytes) {
          throw new FrameError(
            'too-large',
            `publish.items[${i}].payload exceeds ${LIMITS.maxPayloadBytes} bytes`,
          );
        }
      });
      return;
    }
    case 'subscribe': {
      const s = request.subscribe!;
      checkUint(s.subscriptionId, 'subscribe.subscriptionId');
      checkSeq(s.fromSeq, 'subscribe.fromSeq');
      checkUint(s.windowEntries, 'subscribe.windowEntries');
      const topics = s.topics ?? [];
      if (topics.length > LIMITS.maxTopicsPerSubscription) {
        throw new FrameError(
          'too-large',
          `subscribe names ${topics.length} topics, the limit is ${LIMITS.maxTopicsPerSubscription}`,
        );
      }
      for (const [i, topic] of topics.entries()) {
        checkString(topic, `subscribe.topics[${i}]`, LIMITS.maxTopicBytes, false);
      }
      return;
    }
    case 'subscriberAck':
      checkUint(request.subscriberAck!.subscriptionId, 'subscriberAck.subscriptionId');
      checkSeq(request.subscriberAck!.ackedSeq, 'subscriberAck.ackedSeq');
      return;
    case 'subscriberNack':
      checkUint(request.subscriberNack!.subscriptionId, 'subscriberNack.subscriptionId');
      checkSeq(request.subscriberNack!.fromSeq, 'subscriberNack.fromSeq');
      return;
    case 'unsubscribe':
      checkUint(request.unsubscribe!.subscriptionId, 'unsubscribe.subscriptionId');
      return;
    case 'status':
    case 'readIndex':
      return;
    case 'transferLeader':
      checkString(
        request.transferLeader!.targetId,
        'transferLeader.targetId',
        LIMITS.maxNodeIdBytes,
        false,
      );
      return;
    case 'members': {
      const m = request.members!;
      if (!['list', 'add', 'remove'].includes(m.action ?? ''))
        throw new FrameError(
          'malformed',
          `members.action must be list, add or remove, got ${JSON.stringify(m.action)}`,
        );
      checkString(m.nodeId, 'members.nodeId', LIMITS.maxNodeIdBytes, m.action === 'list');
      const a = m.address;
      if (a !== null && a !== undefined) {
        checkString(a.host, 'members.address.host', LIMITS.maxNodeIdBytes * 4, false);
        for (const [name, port] of [
          ['clientPort', a.clientPort],
          ['peerPort', a.peerPort],
          ['pubPort', a.pubPort],
          ['httpPort', a.httpPort],
        ] as const) {
          if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535)
            throw new FrameError('malformed', `members.address.${name} must be a port`);
        }
      }
      return;
    }
    case 'replicaReport': {
      const r = request.replicaReport!;
      checkString(r.replicaId, 'replicaReport.replicaId', LIMITS.maxReplicaNameBytes, false);
      checkString(r.plugin, 'replicaReport.plugin', LIMITS.maxReplicaNameBytes, true);
      checkSeq(r.appliedSeq, 'replicaReport.appliedSeq');
      checkSeq(r.digestSeq, 'replicaReport.digestSeq');
      checkString(r.digest, 'replicaReport.digest', LIMITS.maxReplicaNameBytes, true);
      return;
    }
    case 'putSnapshotChunk': {
      const c = request.putSnapshotChunk!;
      checkString(c.plugin, 'putSnapshotChunk.plugin', LIMITS.replicaMaxNameBytes, false);
      checkString(c.replicaId, 'putSnapshotChunk.replicaId', LIMITS.maxReplicaNameBytes, false);
      checkSeq(c.seq, 'putSnapshotChunk.seq');
      if (typeof c.digest !== 'string' || !/^[0-9a-f]{64}$/.test(c.digest))
        throw new FrameError('malformed', 'putSnapshotChunk.digest must be a SHA-256 in hex');
      const total = checkSeq(c.totalBytes, 'putSnapshotChunk.totalBytes');
      if (total > LIMITS.maxReplicaSnapshotBytes)
        throw new FrameError(
          'too-large',
          `snapshot of ${total} bytes exceeds ${LIMITS.maxReplicaSnapshotBytes} bytes`,
        );
      const chunkBytes = checkUint(c.chunkBytes, 'putSnapshotChunk.chunkBytes');
      if (chunkBytes < 1 || chunkBytes > LIMITS.snapshotChunkBytes)
        throw new FrameError(
          'malformed',
          `putSnapshotChunk.chunkBytes must be 1 to ${LIMITS.snapshotChunkBytes}, got ${chunkBytes}`,
        );
      checkUint(c.index, 'putSnapshotChunk.index');
      if (!c.probe && (c.sha256?.length ?? 0) !== 32)
        throw new FrameError('malformed', 'putSnapshotChunk.sha256 must be 32 bytes');
      if ((c.data?.length ?? 0) > chunkBytes)
        throw new FrameError('too-large', `snapshot chunk exceeds its chunkBytes (${chunkBytes})`);
      return;
    }
    case 'getSnapshotChunk': {
      const g = request.getSnapshotChunk!;
      checkString(g.plugin, 'getSnapshotChunk.plugin', LIMITS.replicaMaxNameBytes, false);
      checkSeq(g.seq, 'getSnapshotChunk.seq');
      checkUint(g.index, 'getSnapshotChunk.index');
      return;
    }
    default:
      throw new FrameError('malformed', 'client request has no body');
  }
}

/**
 * The OK results of a publish answer, as the runs they travel in: a
 * publisher settles its messages from these, one run per batch, with no
 * result object per message. The runs were checked by
 * decodeClientResponse; reading them again is a few varints.
 */
export function okRunsOf(publish: ordo.PublishResponse.$Properties): OkRun[] {
  const packed = publish.packedOk;
  if (packed == null || packed.length === 0) return [];
  return decodePackedOkRuns(packed, LIMITS.maxBatchEntries, 'publish.packedOk');
}

/**
 * Every result of a publish answer, the OK runs spelled out, in producerSeq
 * order: for tools and tests that look at a few results at a time.
 */
export function publishResultsOf(
  publish: ordo.PublishResponse.$Properties,
): ordo.PublishResult.$Properties[] {
  const results: ordo.PublishResult.$Properties[] = [...(publish.results ?? [])];
  for (const run of okRunsOf(publish)) {
    for (let k = 0; k < run.count; k++) {
      results.push({
        producerSeq: run.producerSeq + k,
        status: ordo.PublishStatus.PUBLISH_STATUS_OK,
        seq: run.seq + k,
        detail: '',
        expectedProducerSeq: 0,
      });
    }
  }
  return results.sort((a, b) => (a.producerSeq ?? 0) - (b.producerSeq ?? 0));
}

/** Decodes a node's response on the client side; a broken one is a FrameError. */
export function decodeClientResponse(bytes: Uint8Array): ClientResponse {
  checkFrameSize(bytes, LIMITS.maxFrameBytes);
  const response = decodeOrThrow('client response', () => ordo.ClientResponse.decode(bytes));
  if (response.body === 'publish') {
    // Checked here, where a broken frame is dropped, and read as runs again
    // by the publisher: a batch's acks never become an object per message.
    okRunsOf(response.publish!);
  }
  if (response.body === 'delivery') {
    const d = response.delivery!;
    const fromSeq = checkSeq(d.fromSeq, 'delivery.fromSeq');
    const toSeq = checkSeq(d.toSeq, 'delivery.toSeq');
    const packed = d.packedEntries;
    if (packed != null && packed.length > 0) {
      if (d.entries != null && d.entries.length > 0)
        throw new FrameError('malformed', 'delivery carries both entries and packed entries');
      if (toSeq < fromSeq)
        throw new FrameError('malformed', `delivery range [${fromSeq}, ${toSeq}] is empty`);
      // Unpacked here once, into the field readers already know: the
      // payloads stay views into the received frame.
      d.entries = decodePackedEntries(
        packed,
        { firstSeq: fromSeq, lastSeq: toSeq },
        'delivery.packedEntries',
      ) as unknown as ordo.Entry[];
      d.packedEntries = new Uint8Array(0);
      return response;
    }
    let previous = fromSeq - 1;
    (d.entries ?? []).forEach((raw, i) => {
      const entry = validateEntry(raw as ordo.Entry, `delivery.entries[${i}]`);
      if (entry.seq <= previous || entry.seq > toSeq) {
        throw new FrameError(
          'malformed',
          `delivery entry seq ${entry.seq} is outside [${fromSeq}, ${toSeq}] or out of order`,
        );
      }
      previous = entry.seq;
    });
  }
  return response;
}
