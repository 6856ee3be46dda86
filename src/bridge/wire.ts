// The bridge's wire format: batches of messages, each with its origin, its
// sequence number at the origin and the bridges it crossed. Little-endian.
// Everything decoded here comes from the network and is checked before use.
//
//   frame  = header (32 bytes) + count × (entry header (24 bytes) + payload)
//   header : magic u32 "RCBF" | version u16 | type u16 | count u32 |
//            bodyBytes u32 | sender u64 | reserved u64
//   entry  : origin u64 | originSeq u64 | hops u32 | length u32
//
// An entry header has the layout of the ring's struct rc_envelope, with
// `length` where the envelope keeps a reserved zero: the inbound side turns an
// entry into envelope + payload in place and publishes it without a copy.
import { RingcastError } from '../errors.js';
import { C } from '../native.js';

export const FRAME_MAGIC = 0x46424352; // "RCBF"
export const WIRE_VERSION = 1;
export const FRAME_BATCH = 1;
export const FRAME_HEADER_BYTES = 32;
export const ENTRY_HEADER_BYTES = 24;
/** Bridges a message may cross before it is dropped as looping. */
export const MAX_HOPS_LIMIT = 255;

if (ENTRY_HEADER_BYTES !== C.RC_ENVELOPE_SIZE) throw new Error('bridge entry header and rc_envelope disagree');

/** Thrown for a frame that breaks the format; names what is wrong. */
export class WireError extends RingcastError {
  constructor(detail: string) {
    super('ERR_RINGCAST_CORRUPT', `malformed bridge frame: ${detail}`);
    this.name = 'WireError';
  }
}

/** Fills one frame with entries; `finish()` returns it ready to send. */
export class FrameBuilder {
  readonly buffer: Buffer;
  #used = FRAME_HEADER_BYTES;
  #count = 0;

  constructor(capacity: number, sender: bigint) {
    this.buffer = Buffer.allocUnsafe(capacity);
    this.buffer.writeUInt32LE(FRAME_MAGIC, 0);
    this.buffer.writeUInt16LE(WIRE_VERSION, 4);
    this.buffer.writeUInt16LE(FRAME_BATCH, 6);
    this.buffer.writeBigUInt64LE(sender, 16);
    this.buffer.writeBigUInt64LE(0n, 24);
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#used;
  }

  /** Room for a payload of `length` bytes? */
  fits(length: number): boolean {
    return this.#used + ENTRY_HEADER_BYTES + length <= this.buffer.length;
  }

  add(origin: bigint, originSeq: number, hops: number, payload: Uint8Array): void {
    const at = this.#used;
    const b = this.buffer;
    b.writeBigUInt64LE(origin, at);
    writeSeq(b, at + 8, originSeq);
    b.writeUInt32LE(hops, at + 16);
    b.writeUInt32LE(payload.length, at + 20);
    b.set(payload, at + ENTRY_HEADER_BYTES);
    this.#used = at + ENTRY_HEADER_BYTES + payload.length;
    this.#count++;
  }

