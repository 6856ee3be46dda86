// One account of every loss: an EvictedError's messages agree with its bytes
// (both counted from what the subscriber read), and the subscriber's stats()
// count the eviction when it is reported, not only after a rejoin.
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EvictedError, Subscriber, type EvictionEvent, type GapEvent } from '../src/index.js';
import { cleanup, listen, numbered, opened } from './helpers.js';

afterEach(cleanup);

/** Bytes one record of a `size`-byte message takes in the ring: a 16-byte header, then 16-byte alignment. */
const recordBytes = (size: number) => 16 + Math.ceil(size / 16) * 16;

/**
 * Forges the ack of the only subscriber in this process: writes 2^64-1 into
 * its ack page (the read-write mapping of a ringcast ack memfd) through
 * /proc/self/mem, as a process with ptrace rights over it could.
 */
function forgeOwnAck(): void {
  const maps = readFileSync('/proc/self/maps', 'utf8').split('\n');
  const writable = maps.filter((line) => line.includes('ringcast-ack') && line.split(/\s+/)[1]!.startsWith('rw'));
  expect(writable).toHaveLength(1);
  const start = Number.parseInt(writable[0]!.split('-')[0]!, 16);
  const mem = openSync('/proc/self/mem', 'r+');
  try {
    writeSync(mem, Buffer.alloc(8, 0xff), 0, 8, start + 0x40); // rc_ack_page.ack
  } finally {
    closeSync(mem);
  }
}

describe('eviction accounting', () => {
  it('after a forged ack the EvictedError counts the messages of its own byte range, and stats() agree', async () => {
    const { path, publisher } = await listen({ capacity: 1 << 16 });
    const evictions: EvictionEvent[] = [];
    publisher.on('evict', (event: EvictionEvent) => evictions.push(event));
    const sub = await Subscriber.connect({ path });
    opened.push(sub);
    for (let seq = 0; seq < 100; seq++) await publisher.publish(numbered(seq, 64));
    publisher.stats(); // the publisher validates ack = join position: nothing read yet

    let read = 0;
    while (read < 60) read += sub.poll(() => undefined, 60 - read);
    forgeOwnAck();
    publisher.stats(); // finds the forged ack: evicted (protocol) from the last ack it validated

    expect(evictions).toHaveLength(1);
    // The publisher's account, from the last ack it saw: all 100.
    expect(evictions[0]).toMatchObject({ reason: 'protocol', lostBytes: 100 * recordBytes(64), lostMessages: 100 });
    const error = (await sub.recv().catch((e: unknown) => e)) as EvictedError;
    expect(error).toBeInstanceOf(EvictedError);
    // The subscriber's account, from what it read: the last 40, in bytes and in messages.
    expect(error).toMatchObject({ reason: 'protocol', lostBytes: 40 * recordBytes(64), lostMessages: 40 });
    expect(error.message).toContain(`(${40 * recordBytes(64)} bytes, 40 messages)`);
    expect(sub.stats()).toMatchObject({ delivered: 60, evictions: 1, lostBytes: error.lostBytes, lostMessages: 40 });
  });

  it('an eviction without rejoin is in stats() as the EvictedError says it, and a rejoin adds only the rest of the gap', async () => {
    const { path, publisher } = await listen({ policy: 'drop', capacity: 1 << 16 });
    const sub = await Subscriber.connect({ path });
    opened.push(sub);
    for (let seq = 0; seq < 10; seq++) publisher.offer(numbered(seq, 64));
    for (let seq = 0; seq < 10; seq++) expect((await sub.recv())!.readUInt32LE(0)).toBe(seq);
    for (let seq = 10; seq < 200; seq++) publisher.offer(numbered(seq, 1000)); // laps it: evicted (slow)
    const error = (await sub.recv().catch((e: unknown) => e)) as EvictedError;
    expect(error).toBeInstanceOf(EvictedError);
    expect(error.reason).toBe('slow');
    expect(error.lostMessages).toBeGreaterThan(0);
    expect(error.lostBytes).toBeGreaterThanOrEqual(error.lostMessages! * recordBytes(1000));
    expect(sub.stats()).toMatchObject({ evictions: 1, lostBytes: error.lostBytes, lostMessages: error.lostMessages });

    for (let seq = 200; seq < 205; seq++) publisher.offer(numbered(seq, 64)); // published while it is out
    const gap = once(sub, 'gap') as Promise<[GapEvent]>;
    await sub.rejoin();
    const [lost] = await gap;
    expect(lost.lostMessages).toBe(195); // 10..204: everything it did not receive
    expect(sub.stats()).toMatchObject({ evictions: 1, lostMessages: 195, lostBytes: lost.lostBytes });
  });
});
