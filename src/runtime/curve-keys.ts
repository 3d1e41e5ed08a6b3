import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  timingSafeEqual,
} from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { inspect } from 'node:util';
import * as zmq from 'zeromq';

/**
 * CurveZMQ keys and client credentials. Keys are Z85 text (40 characters
 * for 32 bytes), as ZeroMQ takes them. A secret key is held in a `Secret`,
 * which prints as `[secret]` in logs, errors, JSON and `inspect`, so that
 * it reaches only the socket option it is meant for.
 */

/** A credentials file, a key file or a key that cannot be used. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
  readonly retriable = false;
}

const Z85_ALPHABET =
  '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** True for a 40-character Z85 string (a 32-byte CurveZMQ key). */
export function isZ85Key(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 40) return false;
  for (const c of value) if (!Z85_ALPHABET.includes(c)) return false;
  return true;
}

/** Z85 text of bytes whose length is a multiple of 4 (a raw 32-byte key gives 40 characters). */
export function z85Encode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    let value =
      ((bytes[i]! << 24) >>> 0) + (bytes[i + 1]! << 16) + (bytes[i + 2]! << 8) + bytes[i + 3]!;
    const chunk: string[] = [];
    for (let j = 0; j < 5; j++) {
      chunk.unshift(Z85_ALPHABET[value % 85]!);
      value = Math.floor(value / 85);
    }
    out += chunk.join('');
  }
  return out;
}

