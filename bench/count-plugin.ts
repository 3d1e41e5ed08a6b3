/**
 * The state machine of the replicas benchmark: it counts the messages and
 * payload bytes it applied and folds every payload into a running FNV-1a
 * hash, so that applying costs a pass over the bytes (as any real plugin's
 * decode would) and replicas can still be compared by digest.
 */
import type { Message, StateMachine } from '../clients/index.js';

export const pluginName = 'bench-count';

interface CountState {
  messages: number;
  bytes: number;
  hash: number;
}

export default function createCounter(): StateMachine<unknown, CountState> {
  const state: CountState = { messages: 0, bytes: 0, hash: 0x811c9dc5 };
  return {
    apply(message: Message): void {
      // An indexed loop over int32 values, made unsigned once at the end:
      // iterating the view with for...of (the iterator protocol), or keeping
      // the hash unsigned inside the loop (a uint32 above 2^31 is a double to
      // V8), each cost several times as much for the same pass.
      const payload = message.payload;
      let hash = state.hash | 0;
      for (let i = 0; i < payload.length; i++) hash = Math.imul(hash ^ payload[i]!, 0x01000193);
      state.hash = hash >>> 0;
      state.messages++;
      state.bytes += payload.length;
    },
    snapshot(): Uint8Array {
      return new TextEncoder().encode(JSON.stringify(state));
    },
    restore(snapshot: Uint8Array): void {
      Object.assign(state, JSON.parse(new TextDecoder().decode(snapshot)) as CountState);
    },
    query(): CountState {
      return { ...state };
    },
  };
}
