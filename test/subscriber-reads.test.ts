// The copy path's two ways out of the ring: a few small messages through a
// reused scratch buffer, each then copied into a Buffer of its own (what a
// busy-polled round trip meets), and anything more (a backlog, a long
// message) as one batch buffer. Whichever way, every message comes once, in
// order, intact, and a message kept by the application is never overwritten
// by later reads.
import { afterEach, describe, expect, it } from 'vitest';
import { Subscriber, type Publisher, type PublisherOptions } from '../src/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, fixtures, isNumbered, listen, numbered, opened, runCommand, spawned } from './helpers.js';

afterEach(cleanup);

async function pair(options: Partial<PublisherOptions> = {}): Promise<{ publisher: Publisher; subscriber: Subscriber }> {
  const { path, publisher } = await listen(options);
  const subscriber = await Subscriber.connect({ path });
  opened.push(subscriber);
  return { publisher, subscriber };
}

describe('copy reads', () => {
  it('hand out lone small messages, small groups, backlogs and long messages in order, intact, never reused', async () => {
    const { publisher, subscriber } = await pair();
    const kept: Array<[Buffer, number]> = [];
    let sent = 0;
    let received = 0;
    const send = (size: number): void => {
      expect(publisher.offer(numbered(sent, size))).toBe(true);
      sent++;
    };
    const drain = (): void => {
      for (;;) {
        const message = subscriber.tryRecv();
        if (message === undefined) break;
        expect(message).not.toBeNull();
        expect(isNumbered(message!, received), `message ${received}`).toBe(true);
        kept.push([message!, received++]);
      }
    };
    for (let round = 0; round < 100; round++) {
      send(8 + (round % 61)); // alone: the scratch buffer
      drain();
      for (let i = 0; i < 5; i++) send(64 + round); // a small group: the scratch buffer
      drain();
      for (let i = 0; i < 40; i++) send(16 + i); // a backlog: one batch buffer
      drain();
      send(5000 + round); // longer than the scratch buffer: a batch buffer
      send(8); // then small again
      drain();
    }
    expect(received).toBe(sent);
    // Later reads reused the scratch buffer; what was handed out stayed as it was.
    for (const [message, seq] of kept) expect(isNumbered(message, seq), `kept message ${seq}`).toBe(true);
  });

  it('reassemble messages fragmented into small records, whichever way their fragments come', async () => {
    const { publisher, subscriber } = await pair({ maxPayload: 256 });
    // 1000 bytes: 4 records, taken together through the scratch buffer;
    // 3000 bytes: 12 records, more than it takes at once, so a batch buffer.
    const sizes = [1000, 3000, 1000, 100, 3000];
    for (const [seq, size] of sizes.entries()) {
      await publisher.publish(numbered(seq, size));
      const message = await subscriber.recv();
      expect(message!.length).toBe(size);
      expect(isNumbered(message!, seq)).toBe(true);
    }
  });

  it('copy a large fragmented message into memory an earlier one left, not into fresh pages', async (ctx) => {
    // Under test/asan-node.sh the sanitizer's interceptors touch shadow pages for every copy: the faults are not the program's.
    if (/libasan/.test(process.env.LD_PRELOAD ?? '')) ctx.skip('AddressSanitizer is preloaded: page faults are the sanitizer\'s shadow memory, not the program\'s');
    // 32 MiB is above glibc's mmap threshold: a Buffer of its own would be a
    // fresh mapping, faulted in a page (4 KiB) at a time as the fragments land.
    const size = 32 << 20;
    const dir = mkdtempSync(join(tmpdir(), 'ringcast-large-'));
    try {
      const reader = runCommand(process.execPath, ['--expose-gc', join(fixtures, 'large-reuse.mjs'), dir, String(size)]);
      spawned.push(reader.child);
      const result = JSON.parse(await reader.line(/secondFaults/, 60_000)) as { firstFaults: number; secondFaults: number; intact: boolean };
      expect(result.intact).toBe(true);
      expect(result.firstFaults).toBeGreaterThan(size / 4096 / 2); // the first one had to be faulted in
      expect(result.secondFaults).toBeLessThan(size / 4096 / 8); // the second reused its memory
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hand out 16 MiB messages that a young-generation collection frees, not one mark-compact per four', async () => {
    // test/fixtures/large-collected.mjs: 32 messages of 16 MiB through a 4 MiB ring read with `for await`,
    // each dropped at once. A Buffer over memory of the addon's own survives scavenges (Node's weak handle
    // on it is strong there), so V8 freed them in a mark-compact per 64 MiB handed out: 8 for 32 messages.
    // From V8's own allocator (glibc's heap) they die young: 0 to 2 measured.
    const size = 16 << 20;
    const count = 32;
    const dir = mkdtempSync(join(tmpdir(), 'ringcast-collected-'));
    try {
      const reader = runCommand(process.execPath, [join(fixtures, 'large-collected.mjs'), dir, String(size), String(count)]);
      spawned.push(reader.child);
      const result = JSON.parse(await reader.line(/faultsPerMessage/, 120_000)) as { received: number; intact: boolean; major: number; minor: number };
      expect(result.received).toBe(count);
      expect(result.intact).toBe(true);
      expect(result.major).toBeLessThanOrEqual(count / 8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keep large copied messages intact while they are held, and reuse the memory of those collected together', async (ctx) => {
    // test/fixtures/large-held.mjs: 1 to 33 MiB messages of random bytes through a 4 MiB ring, every
    // third kept, the others collected so their memory is reused; sha256 on arrival and at the end.
    // Then three 40 MiB messages (kept mappings) dropped and collected together, as V8 collects them, and three more.
    const dir = mkdtempSync(join(tmpdir(), 'ringcast-held-'));
    try {
      const reader = runCommand(process.execPath, ['--expose-gc', join(fixtures, 'large-held.mjs'), dir]);
      spawned.push(reader.child);
      const result = JSON.parse(await reader.line(/keptIntact/, 120_000)) as {
        received: number;
        intactOnArrival: boolean;
        keptIntact: boolean;
        kept: number;
        reusedFaults: number;
        freshFaults: number;
        burstFaults: number;
        burstBytes: number;
        burst: number;
      };
      expect(result.received).toBe(24 + 2 * result.burst);
      expect(result.intactOnArrival).toBe(true);
      expect(result.kept).toBe(8);
      expect(result.keptIntact).toBe(true);
      // The later messages did go into reused memory (else the check above proves nothing about reuse).
      if (/libasan/.test(process.env.LD_PRELOAD ?? '')) ctx.skip('AddressSanitizer is preloaded: page faults are the sanitizer\'s shadow memory, not the program\'s');
      expect(result.freshFaults).toBeGreaterThan((16 << 20) / 4096 / 2);
      expect(result.reusedFaults).toBeLessThan((16 << 20) / 4096 / 8);
      // All of them went back and served the next ones: less than half of one fresh message's pages.
      expect(result.burstFaults).toBeLessThan(result.burstBytes / 4096 / 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stream a large fragmented message into a buffer past the cache: its own from 1 MiB, poll()\'s reused one from 8 MiB', async () => {
    // Plain stores into a destination that is not in the cache read each line from memory first:
    // twice the traffic. A Buffer of its own is never in the cache; poll()'s reused buffer is at
    // 4 MiB (the last-level cache holds it between messages), not from 8 MiB on (subscriber_reads.h).
    const { publisher, subscriber } = await pair({ capacity: 1 << 20 });
    const MiB = 1 << 20;
    const viaPoll = async (seq: number, size: number): Promise<number> => {
      const before = subscriber._streamedBytes();
      const sent = publisher.publish(numbered(seq, size));
      let intact: boolean | null = null;
      while (intact === null) {
        if (subscriber.poll((view) => (intact = isNumbered(Buffer.from(view.buffer, view.byteOffset, view.length), seq))) === 0) await subscriber.readable();
      }
      await sent;
      expect(intact, `poll() of ${size} bytes`).toBe(true);
      return subscriber._streamedBytes() - before;
    };
    expect(await viaPoll(0, 4 * MiB)).toBe(0);
    expect(await viaPoll(1, 16 * MiB)).toBe(16 * MiB);
    expect(await viaPoll(2, 4 * MiB)).toBe(0); // the reused buffer is 16 MiB now; the message decides
    const before = subscriber._streamedBytes();
    const sent = publisher.publish(numbered(3, 4 * MiB));
    const message = await subscriber.recv();
    await sent;
    expect(isNumbered(message!, 3)).toBe(true);
    expect(subscriber._streamedBytes() - before).toBe(4 * MiB);
  });

  it('a subscriber does not spin for fragments: neither mid-message, nor after one, nor idle', async () => {
    // docs/protocol.md "Bounded spins on the large-message path": the core's spin for the next
    // fragment is off by default; only the publisher spins, for room. Messages of 4 MiB through a
    // 1 MiB ring, so every message is read while it is being written.
    const { publisher, subscriber } = await pair({ capacity: 1 << 20 });
    const size = 4 << 20;
    for (let seq = 0; seq < 3; seq++) {
      const sent = publisher.publish(numbered(seq, size));
      const message = await subscriber.recv();
      await sent;
      expect(isNumbered(message!, seq)).toBe(true);
    }
    for (let i = 0; i < 200; i++) expect(subscriber.tryRecv()).toBeUndefined();
    for (let seq = 3; seq < 100; seq++) publisher.offer(numbered(seq, 100));
    for (let seq = 3; seq < 100; seq++) expect(isNumbered((await subscriber.recv())!, seq)).toBe(true);
    for (let i = 0; i < 200; i++) expect(subscriber.tryRecv()).toBeUndefined();
    expect(subscriber._fragmentSpins()).toEqual({ spins: 0, found: 0 });
    const stats = publisher.stats();
    expect(stats.roomSpinsFound).toBeLessThanOrEqual(stats.roomSpins);
  });

  it('end the stream after the last small message', async () => {
    const { publisher, subscriber } = await pair();
    publisher.offer(numbered(0, 10));
    await publisher.close();
    expect(isNumbered((await subscriber.recv())!, 0)).toBe(true);
    expect(await subscriber.recv()).toBeNull();
    expect(subscriber.tryRecv()).toBeNull();
  });
});
