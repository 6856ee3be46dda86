// The features of docs/architecture.md's table through the ivshmem provider,
// on the host as test/ivshmem.test.ts runs it (a real ivshmem server, the
// guests' devices replaced by files): zero-copy claims and reads, messages
// fragmented into many records, the `drop` policy, `maxLagBytes` and the
// heartbeat. Each guest is a real reader: the Node guest and the C guest
// (ringcast-ivshmem-guest) are processes of their own; the poll reader is a
// Subscriber in this process (zero-copy views cannot cross processes).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { EvictedError, Subscriber, type EvictionEvent, type Publisher, type PublisherOptions } from '../src/index.js';
import { cleanup, isNumbered, numbered, opened } from './helpers.js';
import { buildTools, cGuest, Checksums, lastJson, nodeGuest, removeVmDirs, vmBus, waitFor, type VmBus } from './ivshmem-bus.js';

beforeAll(buildTools);

afterEach(async () => {
  await cleanup();
  removeVmDirs();
});

async function guestIn(bus: VmBus, slot: number, options: { rejoin?: boolean } = {}): Promise<Subscriber> {
  const sub = await Subscriber.connect({ ivshmem: { ring: bus.ring, ack: bus.acks[slot]!, server: bus.server }, ...options });
  opened.push(sub);
  return sub;
}

/**
 * Reads `count` messages with zero-copy poll() until they are all there,
 * checking each is the next numbered one; resolves with their checksums.
 */
async function pollNumbered(sub: Subscriber, count: number): Promise<{ sha256: string; fnv1a: string; intact: boolean }> {
  const sums = new Checksums();
  let seq = 0;
  let intact = true;
  while (seq < count) {
    sub.poll((view) => {
      if (!isNumbered(Buffer.from(view.buffer, view.byteOffset, view.byteLength), seq)) intact = false;
      sums.add(view);
      seq++;
    });
    if (seq < count) await sub.readable();
  }
  return { ...sums.digest(), intact };
}

