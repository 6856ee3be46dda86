// The bus API in one process: publishing, reading (copy and zero-copy),
// fragmentation, flow control, options, stats, errors.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelServer, Publisher, Subscriber, RingcastError, EvictedError, constants } from '../src/index.js';
import { C } from '../src/native.js';
import { isNumbered, numbered, cleanup, opened, socketPath, listen } from './helpers.js';

afterEach(cleanup);

async function bus(options: Partial<Parameters<typeof Publisher.listen>[0]> = {}) {
  const { path, publisher } = await listen(options);
  const subscribe = async (extra = {}) => {
    const subscriber = await Subscriber.connect({ path, ...extra });
    opened.push(subscriber);
    return subscriber;
  };
  return { path, publisher, subscribe };
}

describe('layout constants', () => {
  it('come from the addon, not from TypeScript', () => {
    expect(constants.descriptorSize).toBe(C.RC_DESC_SIZE);
    expect(constants.descriptorSize % C.RC_PAGE_SIZE).toBe(0);
    expect(constants.recordHeaderSize).toBe(16);
    expect(constants.maxSubscribers).toBe(64);
  });
});

describe('publish and receive', () => {
  it('delivers every message to every subscriber, in order, intact (copy path)', async () => {
    const { publisher, subscribe } = await bus();
    const subs = [await subscribe(), await subscribe(), await subscribe()];
    const count = 20_000;
    const readers = subs.map(async (s) => {
      for (let seq = 0; seq < count; seq++) {
        const m = await s.recv();
        if (!m || !isNumbered(m, seq)) throw new Error(`bad message ${seq}`);
      }
      return true;
    });
    for (let seq = 0; seq < count; seq++) await publisher.publish(numbered(seq, 8 + (seq % 200)));
    expect(await Promise.all(readers)).toEqual([true, true, true]);
    const stats = publisher.stats();
    expect(stats.messages).toBe(count);
    expect(stats.subscribers).toHaveLength(3);
    for (const s of stats.subscribers) expect(s.state).toBe('active');
  });

  it('reassembles a 64 MiB message through a 1 MiB ring', async () => {
    const { publisher, subscribe } = await bus({ capacity: 1 << 20 });
    const sub = await subscribe();
    const big = Buffer.alloc(64 << 20);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const received = sub.recv();
    await publisher.publish(big);
    const m = await received;
    expect(m!.length).toBe(big.length);
    expect(m!.equals(big)).toBe(true);
  });

  it('publishBatch commits many messages with one head store', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    const batch = Array.from({ length: 100 }, (_, i) => numbered(i, 64));
    const before = publisher.stats().headStores;
    await publisher.publishBatch(batch);
    expect(publisher.stats().headStores - before).toBe(1);
    for (let i = 0; i < 100; i++) expect(isNumbered((await sub.recv())!, i)).toBe(true);
  });

  it('zero-copy poll hands out views and acknowledges after the handler', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    for (let i = 0; i < 10; i++) await publisher.publish(numbered(i, 100));
    const seen: number[] = [];
    const handled = sub.poll((view) => {
      seen.push(Buffer.from(view.buffer, view.byteOffset, view.byteLength).readUInt32LE(0));
    });
    expect(handled).toBe(10);
    expect(seen).toEqual([...Array(10).keys()]);
    expect(sub.stats().lagBytes).toBe(0);
    expect(sub.poll(() => undefined)).toBe(0);
  });

  it('poll refuses a handler that is not a function or a bad limit before it takes anything', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    await publisher.publish(numbered(0, 100));
    for (const [handler, limit] of [['x', undefined], [undefined, undefined], [() => undefined, 'x'], [() => undefined, -1], [() => undefined, 1.5], [() => undefined, NaN]]) {
      expect(() => sub.poll(handler as never, limit as never)).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION' }));
    }
    expect(isNumbered((await sub.recv())!, 0)).toBe(true); // still there
    await publisher.publish(numbered(1, 100));
    expect(sub.poll(() => undefined, Infinity)).toBe(1);
  });

  it('publish, publishBatch and claim with a signal that is already aborted reject and write nothing', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    const signal = AbortSignal.abort();
    await expect(publisher.publish(numbered(0, 100), { signal })).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
    await expect(publisher.publishBatch([numbered(1, 100)], { signal })).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
    await expect(publisher.claim(8, { signal })).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
    expect(publisher.stats().messages).toBe(0);
    await publisher.publish(numbered(2, 100)); // no claim left open, nothing queued
    expect(isNumbered((await sub.recv())!, 2)).toBe(true);
  });

  it('a logger that is not a pino logger is refused with the other options, not a TypeError at the first log line', async () => {
    const { path } = await bus();
    const refused = { code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringMatching(/^option logger: /) };
    for (const logger of ['x', {}, null]) {
      await expect(Publisher.listen({ path: socketPath('other.sock'), logger } as never)).rejects.toMatchObject(refused);
      await expect(Subscriber.connect({ path, logger } as never)).rejects.toMatchObject(refused);
      await expect(ChannelServer.listen(socketPath('chan.sock'), { logger } as never)).rejects.toMatchObject(refused);
    }
  });

  it('zero-copy claim/commit/abort', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    const aborted = publisher.tryClaim(32)!;
    aborted.buffer.fill(1);
    aborted.abort();
    const claim = await publisher.claim(64);
    claim.buffer.fill(7);
    claim.commit(10);
    expect(() => claim.commit()).toThrow(RingcastError);
    const m = await sub.recv();
    expect(m).toEqual(Buffer.alloc(10, 7));
    expect(sub.tryRecv()).toBeUndefined();
    expect(() => publisher.tryClaim(publisher.maxPayload + 1)).toThrow(/exceeds maxPayload/);
  });

  it('zero-length messages are messages', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    await publisher.publish(Buffer.alloc(0));
    await publisher.publish(Buffer.from('x'));
    expect((await sub.recv())!.length).toBe(0);
    expect((await sub.recv())!.toString()).toBe('x');
  });

  it('the async iterator and the Readable end when the publisher closes', async () => {
    const { publisher, subscribe } = await bus();
    const a = await subscribe();
    const b = await subscribe();
    for (let i = 0; i < 5; i++) await publisher.publish(numbered(i, 8));
    await publisher.close();
    const viaIterator: Buffer[] = [];
    for await (const m of a) viaIterator.push(m);
    const viaStream: Buffer[] = [];
    for await (const m of b.createReadStream()) viaStream.push(m as Buffer);
    expect(viaIterator.map((m) => m.readUInt32LE(0))).toEqual([0, 1, 2, 3, 4]);
    expect(viaStream.map((m) => m.readUInt32LE(0))).toEqual([0, 1, 2, 3, 4]);
  });

  it('a Writable publishes its chunks and closes the bus at the end', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    const stream = publisher.createWriteStream();
    stream.write(Buffer.from('a'));
    stream.write(Buffer.from('b'));
    stream.end(Buffer.from('c'));
    const got: string[] = [];
    for await (const m of sub) got.push(m.toString());
    expect(got).toEqual(['a', 'b', 'c']);
    expect(publisher.closed).toBe(true);
  });

  it('stream options Node would refuse with a TypeError are ERR_RINGCAST_INVALID_OPTION', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    const refused = expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION' });
    for (const options of [{ highWaterMark: -5 }, { highWaterMark: 'x' }, { highWaterMark: 1.5 }, { objectMode: 'yes' }]) {
      expect(() => sub.createReadStream(options as never)).toThrow(refused);
      expect(() => publisher.createWriteStream(options as never)).toThrow(refused);
    }
  });

  it('a Writable on a closed publisher fails the stream (pipeline rejects), it does not throw out of write()', async () => {
    const { publisher } = await bus();
    const stream = publisher.createWriteStream({ closeOnEnd: false });
    await publisher.close();
    await expect(pipeline(Readable.from([Buffer.from('a'), Buffer.from('b')]), stream)).rejects.toMatchObject({ code: 'ERR_RINGCAST_CLOSED' });
  });
});

