// The ivshmem region provider on the host, without a VM: a real ivshmem
// server process (ringcast-ivshmem-server), a publisher with `vm` options,
// and "guest" processes that map the ring and ack files directly and use the
// server's eventfds (the guest driver's devices replaced by files). One guest
// is a Node subscriber (the TypeScript API), one the C entry point
// (ringcast-ivshmem-guest), as in the VM test.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Publisher, Subscriber, ivshmemRegionSize, type EvictionEvent, type GapEvent, type RefuseEvent } from '../src/index.js';
import { C } from '../src/native.js';
import { cleanup, fixture, isNumbered, numbered, opened, spawned } from './helpers.js';
import { buildTools, cGuest, Checksums, lastJson, nodeGuest, removeVmDirs, startServer, vmBus, vmDir, waitFor } from './ivshmem-bus.js';

beforeAll(buildTools);

afterEach(async () => {
  await cleanup();
  removeVmDirs();
});

async function publishNumbered(publisher: Publisher, count: number): Promise<{ sha256: string; fnv1a: string }> {
  const sums = new Checksums();
  for (let seq = 0; seq < count; seq++) {
    const message = numbered(seq, 8 + ((seq * 97) % 1500));
    sums.add(message);
    await publisher.publish(message);
  }
  return sums.digest();
}

