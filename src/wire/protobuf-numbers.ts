/**
 * Makes protobufjs decode 64-bit integers as plain JavaScript numbers. It
 * must run before the generated code is evaluated (which computes field
 * defaults at load time), so schema.ts imports this module first.
 */
import protobuf from 'protobufjs/minimal.js';

protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();
