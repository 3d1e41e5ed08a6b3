import { createCipheriv, createHash } from 'node:crypto';
import type { Message, StateMachine } from '../../clients/index.js';

/**
 * A test plugin with a big state: ORDO_TEST_BIG_STATE_BYTES (default
 * 256 MiB) of pseudo-random bytes drawn from a fixed seed (AES-128-CTR key
 * stream, generated in 4 MiB pieces) by the first message (the state before
 * it is empty, so that a replica starts at once); each message overwrites
 * 32 bytes at a place its payload's hash picks with that hash.
 */
export const pluginName = 'big-state';

export const bigStateSeed = 'ordo-big-state-seed-1';

const sizeBytes = Number(process.env['ORDO_TEST_BIG_STATE_BYTES'] ?? 256 * 1024 * 1024);

export function seededBytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const out = Buffer.allocUnsafe(size);
  const zeros = Buffer.alloc(Math.min(size, 4 * 1024 * 1024));
  for (let offset = 0; offset < size; offset += zeros.length) {
    const piece = cipher.update(zeros.subarray(0, Math.min(zeros.length, size - offset)));
    piece.copy(out, offset);
  }
  return out;
}

export default function bigState(): StateMachine {
  let state: Buffer | null = null;
  const bytes = () => {
    state ??= seededBytes(sizeBytes, bigStateSeed);
    return state;
  };
  return {
    apply(message: Message) {
      const b = bytes();
      const hash = createHash('sha256').update(message.payload).digest();
      hash.copy(b, hash.readUInt32BE(0) % (b.length - hash.length));
    },
    // A copy: the host writes these bytes while this state applies on.
    snapshot: () => (state === null ? new Uint8Array() : Buffer.from(state)),
    // A copy: the bytes given belong to the host.
    restore(data: Uint8Array) {
      state = data.length === 0 ? null : Buffer.from(data);
    },
  };
}
