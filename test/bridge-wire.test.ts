// The bridge's wire format against garbage: every mutation of a valid frame
// either decodes to entries that lie inside the frame or is refused with a
// WireError — never another exception (a RangeError would be an
// out-of-bounds read), never an entry pointing outside the frame.
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';

import { FrameReader } from '../src/bridge/transport.js';
import { decodeFrame, ENTRY_HEADER_BYTES, frameLength, FrameBuilder, FRAME_HEADER_BYTES, toEnvelope, WireError } from '../src/bridge/wire.js';

function validFrame(): Buffer {
  const builder = new FrameBuilder(4096, 0x1234n);
  const count = 1 + Math.floor(Math.random() * 6);
  for (let i = 0; i < count; i++) builder.add(BigInt(i + 1), i * 3, i % 4, randomBytes(Math.floor(Math.random() * 200)));
  return Buffer.from(builder.finish());
}

describe('bridge wire format', () => {
  it('round-trips entries and turns them into envelopes in place', () => {
    const builder = new FrameBuilder(1024, 99n);
    builder.add(0xfeedn, 2 ** 40 + 5, 2, Buffer.from('hello'));
    builder.add(0xbeefn, 0, 0, Buffer.alloc(0));
    const frame = builder.finish();
    const { sender, entries } = decodeFrame(frame, 8);
    expect(sender).toBe(99n);
    expect(entries.map(({ origin, originSeq, hops, length }) => ({ origin, originSeq, hops, length }))).toEqual([
      { origin: 0xfeedn, originSeq: 2 ** 40 + 5, hops: 2, length: 5 },
      { origin: 0xbeefn, originSeq: 0, hops: 0, length: 0 },
    ]);
    const envelope = toEnvelope(frame, entries[0]!);
    expect(envelope.readUInt32LE(16)).toBe(3); // one more hop
    expect(envelope.readUInt32LE(20)).toBe(0); // the envelope's reserved field
    expect(envelope.subarray(ENTRY_HEADER_BYTES).toString()).toBe('hello');
  });

  it('refuses every mutated frame cleanly or decodes it within bounds (20 000 mutations)', () => {
    let refused = 0;
    for (let trial = 0; trial < 20_000; trial++) {
      const frame = validFrame();
      const kind = trial % 4;
      if (kind === 0) frame[Math.floor(Math.random() * frame.length)]! ^= 1 << Math.floor(Math.random() * 8);
      else if (kind === 1) frame.writeUInt32LE(randomBytes(4).readUInt32LE(0), Math.floor(Math.random() * (frame.length - 3)));
      const input = kind === 2 ? frame.subarray(0, Math.floor(Math.random() * frame.length)) : kind === 3 ? Buffer.concat([frame, randomBytes(1 + (trial % 40))]) : frame;
      try {
        const { entries } = decodeFrame(input, 8);
        for (const e of entries) {
          expect(e.at).toBeGreaterThanOrEqual(FRAME_HEADER_BYTES);
          expect(e.at + ENTRY_HEADER_BYTES + e.length).toBeLessThanOrEqual(input.length);
          expect(e.hops).toBeLessThanOrEqual(8);
        }
      } catch (error) {
        if (!(error instanceof WireError)) throw error;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(5000); // truncations and extensions are always refused
  });

  it('bounds what a stream peer can make us buffer', () => {
    const frame = validFrame();
    frame.writeUInt32LE(0xffff_fff0, 12); // claims ~4 GiB of body
    expect(() => frameLength(frame, 64 << 20)).toThrow(/exceed the limit/);
    expect(() => frameLength(Buffer.alloc(32), 1 << 20)).toThrow(/bad magic/);
  });
});

// src/bridge/transport.ts cuts a TCP byte stream into frames.
describe('frame reader', () => {
  it('gives back the same frames however the stream is cut', () => {
    const frames = Array.from({ length: 40 }, validFrame);
    const stream = Buffer.concat(frames);
    for (const cut of [1, 2, 7, 31, 32, 33, 500, stream.length]) {
      const reader = new FrameReader(1 << 20);
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length; at += cut) got.push(...reader.push(stream.subarray(at, at + cut)).map((f) => Buffer.from(f)));
      expect(got).toEqual(frames);
      expect(reader.heldBytes).toBe(0);
    }
    const reader = new FrameReader(1 << 20);
    const got: Buffer[] = [];
    for (let at = 0; at < stream.length; ) {
      const cut = 1 + Math.floor(Math.random() * 300);
      got.push(...reader.push(stream.subarray(at, at + cut)).map((f) => Buffer.from(f)));
      at += cut;
    }
    expect(got).toEqual(frames);
  });

  it('a frame trickled a byte at a time costs at most about twice the bytes received', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const reader = new FrameReader((64 << 20) + 56);
    const header = new FrameBuilder(64, 1n).finish();
    header.writeUInt32LE(1, 8);
    header.writeUInt32LE(64 << 20, 12); // a 64 MiB body that never comes whole
    reader.push(Buffer.from(header));
    gc();
    const before = process.memoryUsage();
    const bytes = 1_000_000;
    for (let i = 0; i < bytes; i++) reader.push(Buffer.from([i & 0xff]));
    gc();
    const after = process.memoryUsage();
    const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
    expect(grown).toBeLessThan(4 * bytes);
  });
});