/** Resolves once the subscriber in `slot` has acknowledged everything published. */
async function caughtUp(publisher: Publisher, slot: number): Promise<void> {
  for (;;) {
    const lag = publisher.stats().subscribers.find((s) => s.slot === slot)?.lagBytes;
    if (lag === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Offers `count` numbered messages of 1000 bytes (~1 MB, 15 rings of 64 KiB)
 * to a bus that never waits (drop, or block with maxLagBytes), each accepted
 * at once, while the guest in `fastSlot` keeps up: it is let catch up every
 * 16 KB. Resolves with their checksums.
 */
async function offerKeepingUp(publisher: Publisher, fastSlot: number, count: number): Promise<{ sha256: string; fnv1a: string }> {
  const sums = new Checksums();
  for (let seq = 0; seq < count; seq++) {
    const message = numbered(seq, 1000);
    sums.add(message);
    expect(publisher.offer(message)).toBe(true); // never "no room": this bus does not wait
    if (seq % 16 === 15) await caughtUp(publisher, fastSlot);
  }
  return sums.digest();
}

describe('ivshmem provider: zero-copy and fragments', () => {
  it('claimed messages (claim, tryClaim, a shorter commit; an abort shows nothing) reach a Node guest, a C guest and a poll reader intact', async () => {
    const bus = await vmBus([{ name: 'node' }, { name: 'c' }, { name: 'poll' }]);
    const node = nodeGuest(bus, 0, 'count');
    const c = cGuest(bus, 1, 'count');
    await node.line(/^attached slot=0$/);
    await c.line(/^attached slot=1 /);
    const polled = pollNumbered(await guestIn(bus, 2), 1500);

    const sums = new Checksums();
    for (let seq = 0; seq < 1500; seq++) {
      const message = numbered(seq, 8 + ((seq * 97) % 1500)); // ~1.1 MB through a 64 KiB ring
      sums.add(message);
      if (seq % 100 === 50) {
        const aborted = await bus.publisher.claim(100);
        aborted.buffer.fill(0xee);
        aborted.abort();
      }
      if (seq % 2 === 0) {
        const claim = await bus.publisher.claim(message.length + 64);
        claim.buffer.set(message);
        claim.commit(message.length);
      } else {
        const claim = bus.publisher.tryClaim(message.length) ?? (await bus.publisher.claim(message.length));
        claim.buffer.set(message);
        claim.commit();
      }
    }
    const { sha256, fnv1a } = sums.digest();
    expect(await polled).toEqual({ sha256, fnv1a, intact: true });
    await bus.publisher.close();
    expect((await node.exited).code).toBe(0);
    expect((await c.exited).code).toBe(0);
    expect(lastJson(node)).toEqual({ received: 1500, inOrder: true, intact: true, sha256, error: null });
    expect(lastJson(c)).toEqual({ received: 1500, inOrder: true, intact: true, fnv1a, error: null });
  });

  it('messages of several MiB cross a 64 KiB ring in fragments and arrive whole in a Node guest, a C guest and a poll reader', async () => {
    const bus = await vmBus([{ name: 'node' }, { name: 'c' }, { name: 'poll' }], { capacity: 1 << 16 });
    const maxPayload = bus.publisher.maxPayload;
    // Whole and fragmented messages in turn, fragments of every boundary case.
    const sizes = [100, 4 * 1024 * 1024 + 3, 200, maxPayload, maxPayload + 1, 3 * 1024 * 1024, 8, 2 * maxPayload + 17, 1000];
    const node = nodeGuest(bus, 0, 'count');
    const c = cGuest(bus, 1, 'count');
    await node.line(/^attached slot=0$/);
    await c.line(/^attached slot=1 /);
    const polled = pollNumbered(await guestIn(bus, 2), sizes.length);

    const sums = new Checksums();
    for (const [seq, size] of sizes.entries()) {
      const message = numbered(seq, size);
      sums.add(message);
      await bus.publisher.publish(message);
    }
    const { sha256, fnv1a } = sums.digest();
    expect(await polled).toEqual({ sha256, fnv1a, intact: true });
    await bus.publisher.close();
    expect((await node.exited).code).toBe(0);
    expect((await c.exited).code).toBe(0);
    expect(lastJson(node)).toEqual({ received: sizes.length, inOrder: true, intact: true, sha256, error: null });
    expect(lastJson(c)).toEqual({ received: sizes.length, inOrder: true, intact: true, fnv1a, error: null });
  });
});

/**
 * A bus of two guests on a publisher that never waits (`options`): slot 0 is
 * a Subscriber in this process that reads nothing, slot 1 the C guest, kept
 * up with by offerKeepingUp. Resolves once the bus is closed and the fast
 * guest has ended, with the eviction the publisher reported and the error
 * the slow guest then got.
 */
async function overrunTheSlowOne(options: Partial<PublisherOptions>): Promise<{ event: EvictionEvent; error: unknown; publisher: Publisher }> {
  const bus = await vmBus([{ name: 'slow' }, { name: 'fast' }], options);
  const slow = await guestIn(bus, 0);
  const fast = cGuest(bus, 1, 'count');
  await fast.line(/^attached slot=1 /);
  const evicted = waitFor<EvictionEvent>(bus.publisher, 'evict');

  const { fnv1a } = await offerKeepingUp(bus.publisher, 1, 1000);
  const event = await evicted;
  const error = await slow.recv().catch((e: unknown) => e);
  await bus.publisher.close();
  expect((await fast.exited).code).toBe(0);
  expect(lastJson(fast)).toEqual({ received: 1000, inOrder: true, intact: true, fnv1a, error: null });
  return { event, error, publisher: bus.publisher };
}

describe('ivshmem provider: slow guests', () => {
  it('drop: the publisher never waits; a guest that stops reading is overrun and evicted (slow), a fast one gets everything', async () => {
    const { event, error, publisher } = await overrunTheSlowOne({ policy: 'drop' });
    expect(event).toMatchObject({ slot: 0, reason: 'slow', lostFrom: 0 });
    // Evicted when the next record would overwrite what it had not read: up to a ring behind.
    expect(event.lostBytes).toBeGreaterThan(publisher.capacity - 1100);
    expect(event.lostBytes).toBeLessThanOrEqual(publisher.capacity);
    expect(error).toBeInstanceOf(EvictedError);
    expect(error).toMatchObject({ reason: 'slow', lostFrom: 0, lostMessages: event.lostMessages });
    expect(publisher.stats().subscribers.find((s) => s.slot === 0)).toMatchObject({ state: 'evicted', evictions: 1 });
  });

  it('block + maxLagBytes: the publisher never waits; a guest that far behind is evicted (slow), a fast one gets everything', async () => {
    // evictAfterMs an hour: only the lag can evict within the test. A lag
    // bound below the capacity is a drop window: the fast guest must keep
    // within it too (docs/eviction.md).
    const { event, error } = await overrunTheSlowOne({ maxLagBytes: 40_000, evictAfterMs: 3_600_000 });
    expect(event).toMatchObject({ slot: 0, reason: 'slow', lostFrom: 0 });
    // Evicted once the next record would put it more than maxLagBytes behind, not later.
    expect(event.lostBytes).toBeGreaterThan(40_000 - 1100);
    expect(event.lostBytes).toBeLessThanOrEqual(40_000);
    expect(error).toBeInstanceOf(EvictedError);
    expect(error).toMatchObject({ reason: 'slow', lostFrom: 0, lostMessages: event.lostMessages });
  });

  it('heartbeat: a guest whose process is stopped (still attached to the server) is evicted dead; a live idle guest stays', async () => {
    // Far above the guests' heartbeat period (250 ms): a busy machine does not evict the idle one.
    const bus = await vmBus([{ name: 'frozen' }, { name: 'idle' }], { heartbeatTimeoutMs: 2000 });
    const frozen = nodeGuest(bus, 0, 'hold');
    const idle = nodeGuest(bus, 1, 'hold');
    await frozen.line(/^attached slot=0$/);
    await idle.line(/^attached slot=1$/);
    const evicted = waitFor<EvictionEvent>(bus.publisher, 'evict');
    frozen.child.kill('SIGSTOP');
    try {
      expect(await evicted).toMatchObject({ slot: 0, reason: 'dead' });
      // The idle guest read nothing either, but its heartbeat went on.
      expect(bus.publisher.stats().subscribers.map((s) => [s.slot, s.state])).toEqual([
        [0, 'evicted'],
        [1, 'active'],
      ]);
    } finally {
      frozen.child.kill('SIGCONT');
    }
  });
});