/** A secret key: readable only through `reveal()`, never by printing it. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return '[secret]';
  }
}

export interface KeyPair {
  readonly publicKey: string;
  readonly secretKey: Secret;
}

export function newKeyPair(): KeyPair {
  const pair = zmq.curveKeyPair();
  return { publicKey: pair.publicKey, secretKey: new Secret(pair.secretKey) };
}

/** Writes a file only its owner may read or write (mode 0600), also when it existed before. */
export function writeOwnerOnlyFile(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/**
 * A secret key file as `ordo keygen` writes it: the Z85 secret key on its
 * first line. Refused when others may read it.
 */
export function loadSecretKeyFile(path: string): Secret {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CredentialsError(`cannot read secret key file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  checkOwnerOnly(path);
  const key = text.split('\n')[0]!.trim();
  if (!isZ85Key(key))
    throw new CredentialsError(`${path} does not hold a Z85 secret key (40 characters)`);
  return new Secret(key);
}

function checkOwnerOnly(path: string): void {
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0) {
    throw new CredentialsError(
      `${path} may be read by others (mode ${(mode & 0o777).toString(8)}): make it readable by its owner only (chmod 600)`,
    );
  }
}

/**
 * What a client needs on a secured cluster: its identity and key pair, and
 * each broker's public key by client endpoint (`tcp://host:port`).
 */
export interface Credentials {
  readonly identity: string;
  readonly publicKey: string;
  readonly secretKey: Secret;
  readonly brokerKeys: ReadonlyMap<string, string>;
}

/** The JSON form of a credentials file (the secret key in clear: the file is mode 0600). */
export function credentialsJson(
  identity: string,
  pair: KeyPair,
  brokerKeys: ReadonlyMap<string, string>,
): string {
  return `${JSON.stringify(
    {
      identity,
      publicKey: pair.publicKey,
      secretKey: pair.secretKey.reveal(),
      brokerKeys: Object.fromEntries(brokerKeys),
    },
    null,
    2,
  )}\n`;
}

export function parseCredentials(raw: unknown, source: string): Credentials {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CredentialsError(`${source} must be a JSON object`);
  const o = raw as Record<string, unknown>;
  const identity = o['identity'];
  if (typeof identity !== 'string' || identity.length === 0 || identity.length > 128)
    throw new CredentialsError(`${source}: identity must be a string of 1 to 128 characters`);
  if (!isZ85Key(o['publicKey']))
    throw new CredentialsError(`${source}: publicKey must be a Z85 key (40 characters)`);
  if (!isZ85Key(o['secretKey']))
    throw new CredentialsError(`${source}: secretKey must be a Z85 key (40 characters)`);
  const brokers = o['brokerKeys'];
  if (typeof brokers !== 'object' || brokers === null || Array.isArray(brokers))
    throw new CredentialsError(
      `${source}: brokerKeys must map each broker's client endpoint to its public key`,
    );
  const brokerKeys = new Map<string, string>();
  for (const [endpoint, key] of Object.entries(brokers)) {
    if (!isZ85Key(key))
      throw new CredentialsError(`${source}: brokerKeys['${endpoint}'] must be a Z85 key`);
    brokerKeys.set(normalizeTcpEndpoint(endpoint), key);
  }
  return {
    identity,
    publicKey: o['publicKey'] as string,
    secretKey: new Secret(o['secretKey'] as string),
    brokerKeys,
  };
}

export function loadCredentials(path: string): Credentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CredentialsError(
      `cannot read credentials file ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  checkOwnerOnly(path);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // The parser's message may quote the file, secret key included: not repeated.
    throw new CredentialsError(`credentials file ${path} is not valid JSON`);
  }
  return parseCredentials(raw, path);
}

/** The credentials named by ORDO_CREDENTIALS, or null when it is not set. */
export function credentialsFromEnvironment(): Credentials | null {
  const path = process.env['ORDO_CREDENTIALS'];
  return path === undefined || path === '' ? null : loadCredentials(path);
}

/** `host:port` or `tcp://host:port` as `tcp://host:port`. */
export function normalizeTcpEndpoint(endpoint: string): string {
  return endpoint.startsWith('tcp://') ? endpoint : `tcp://${endpoint}`;
}

/** The bytes of Z85 text whose length is a multiple of 5 (40 characters give a 32-byte key). */
export function z85Decode(text: string): Buffer {
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0, o = 0; i + 5 <= text.length; i += 5, o += 4) {
    let value = 0;
    for (let j = 0; j < 5; j++) value = value * 85 + Z85_ALPHABET.indexOf(text[i + j]!);
    out.writeUInt32BE(value >>> 0, o);
  }
  return out;
}

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/**
 * The X25519 secret two CurveZMQ key pairs share: what `ownSecret` and
 * `otherPublic` compute equals what the other side computes with its secret
 * and our public key. It keys the request tags below.
 */
export function sharedSecret(ownSecret: Secret, ownPublic: string, otherPublic: string): Buffer {
  const privateKey = createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'X25519',
      d: base64url(z85Decode(ownSecret.reveal())),
      x: base64url(z85Decode(ownPublic)),
    },
    format: 'jwk',
  });
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: base64url(z85Decode(otherPublic)) },
    format: 'jwk',
  });
  return diffieHellman({ privateKey, publicKey });
}

/** Bytes of a request tag: the client's raw public key, then an HMAC-SHA256 of the frame. */
export const REQUEST_TAG_BYTES = 64;

/**
 * The tag a client sends with each request frame on a secured cluster: its
 * raw public key and an HMAC-SHA256 of the frame under the secret it shares
 * with the broker. ZeroMQ authenticates the connection but does not tell
 * zeromq.js which key a frame came in under; the tag binds each request to
 * the identity that sent it, and only the holder of that identity's secret
 * key (or the broker's) can make it.
 */
export function requestTag(publicKey: string, shared: Buffer, frame: Uint8Array): Buffer {
  const tag = Buffer.alloc(REQUEST_TAG_BYTES);
  z85Decode(publicKey).copy(tag, 0);
  createHmac('sha256', shared).update(frame).digest().copy(tag, 32);
  return tag;
}

/** True when `tag` is the HMAC of `frame` under `shared` (compared in constant time). */
export function tagMatches(tag: Uint8Array, shared: Buffer, frame: Uint8Array): boolean {
  const expected = createHmac('sha256', shared).update(frame).digest();
  return timingSafeEqual(expected, Buffer.from(tag.subarray(32, REQUEST_TAG_BYTES)));
}