describe('flow control and backpressure', () => {
  it('a publisher waits for the slowest subscriber in block policy, and it is visible', async () => {
    const { publisher, subscribe } = await bus({ capacity: 1 << 16 });
    const sub = await subscribe();
    const message = Buffer.alloc(1000);
    let offered = 0;
    while (publisher.offer(message)) offered++;
    expect(offered).toBeGreaterThan(50);
    expect(offered).toBeLessThan(70); // 64 KiB / 1016-byte records
    const waiting = publisher.publish(message);
    expect(publisher.pending).toBe(1);
    expect(publisher.offer(message)).toBe(false); // order is kept behind the queue
    const stats = publisher.stats();
    expect(stats.subscribers[0]!.lagBytes).toBeGreaterThan(60_000);
    for (let i = 0; i < offered + 1; i++) expect(await sub.recv()).not.toBeNull();
    await waiting;
    expect(publisher.pending).toBe(0);
  });

  it('an AbortSignal cancels a publish that waits for room', async () => {
    const { publisher, subscribe } = await bus();
    await subscribe();
    while (publisher.offer(Buffer.alloc(1000)));
    const controller = new AbortController();
    const waiting = publisher.publish(Buffer.alloc(1000), { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
  });

  it('an AbortSignal cancels a recv', async () => {
    const { subscribe } = await bus();
    const sub = await subscribe();
    await expect(sub.recv({ signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
  });

  it('close() rejects publishes still waiting for room', async () => {
    const { publisher, subscribe } = await bus();
    await subscribe();
    while (publisher.offer(Buffer.alloc(1000)));
    const waiting = publisher.publish(Buffer.alloc(1000));
    await publisher.close();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_RINGCAST_CLOSED' });
    expect(() => publisher.offer(Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_CLOSED' }));
  });

  it('a subscriber that closes stops holding the publisher back', async () => {
    const { publisher, subscribe } = await bus();
    const slow = await subscribe();
    const fast = await subscribe();
    const left = new Promise((resolve) => publisher.once('unsubscribe', resolve));
    const got: number[] = [];
    const reading = (async () => {
      for (let i = 0; i < 500; i++) got.push((await fast.recv())!.readUInt32LE(0));
    })();
    const publishing = (async () => {
      for (let i = 0; i < 500; i++) await publisher.publish(numbered(i, 1000));
    })();
    await new Promise((r) => setTimeout(r, 50));
    expect(publisher.pending).toBe(1); // held back by `slow`
    await slow.close();
    expect(await left).toEqual({ slot: expect.any(Number), reason: 'closed' });
    await publishing;
    await reading;
    expect(got).toEqual([...Array(500).keys()]);
  });

  it('drop policy never waits and evicts whoever would be overwritten, with the lost range', async () => {
    const { publisher, subscribe } = await bus({ policy: 'drop' });
    const stuck = await subscribe();
    const reader = await subscribe();
    const evicted = new Promise<{ reason: string }>((resolve) => publisher.once('evict', resolve));
    let received = 0;
    for (let i = 0; i < 1000; i++) {
      expect(publisher.offer(numbered(i, 1000))).toBe(true);
      while (reader.tryRecv() !== undefined) received++;
    }
    void evicted;
    expect(received).toBe(1000);
    const error = await stuck.recv().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EvictedError);
    expect((error as EvictedError).reason).toBe('slow');
    expect((error as EvictedError).lostBytes).toBeGreaterThan(0);
    expect((error as EvictedError).lostMessages).toBeGreaterThan(60); // it read none; ~64 fit in the ring
    expect(publisher.stats().subscribers.find((s) => s.state === 'evicted')?.lostMessages).toBe((error as EvictedError).lostMessages);
    const mirrored = publisher.stats().subscribers.find((s) => s.state === 'evicted');
    expect(mirrored?.evictions).toBe(1);
  });

  it('an evicted subscriber with rejoin: true continues at the live head and reports the gap', async () => {
    const { publisher, subscribe } = await bus({ policy: 'drop' });
    const sub = await subscribe({ rejoin: true });
    const gap = new Promise<{ lostBytes: number }>((resolve) => sub.once('gap', resolve));
    for (let i = 0; i < 200; i++) publisher.offer(numbered(i, 1000));
    const next = sub.recv();
    await gap.then((g) => expect(g.lostBytes).toBeGreaterThan(0));
    await publisher.publish(numbered(999, 100));
    expect((await next)!.readUInt32LE(0)).toBe(999);
    expect(sub.stats().evictions).toBe(1);
  });
});

describe('options are validated with errors that name the value', () => {
  it.each([
    [{ capacity: 1000 }, /capacity.*power of two.*1000/],
    [{ capacity: 100_000 }, /capacity.*power of two.*100000/],
    [{ policy: 'fast' }, /policy.*'block' or 'drop'.*"fast"/],
    [{ maxSubscribers: 65 }, /maxSubscribers.*1 to 64.*65/],
    [{ allow: { uids: ['root'] } }, /allow.uids/],
    [{ path: '' }, /path/],
    // A typo or a misplaced option is refused, not ignored (the bus would run with the default).
    [{ capacty: 1 << 20 }, /^option "capacty": not an option of Publisher\.listen \(known: address, path, .*capacity/],
    [{ allow: { uid: [0] } }, /^option "uid": not an option of allow \(known: uids, gids\)/],
    [{ vm: { ivshmemServer: '/s', ringFile: '/r', guests: [{ name: 'a', ackFile: '/a' }], unixsocket: '/u' } }, /^option "unixsocket": not an option of vm /],
    [{ vm: { ivshmemServer: '/s', ringFile: '/r', guests: [{ name: 'a', ackfile: '/a' }] } }, /^option "ackfile": not an option of vm\.guests\[0\] /],
  ])('%o', async (options, message) => {
    const path = socketPath();
    await expect(Publisher.listen({ path, ...(options as object) } as never)).rejects.toThrow(message);
    await expect(Publisher.listen({ path, ...(options as object) } as never)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
  });

  it('messages must be bytes', async () => {
    const { publisher } = await bus();
    expect(() => publisher.offer('text' as never)).toThrow(/Uint8Array/);
  });

  it('a second publisher on a live bus path is refused; a stale socket file is replaced', async () => {
    const { path } = await bus();
    await expect(Publisher.listen({ path })).rejects.toMatchObject({ code: 'ERR_RINGCAST_SYSTEM' });

    // A stale socket: a process listened on it and died (SIGKILL), leaving
    // the file, with nobody accepting on it.
    const stale = socketPath('stale.sock');
    const script = `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`;
    expect(spawnSync(process.execPath, ['-e', script]).signal).toBe('SIGKILL');
    expect(statSync(stale).isSocket()).toBe(true);
    const refused = await new Promise<NodeJS.ErrnoException>((resolve) =>
      createConnection(stale).on('error', resolve).on('connect', () => resolve(new Error('accepted'))),
    );
    expect(refused.code).toBe('ECONNREFUSED');
    const { publisher } = await listen({ path: stale });
    const subscriber = await Subscriber.connect({ path: stale });
    opened.push(subscriber);
    await publisher.publish(numbered(0, 64));
    expect(isNumbered((await subscriber.recv())!, 0)).toBe(true);
  });

  it('Subscriber.connect refuses what is not an options object, and options it does not know', async () => {
    const { path } = await bus();
    const refused = (options: unknown) => Subscriber.connect(options as never);
    await expect(refused(null)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION', message: 'option options: expected an object, got null' });
    await expect(refused({ path, spinMicro: 5 })).rejects.toMatchObject({
      code: 'ERR_RINGCAST_INVALID_OPTION',
      message: expect.stringMatching(/^option "spinMicro": not an option of Subscriber\.connect \(known: .*spinMicros/),
    });
    const nested = { ring: '/r', ack: '/a', server: '/s', publisherTimeout: 1 };
    await expect(refused({ ivshmem: nested })).rejects.toThrow(/^option "publisherTimeout": not an option of ivshmem /);
    await expect(refused({ xen: { bus: 'b', publisher: 0, Slot: 1 } })).rejects.toThrow(/^option "Slot": not an option of xen /);
    // The address's own parameters are not the caller's options: a mixed bus's address still works through ivshmem.
    await expect(refused({ address: 'ivshmem:/nonexistent.ring?ack=/nonexistent.ack&server=/nonexistent.sock&unix=/u.sock', ivshmem: {} })).rejects.not.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
  });

  it('connecting to nothing is a clear error', async () => {
    await expect(Subscriber.connect({ path: socketPath() })).rejects.toThrow(/cannot connect.*No such file/);
  });
});

describe('edges a demanding user hits', () => {
  it('a poll handler that throws consumes its own message only; the rest is delivered next', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    for (let i = 0; i < 5; i++) await publisher.publish(numbered(i, 32));
    const seen: number[] = [];
    expect(() =>
      sub.poll((view) => {
        const seq = Buffer.from(view).readUInt32LE(0);
        seen.push(seq);
        if (seq === 1) throw new Error('handler failed');
      }),
    ).toThrow('handler failed');
    expect(sub.poll((view) => seen.push(Buffer.from(view).readUInt32LE(0)))).toBe(3);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('one claim at a time: a second claim or a publish while one is open is a state error, not a hang', async () => {
    const { publisher } = await bus();
    const open_ = publisher.tryClaim(16)!;
    await expect(publisher.claim(16)).rejects.toMatchObject({ code: 'ERR_RINGCAST_STATE' });
    expect(() => publisher.publish(Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_STATE' }));
    open_.abort();
    await publisher.publish(Buffer.from('x'));
  });

  it('a claim committed after close() is refused: head is final', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    await publisher.publish(Buffer.from('before'));
    const claim = publisher.tryClaim(8)!;
    await publisher.close();
    expect(() => claim.commit()).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_CLOSED' }));
    expect((await sub.recv())!.toString()).toBe('before');
    expect(await sub.recv()).toBeNull();
  });

  it('a subscriber that rejoins on its own releases a publisher it was holding back', async () => {
    const { publisher, subscribe } = await bus();
    const sub = await subscribe();
    while (publisher.offer(Buffer.alloc(1000)));
    const waiting = publisher.publish(Buffer.alloc(1000));
    await sub.rejoin();
    await waiting; // would hang forever if the publisher were not woken
  });

  it('evictAfterMs does not evict a subscriber that keeps making progress', async () => {
    const { publisher, subscribe } = await bus({ evictAfterMs: 300 });
    const sub = await subscribe();
    const evictions: unknown[] = [];
    publisher.on('evict', (e) => evictions.push(e));
    const reading = (async () => {
      for (let i = 0; i < 3000; i++) {
        await sub.recv();
        if (i % 500 === 0) await new Promise((r) => setTimeout(r, 100)); // slow, but never 300 ms
      }
    })();
    for (let b = 0; b < 30; b++) await publisher.publishBatch(Array.from({ length: 100 }, (_, i) => numbered(b * 100 + i, 1000)));
    await reading;
    expect(evictions).toEqual([]);
  });
});