  finish(): Buffer {
    this.buffer.writeUInt32LE(this.#count, 8);
    this.buffer.writeUInt32LE(this.#used - FRAME_HEADER_BYTES, 12);
    return this.buffer.subarray(0, this.#used);
  }
}

/** One message of a decoded frame; `at` is where its entry header starts. */
export interface WireEntry {
  at: number;
  origin: bigint;
  originSeq: number;
  hops: number;
  length: number;
}

export interface DecodedFrame {
  sender: bigint;
  entries: WireEntry[];
}

/**
 * Bytes the frame starting at `buffer[0]` occupies, once its header is in:
 * lets a stream reader cut frames apart. Throws on a header that cannot start
 * a frame; `maxBytes` bounds what a peer can make us buffer.
 */
export function frameLength(buffer: Buffer, maxBytes: number): number {
  checkHeader(buffer);
  const total = FRAME_HEADER_BYTES + buffer.readUInt32LE(12);
  if (total > maxBytes) throw new WireError(`${total} bytes exceed the limit of ${maxBytes}`);
  return total;
}

/** Decodes and checks a whole frame (exactly one, nothing after it). */
export function decodeFrame(frame: Buffer, maxHops: number): DecodedFrame {
  if (frame.length < FRAME_HEADER_BYTES) throw new WireError(`${frame.length} bytes is shorter than a header`);
  checkHeader(frame);
  const count = frame.readUInt32LE(8);
  const bodyBytes = frame.readUInt32LE(12);
  if (FRAME_HEADER_BYTES + bodyBytes !== frame.length) {
    throw new WireError(`header says ${bodyBytes} body bytes, frame has ${frame.length - FRAME_HEADER_BYTES}`);
  }
  if (count > bodyBytes / ENTRY_HEADER_BYTES) throw new WireError(`${count} entries cannot fit in ${bodyBytes} bytes`);
  const entries: WireEntry[] = new Array(count);
  let at = FRAME_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (frame.length - at < ENTRY_HEADER_BYTES) throw new WireError(`entry ${i} header runs past the frame`);
    const length = frame.readUInt32LE(at + 20);
    if (length > frame.length - at - ENTRY_HEADER_BYTES) throw new WireError(`entry ${i} of ${length} bytes runs past the frame`);
    const hops = frame.readUInt32LE(at + 16);
    if (hops > maxHops) throw new WireError(`entry ${i} claims ${hops} hops (limit ${maxHops})`);
    if (frame.readUInt32LE(at + 12) >= 0x20_0000) throw new WireError(`entry ${i} has a sequence number beyond 2^53`);
    entries[i] = { at, origin: frame.readBigUInt64LE(at), originSeq: readSeq(frame, at + 8), hops, length };
    at += ENTRY_HEADER_BYTES + length;
  }
  if (at !== frame.length) throw new WireError(`${frame.length - at} bytes after the last entry`);
  return { sender: frame.readBigUInt64LE(16), entries };
}

/**
 * Turns entry `e` of `frame` into envelope + payload, in place: one more hop,
 * the length field zeroed (the envelope's reserved field). Returns the view
 * to publish on an envelope bus.
 */
export function toEnvelope(frame: Buffer, e: WireEntry): Buffer {
  frame.writeUInt32LE(e.hops + 1, e.at + 16);
  frame.writeUInt32LE(0, e.at + 20);
  return frame.subarray(e.at, e.at + ENTRY_HEADER_BYTES + e.length);
}

/** Reads an envelope at the start of `message` (a kept envelope from a bridged bus). */
export function readEnvelope(message: Uint8Array): { origin: bigint; originSeq: number; hops: number } {
  const view = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  return { origin: view.readBigUInt64LE(0), originSeq: readSeq(view, 8), hops: view.readUInt32LE(16) };
}

function checkHeader(buffer: Buffer): void {
  const magic = buffer.readUInt32LE(0);
  if (magic !== FRAME_MAGIC) throw new WireError(`bad magic 0x${magic.toString(16)}`);
  const version = buffer.readUInt16LE(4);
  if (version !== WIRE_VERSION) throw new WireError(`unsupported version ${version} (this side speaks ${WIRE_VERSION})`);
  const type = buffer.readUInt16LE(6);
  if (type !== FRAME_BATCH) throw new WireError(`unknown frame type ${type}`);
}

// Sequence numbers stay below 2^53 (a bus would need centuries to get there),
// so they travel as two 32-bit halves and live as plain numbers.
function writeSeq(b: Buffer, at: number, seq: number): void {
  b.writeUInt32LE(seq % 0x1_0000_0000, at);
  b.writeUInt32LE(Math.floor(seq / 0x1_0000_0000), at + 4);
}

function readSeq(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x1_0000_0000;
}
