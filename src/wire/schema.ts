/**
 * The generated protobuf code, set up to decode 64-bit integers as plain
 * JavaScript numbers (exact below 2^53; the codecs reject larger values).
 * Import `ordo` from here, never from the generated file directly.
 */
import './protobuf-numbers.js';

export { ordo } from '../gen/ordo.js';