describe('ivshmem provider on the host (files + a real ivshmem server)', () => {
  it('a Node guest and a C guest receive every message in order, intact, with matching checksums', async () => {
    const bus = await vmBus([{ name: 'node' }, { name: 'c' }]);
    expect(statSync(bus.ring).size).toBe(ivshmemRegionSize(1 << 16));
    expect(statSync(bus.acks[0]!).size).toBe(4096);
    const joined: number[] = [];
    bus.publisher.on('subscribe', (event: { slot: number }) => joined.push(event.slot));
    const node = nodeGuest(bus, 0, 'count');
    const c = cGuest(bus, 1, 'count');
    await node.line(/^attached slot=0$/);
    await c.line(/^attached slot=1 peer=\d+$/);
    expect(joined.sort()).toEqual([0, 1]);
    expect(bus.publisher.subscriberCount).toBe(2);

    const sums = await publishNumbered(bus.publisher, 3000); // ~2.2 MB through a 64 KiB ring
    await bus.publisher.close();
    expect((await node.exited).code).toBe(0);
    expect((await c.exited).code).toBe(0);
    expect(lastJson(node)).toEqual({ received: 3000, inOrder: true, intact: true, sha256: sums.sha256, error: null });
    expect(lastJson(c)).toEqual({ received: 3000, inOrder: true, intact: true, fnv1a: sums.fnv1a, error: null });
  });

  it('a killed guest is evicted (dead) as soon as its peer leaves the server; the publisher and the other guest go on', async () => {
    // Heartbeats would find it too, but much later: this is the server's disconnect.
    const bus = await vmBus([{ name: 'stuck' }, { name: 'healthy' }], { heartbeatTimeoutMs: 600_000 });
    const stuck = nodeGuest(bus, 0, 'hold');
    const healthy = cGuest(bus, 1, 'count');
    await stuck.line(/^attached/);
    await healthy.line(/^attached/);
    const evicted = waitFor<EvictionEvent>(bus.publisher, 'evict');
    const publishing = publishNumbered(bus.publisher, 2000); // far more than the ring: blocks on the stuck guest
    await new Promise<void>((resolve) => {
      const check = (): void => (bus.publisher.pending > 0 ? resolve() : void setTimeout(check, 5));
      check();
    });
    stuck.child.kill('SIGKILL');
    const event = await evicted;
    expect(event.slot).toBe(0);
    expect(event.reason).toBe('dead');
    const sums = await publishing;
    await bus.publisher.close();
    expect((await healthy.exited).code).toBe(0);
    expect(lastJson(healthy)).toEqual({ received: 2000, inOrder: true, intact: true, fnv1a: sums.fnv1a, error: null });
  });

  it('hostile join requests are refused and the healthy guest is unaffected', async () => {
    const bus = await vmBus([{ name: 'healthy' }, { name: 'hostile' }, { name: 'pinned', peerId: 4242 }]);
    const refusals: RefuseEvent[] = [];
    bus.publisher.on('refuse', (event) => refusals.push(event));
    const healthy = cGuest(bus, 0, 'count');
    const attached = await healthy.line(/^attached/);
    const healthyPeer = /peer=(\d+)/.exec(attached)![1]!;
    const publishing = publishNumbered(bus.publisher, 1500);

    const hostile = async (slot: number, peer: string, request: number): Promise<Record<string, unknown>> => {
      const proc = cGuest(bus, slot, 'hostile', peer, String(request));
      await proc.exited;
      return lastJson(proc);
    };
    expect(await hostile(1, '99', 1)).toEqual({ request: 1, verdict: 2 }); // peer unknown to the server
    expect(await hostile(1, healthyPeer, 5)).toEqual({ request: 5, verdict: 2 }); // another guest's peer
    expect(await hostile(1, 'self', 3)).toEqual({ request: 3, verdict: 3 }); // counter went backwards
    expect(await hostile(1, 'self', 5)).toEqual({ request: 5, verdict: 3 }); // ... or stood still
    expect(await hostile(2, 'self', 1)).toEqual({ request: 1, verdict: 2 }); // not the configured peer
    expect(refusals.map((r) => `${r.guest}:${r.reason}`)).toEqual([
      'hostile:bad-peer',
      'hostile:bad-peer',
      'hostile:bad-order',
      'hostile:bad-order',
      'pinned:bad-peer',
    ]);
    // A hostile join that is valid (its own peer id, counter forward) gets the
    // slot; its process then exits, its peer leaves the server: evicted dead.
    const dead = waitFor<EvictionEvent>(bus.publisher, 'evict');
    expect(await hostile(1, 'self', 9)).toEqual({ request: 9, verdict: 1 });
    expect((await dead).slot).toBe(1);

    const sums = await publishing;
    await bus.publisher.close();
    expect((await healthy.exited).code).toBe(0);
    expect(lastJson(healthy)).toEqual({ received: 1500, inOrder: true, intact: true, fnv1a: sums.fnv1a, error: null });
    expect(bus.publisher.closed).toBe(true);
  });

  it('a guest that closes gives its slot back at once, and can join again', async () => {
    const bus = await vmBus([{ name: 'a' }]);
    const gone = waitFor<{ slot: number; reason: string }>(bus.publisher, 'unsubscribe');
    const first = await Subscriber.connect({ ivshmem: { ring: bus.ring, ack: bus.acks[0]!, server: bus.server } });
    expect(first.slot).toBe(0);
    await bus.publisher.publish(Buffer.from('one'));
    expect((await first.recv())!.toString()).toBe('one');
    await first.close();
    expect(await gone).toEqual({ slot: 0, reason: 'closed' });
    expect(bus.publisher.subscriberCount).toBe(0);

    const second = await Subscriber.connect({ ivshmem: { ring: bus.ring, ack: bus.acks[0]!, server: bus.server } });
    opened.push(second);
    await bus.publisher.publish(Buffer.from('two'));
    expect((await second.recv())!.toString()).toBe('two');
    expect(bus.publisher.stats().subscribers).toMatchObject([{ slot: 0, state: 'active', lagBytes: 0 }]);
    // Counted from its own join: one record of 3 bytes (header + payload, aligned).
    expect(bus.publisher.stats().subscribers[0]!.deliveredBytes).toBe(32);
  });

  it('an evicted guest rejoins through shared memory at the live head and reports the gap', async () => {
    const bus = await vmBus([{ name: 'slow' }], { evictAfterMs: 50 });
    const sub = await Subscriber.connect({ ivshmem: { ring: bus.ring, ack: bus.acks[0]!, server: bus.server }, rejoin: true });
    opened.push(sub);
    const evicted = waitFor<EvictionEvent>(bus.publisher, 'evict');
    const gap = new Promise<GapEvent>((resolve) => sub.once('gap', resolve));
    for (let seq = 0; seq < 200; seq++) await bus.publisher.publish(numbered(seq, 1000)); // 3x the ring: it never reads
    expect((await evicted).reason).toBe('slow');
    const rejoined = waitFor<{ slot: number }>(bus.publisher, 'subscribe');
    const next = sub.recv(); // sees the eviction, rejoins, waits at the live head
    await rejoined;
    await bus.publisher.publish(numbered(1000, 100));
    expect(isNumbered((await next)!, 1000)).toBe(true);
    const lost = await gap;
    expect(lost.reason).toBe('slow');
    expect(lost.lostBytes).toBeGreaterThan(0);
    expect(lost.lostMessages).toBe(200); // bus sequence numbers 0..199, exactly
    expect(sub.state).toBe('active');
    expect(bus.publisher.stats().subscribers).toMatchObject([{ slot: 0, state: 'active' }]);
  });

  it('a guest keeping envelopes (a bridge forwarding a republished bus) still gets them after a rejoin through shared memory', async () => {
    const bus = await vmBus([{ name: 'bridge' }], { evictAfterMs: 50, envelopes: true });
    const sub = await Subscriber.connect({ ivshmem: { ring: bus.ring, ack: bus.acks[0]!, server: bus.server }, rejoin: true, keepEnvelopes: true });
    opened.push(sub);
    const enveloped = (seq: number, size = 100): Buffer => Buffer.concat([Buffer.alloc(C.RC_ENVELOPE_SIZE, 0x5a), numbered(seq, size)]);
    await bus.publisher.publish(enveloped(0));
    expect((await sub.recv())!.subarray(C.RC_ENVELOPE_SIZE)).toEqual(numbered(0, 100));
    const evicted = waitFor<EvictionEvent>(bus.publisher, 'evict');
    for (let seq = 1; seq < 200; seq++) await bus.publisher.publish(enveloped(seq, 1000)); // 3x the ring: it never reads
    expect((await evicted).reason).toBe('slow');
    const rejoined = waitFor<{ slot: number }>(bus.publisher, 'subscribe');
    const next = sub.recv(); // sees the eviction, rejoins (the join formats the reader again), waits at the live head
    await rejoined;
    await bus.publisher.publish(enveloped(1000));
    const message = (await next)!;
    expect(message.length).toBe(C.RC_ENVELOPE_SIZE + 100);
    expect(isNumbered(message.subarray(C.RC_ENVELOPE_SIZE), 1000)).toBe(true);
  });

  it('a guest learns from the heartbeat that its publisher died: it reads what was committed, then PublisherGoneError', async () => {
    const dir = vmDir();
    const server = await startServer(dir);
    const ring = join(dir, 'bus.ring');
    const ack = join(dir, 'bus.ack.guest');
    const publisher = fixture('ivshmem-publisher.mjs', [server, ring, ack, '100']);
    spawned.push(publisher.child);
    await publisher.line(/^listening$/);
    const sub = await Subscriber.connect({ ivshmem: { ring, ack, server, publisherTimeoutMs: 1000 } });
    opened.push(sub);
    await publisher.line(/^published$/);
    publisher.child.kill('SIGKILL');
    for (let seq = 0; seq < 100; seq++) expect((await sub.recv())!.readUInt32LE(0)).toBe(seq);
    await expect(sub.recv()).rejects.toMatchObject({ code: 'ERR_RINGCAST_PUBLISHER_GONE' });
  });

  it('connect() on a ring file left by a closed or aborted publisher fails at once with PublisherGoneError, not a handshake timeout', async () => {
    for (const end of ['close', 'abort'] as const) {
      const { ring, acks, server, publisher } = await vmBus([{ name: 'guest' }]);
      if (end === 'close') await publisher.close();
      else await publisher.abort();
      // The ivshmem server still runs and the files stay: only the ring says the publisher ended.
      // A limit far above the test's timeout: the old code waited it out and said ERR_RINGCAST_HANDSHAKE.
      const failure = await Subscriber.connect({ ivshmem: { ring, ack: acks[0]!, server }, handshakeTimeoutMs: 20_000 }).then(
        (sub) => (opened.push(sub), new Error('attached')),
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'ERR_RINGCAST_PUBLISHER_GONE', message: expect.stringContaining(end === 'close' ? 'CLOSED' : 'ABORTED') });
    }
  });

  it('bad options are typed errors, before anything is created', async () => {
    const dir = vmDir();
    const ring = join(dir, 'r');
    const base = { path: join(dir, 'bus'), capacity: 1 << 16 };
    const bad = async (vm: unknown): Promise<string> => {
      try {
        opened.push(await Publisher.listen({ ...base, vm } as never));
      } catch (error) {
        return (error as { code: string }).code;
      }
      return 'no error';
    };
    expect(await bad(null)).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(await bad({ ivshmemServer: join(dir, 's'), ringFile: ring, guests: [] })).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(await bad({ ivshmemServer: join(dir, 's'), ringFile: ring, guests: [{ name: 'a', ackFile: ring }] })).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(
      await bad({ ivshmemServer: join(dir, 's'), ringFile: ring, guests: [{ name: 'a', ackFile: join(dir, 'a') }, { name: 'a', ackFile: join(dir, 'b') }] }),
    ).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(await bad({ ivshmemServer: join(dir, 's'), ringFile: ring, guests: [{ name: 'a', ackFile: join(dir, 'a'), peerId: 70000 }] })).toBe(
      'ERR_RINGCAST_INVALID_OPTION',
    );
    expect(await bad({ ivshmemServer: 'x'.repeat(200), ringFile: ring, guests: [{ name: 'a', ackFile: join(dir, 'a') }] })).toBe('ERR_RINGCAST_INVALID_OPTION');
    // No server there: a system error that says so.
    expect(await bad({ ivshmemServer: join(dir, 'nobody.sock'), ringFile: ring, guests: [{ name: 'a', ackFile: join(dir, 'a') }] })).toBe('ERR_RINGCAST_SYSTEM');

    const connect = async (options: unknown): Promise<string> => {
      try {
        opened.push(await Subscriber.connect(options as never));
      } catch (error) {
        return (error as { code: string }).code;
      }
      return 'no error';
    };
    expect(await connect({ ivshmem: { ring, ack: join(dir, 'a') } })).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(await connect({ ivshmem: { ring, ack: join(dir, 'a'), server: 's', doorbell: 'd' } })).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(await connect({ path: join(dir, 'bus'), ivshmem: { ring, ack: join(dir, 'a'), server: 's' } })).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(await connect({ ivshmem: { ring, ack: ring, server: 's' } })).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(await connect({ ivshmem: { ring, ack: join(dir, 'a'), server: 's', publisherTimeoutMs: 10 } })).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(await connect({ ivshmem: { ring: join(dir, 'missing'), ack: join(dir, 'a'), server: 's' } })).toBe('ERR_RINGCAST_BAD_REGION');
    expect(() => ivshmemRegionSize(1000)).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION' }));
  });

  it('a join the publisher refuses rejects connect() with a RefusedError naming the verdict', async () => {
    const bus = await vmBus([{ name: 'pinned', peerId: 4242 }]);
    await expect(Subscriber.connect({ ivshmem: { ring: bus.ring, ack: bus.acks[0]!, server: bus.server } })).rejects.toMatchObject({
      code: 'ERR_RINGCAST_REFUSED',
      reason: 'bad-peer',
    });
    expect(bus.publisher.subscriberCount).toBe(0);
  });
});
