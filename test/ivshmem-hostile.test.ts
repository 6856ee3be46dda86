// Hostile guests on the ivshmem path, on the host (test/ivshmem-bus.ts): a
// guest that floods join requests through shared memory and one whose acks
// flap (backwards, past head) and who rejoins after every eviction. The
// healthy guest gets every message, in order, intact, and the publisher
// counts each violation against the hostile guest's slot alone. A guest
// writing the ring is refused by QEMU (readonly=on), shown in test:vm.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EvictionEvent, Publisher, RefuseEvent } from '../src/index.js';
import { cleanup, numbered, type Proc } from './helpers.js';
import { buildTools, cGuest, removeVmDirs, vmBus } from './ivshmem-bus.js';

beforeAll(buildTools);
afterEach(async () => {
  await cleanup();
  removeVmDirs();
});

function lastJson(proc: Proc): Record<string, unknown> {
  return JSON.parse(proc.lines().at(-1)!) as Record<string, unknown>;
}

async function publishNumbered(publisher: Publisher, count: number): Promise<void> {
  for (let seq = 0; seq < count; seq++) await publisher.publish(numbered(seq, 8 + ((seq * 97) % 1500)));
}

/**
 * Publishes numbered messages until `until` settles (the publisher only
 * looks at acks while it publishes), letting timers and child processes in
 * every 100; returns how many.
 */
async function publishUntil(publisher: Publisher, until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => (done = true));
  let seq = 0;
  while (!done) {
    await publisher.publish(numbered(seq, 8 + ((seq * 97) % 1500)));
    if (++seq % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return seq;
}

describe('hostile guests on the ivshmem path', () => {
  it('a join-request flood through shared memory is answered request by request; the healthy guest is unaffected', async () => {
    const bus = await vmBus([{ name: 'healthy' }, { name: 'flooder' }]);
    const refusals: RefuseEvent[] = [];
    bus.publisher.on('refuse', (event) => refusals.push(event));
    const healthy = cGuest(bus, 0, 'count');
    await healthy.line(/^attached/);
    const publishing = publishNumbered(bus.publisher, 3000);
    const flooder = cGuest(bus, 1, 'join-flood', '20000');
    expect((await flooder.exited).code, flooder.stderr()).toBe(0);
    expect(lastJson(flooder)).toEqual({ sent: 20000, joined: true }); // and it still gets in honestly
    await publishing;
    await bus.publisher.close();
    expect((await healthy.exited).code).toBe(0);
    expect(lastJson(healthy)).toMatchObject({ received: 3000, inOrder: true, intact: true, error: null });
    expect(refusals.every((r) => r.guest === 'flooder')).toBe(true);
  });

  it('flapping acks evict the guest (protocol) every time it rejoins; the healthy guest is unaffected', async () => {
    // rejoinBackoffMs: 0 lets it back at once every time; the next test is about the back-off.
    const bus = await vmBus([{ name: 'healthy' }, { name: 'flapper' }], { rejoinBackoffMs: 0 });
    const evictions: EvictionEvent[] = [];
    bus.publisher.on('evict', (event: EvictionEvent) => evictions.push(event));
    const healthy = cGuest(bus, 0, 'count');
    await healthy.line(/^attached/);
    const flapper = cGuest(bus, 1, 'flap-ack', '20');
    await flapper.line(/^attached/);
    const published = await publishUntil(bus.publisher, flapper.exited);
    expect(lastJson(flapper)).toEqual({ cycles: 20, evicted: 20, rejoined: 20, held: 0 });
    await bus.publisher.close();
    expect((await healthy.exited).code).toBe(0);
    expect(lastJson(healthy)).toMatchObject({ received: published, inOrder: true, intact: true, error: null });
    // Every violation is one protocol eviction, even when the guest rejoined before the publisher looked;
    // leaving the server afterwards may add a `dead` one.
    const reasons = evictions.filter((e) => e.slot === 1).map((e) => e.reason);
    expect(reasons.slice(0, 20)).toEqual(Array(20).fill('protocol'));
    expect(reasons.slice(20).every((reason) => reason === 'dead')).toBe(true);
    expect(evictions.filter((e) => e.slot === 0)).toEqual([]);
  });

  it('a guest evicted protocol again within a minute has its joins refused (backoff) for a growing while', async () => {
    // Back-offs of 1, 2 and 4 s after the 2nd, 3rd and 4th eviction; the
    // guest asks again 300 ms after each eviction (separate incidents), then
    // every 20 ms. Each back-off outlasts that pause by far more than a join
    // takes under load, so each refuses the guest; how many times is timing,
    // and not asserted.
    const bus = await vmBus([{ name: 'healthy' }, { name: 'flapper' }], { rejoinBackoffMs: 1000 });
    const refusals: RefuseEvent[] = [];
    /** Per eviction of the flapper: how many of its joins were refused before it was back. */
    const refusedPerEviction: number[] = [];
    bus.publisher.on('refuse', (event) => {
      refusals.push(event);
      if (event.guest === 'flapper' && refusedPerEviction.length > 0) refusedPerEviction[refusedPerEviction.length - 1]!++;
    });
    bus.publisher.on('evict', (event: EvictionEvent) => {
      if (event.slot === 1 && event.reason === 'protocol') refusedPerEviction.push(0);
    });
    const healthy = cGuest(bus, 0, 'count');
    await healthy.line(/^attached/);
    const flapper = cGuest(bus, 1, 'flap-ack', '4', '300');
    await flapper.line(/^attached/);
    const published = await publishUntil(bus.publisher, flapper.exited);
    const report = lastJson(flapper) as { cycles: number; held: number };
    expect(report).toMatchObject({ cycles: 4, evicted: 4, rejoined: 4 });
    expect(refusedPerEviction.map((n) => n > 0)).toEqual([false, true, true, true]);
    expect(refusals.length).toBe(report.held);
    expect(refusals.every((r) => r.guest === 'flapper' && r.reason === 'backoff')).toBe(true);
    await bus.publisher.close();
    expect((await healthy.exited).code).toBe(0);
    expect(lastJson(healthy)).toMatchObject({ received: published, inOrder: true, intact: true, error: null });
  });
});
