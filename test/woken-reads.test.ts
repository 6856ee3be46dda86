// A read that waits on the doorbell (recv(), for await, batches()) is parked:
// the doorbell's callback takes the message itself and resolves the read.
// These tests pin down that every way a parked read can end ends it as the
// general wait does: a message (in order, intact), the end, an abort, close(),
// the publisher's death; and that the subscriber reads on afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import { Subscriber, PublisherGoneError } from '../src/index.js';
import { native, type NativeAnnouncer, type NativeFdWatcher } from '../src/native.js';
import { cleanup, fixture, isNumbered, listen, numbered, opened, socketPath, spawned } from './helpers.js';

afterEach(cleanup);

async function subscribe(path: string): Promise<Subscriber> {
  const sub = await Subscriber.connect({ path });
  opened.push(sub);
  return sub;
}

/** Lets the event loop run until the read is asleep on the doorbell (no timing is asserted). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A publisher process that committed 3 messages and claimed a 4th it will
 * never commit, and a subscriber that read the 3: kill `pub.child` to make
 * the publisher die under a waiting read.
 */
async function drainedBeforeDeath(): Promise<{ pub: ReturnType<typeof fixture>; sub: Subscriber }> {
  const path = socketPath();
  const pub = fixture('claim-and-die.mjs', [path, '3']);
  spawned.push(pub.child);
  await pub.line(/^listening$/);
  const sub = await subscribe(path);
  await pub.line(/^claimed$/);
  for (let seq = 0; seq < 3; seq++) expect((await sub.recv())!.readUInt32LE(0)).toBe(seq);
  return { pub, sub };
}

/** Counts the crossings that read the ring (readSmall, bound once per native subscriber) while `body` runs. */
async function countingLooks(body: (looks: { count: number }) => Promise<void>): Promise<void> {
  const original = native.Subscriber;
  const looks = { count: 0 };
  native.Subscriber = class extends original {
    override bindReadBuffers(meta: Float64Array, scratch: Uint8Array, maxCount: number): () => number {
      const readSmall = super.bindReadBuffers(meta, scratch, maxCount);
      return () => (looks.count++, readSmall());
    }
  } as typeof original;
  try {
    await body(looks);
  } finally {
    native.Subscriber = original;
  }
}

describe('a read parked on the doorbell', () => {
  it('recv() is woken by each message in turn: in order, intact, each one a doorbell the publisher rang', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const rungBefore = publisher.stats().doorbellsRung;
    for (let seq = 0; seq < 200; seq++) {
      const next = sub.recv(); // nothing there: it sleeps
      await settle();
      await publisher.publish(numbered(seq, 64 + (seq % 300)));
      expect(isNumbered((await next)!, seq)).toBe(true);
    }
    // Every read slept and was woken by the doorbell, not found by a later look.
    expect(publisher.stats().doorbellsRung - rungBefore).toBe(200);
    expect(sub.stats()).toMatchObject({ delivered: 200, buffered: 0 });
  });

  it('for await and batches() are woken the same way, and end when the publisher closes', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const ended = new Promise<void>((resolve) => sub.once('end', resolve));
    const got: number[] = [];
    const reading = (async () => {
      for await (const message of sub) {
        got.push(message.readUInt32LE(0));
        if (!isNumbered(message, got.length - 1)) throw new Error(`message ${got.length - 1} damaged`);
        if (got.length === 50) break;
      }
      for await (const batch of sub.batches()) for (const message of batch) got.push(message.readUInt32LE(0));
    })();
    for (let seq = 0; seq < 100; seq++) {
      await settle();
      await publisher.publish(numbered(seq, 64));
    }
    await settle();
    await publisher.close();
    await reading;
    await ended;
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('a read woken by the doorbell leaves its sleep announced at no cost: nothing is rung while nothing waits, the next wait once', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const first = sub.recv();
    await settle();
    const rungBefore = publisher.stats().doorbellsRung;
    await publisher.publish(numbered(0, 64));
    expect(isNumbered((await first)!, 0)).toBe(true);
    expect(publisher.stats().doorbellsRung - rungBefore).toBe(1);
    // Nobody waits: the publisher rang that announcement already and rings it no more.
    for (let seq = 1; seq <= 20; seq++) await publisher.publish(numbered(seq, 64));
    expect(publisher.stats().doorbellsRung - rungBefore).toBe(1);
    for (let seq = 1; seq <= 20; seq++) expect(isNumbered((await sub.recv())!, seq)).toBe(true);
    // The next wait announces afresh, clears the ring the first one left, and is woken once.
    const last = sub.recv();
    await settle();
    await publisher.publish(numbered(21, 64));
    expect(isNumbered((await last)!, 21)).toBe(true);
    expect(publisher.stats().doorbellsRung - rungBefore).toBe(2);
  });

  it('recv() and a step of for await that find nothing look into the ring once, then sleep; the wake-up reads once', async () => {
    await countingLooks(async (looks) => {
      const { path, publisher } = await listen();
      const sub = await subscribe(path);
      const iterator = sub[Symbol.asyncIterator]();
      for (const [seq, read] of [() => sub.recv(), async () => (await iterator.next()).value as Buffer].entries()) {
        looks.count = 0;
        const next = read();
        await settle();
        expect(looks.count).toBe(1);
        await publisher.publish(numbered(seq, 64));
        expect(isNumbered((await next)!, seq)).toBe(true);
        expect(looks.count).toBe(2);
      }
    });
  });

  it('a woken read of one message hands it over from one look, counted; a burst is read in one look and served in order', async () => {
    await countingLooks(async (looks) => {
      const { path, publisher } = await listen();
      const sub = await subscribe(path);
      let bytes = 0;
      for (let seq = 0; seq < 20; seq++) {
        const next = sub.recv();
        await settle();
        looks.count = 0;
        await publisher.publish(numbered(seq, 64 + seq));
        bytes += 64 + seq;
        expect(isNumbered((await next)!, seq)).toBe(true);
        expect(looks.count).toBe(1);
        expect(sub.stats()).toMatchObject({ delivered: seq + 1, deliveredBytes: bytes, buffered: 0 });
      }
      // Three at once: one look copies all three, the next two reads take them from the queue.
      for (let seq = 20; seq < 23; seq++) await publisher.publish(numbered(seq, 100));
      looks.count = 0;
      expect(isNumbered((await sub.recv())!, 20)).toBe(true);
      expect(looks.count).toBe(1);
      expect(sub.stats()).toMatchObject({ delivered: 21, buffered: 2 });
      expect(isNumbered((await sub.recv())!, 21)).toBe(true);
      expect(isNumbered((await sub.recv())!, 22)).toBe(true);
      expect(looks.count).toBe(1);
      expect(sub.stats()).toMatchObject({ delivered: 23, deliveredBytes: bytes + 300, buffered: 0 });
      // And the single-message path goes on after the burst, the end reported as before.
      const last = sub.recv();
      await settle();
      await publisher.publish(numbered(23, 64));
      expect(isNumbered((await last)!, 23)).toBe(true);
      await publisher.close();
      expect(await sub.recv()).toBeNull();
    });
  });

  it('every wait (recv(), for await, readable()) announces and starts the doorbell in one call into the addon, and is woken as before', async () => {
    // Counts the bound sleeps (announce + start), the one way a wait goes to sleep.
    const calls = { sleep: 0 };
    let sleeps: Array<(clearRing?: boolean) => boolean> = [];
    const originalWatcher = native.FdWatcher;
    native.FdWatcher = class extends (originalWatcher as new (...args: ConstructorParameters<typeof originalWatcher>) => NativeFdWatcher) {
      override sleepFunction(announcer: NativeAnnouncer): (clearRing?: boolean) => boolean {
        const sleep = super.sleepFunction(announcer);
        sleeps.push(sleep);
        return (clearRing) => (calls.sleep++, sleep(clearRing));
      }
    } as unknown as typeof originalWatcher;
    try {
      const { path, publisher } = await listen();
      const sub = await subscribe(path);
      const iterator = sub[Symbol.asyncIterator]();
      const reads: Array<() => Promise<Buffer | void>> = [() => sub.recv() as Promise<Buffer>, async () => (await iterator.next()).value as Buffer, () => sub.readable()];
      for (const [seq, read] of reads.entries()) {
        calls.sleep = 0;
        const next = read();
        await settle();
        expect(calls.sleep).toBe(1);
        await publisher.publish(numbered(seq, 64));
        const got = await next;
        if (got) expect(isNumbered(got, seq)).toBe(true);
        expect(calls.sleep).toBe(1);
      }
      // readable() woke for message 2, which is still there.
      expect(isNumbered((await sub.recv())!, 2)).toBe(true);
      // Something there when it announces: the sleep says so and starts nothing; the read takes it.
      await publisher.publish(numbered(3, 64));
      expect(isNumbered((await sub.recv())!, 3)).toBe(true);
      // A sleep whose reader is closed announces nothing and starts nothing.
      expect(sleeps).toHaveLength(1);
      await sub.close();
      expect(sleeps[0]!(true)).toBe(false);
    } finally {
      native.FdWatcher = originalWatcher;
      sleeps = [];
    }
  });

  it('a woken read resumes its awaiting code from the doorbell\'s callback, before the loop goes on to the next event', async () => {
    const { path, publisher } = await listen();
    const subs = [await subscribe(path), await subscribe(path)];
    // One publish rings both doorbells: the loop's next poll returns both.
    // Each reader, resumed, notes whether the other was woken yet.
    const otherWoken: boolean[] = [];
    const reads = subs.map(async (sub, i) => {
      const message = await sub.recv();
      otherWoken.push(subs[1 - i]!.stats().delivered > 0);
      return message;
    });
    await settle();
    await publisher.publish(numbered(0, 64));
    for (const message of await Promise.all(reads)) expect(isNumbered(message!, 0)).toBe(true);
    // The first resumed before the loop called the second's doorbell back
    // (as Node resumes code after its own I/O callbacks); the second after.
    expect(otherWoken).toEqual([false, true]);
  });

  it('an abort rejects it (or readable()) with ERR_RINGCAST_ABORTED; the next read sleeps and wakes as before', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const waits = [(signal: AbortSignal) => sub.recv({ signal }), (signal: AbortSignal) => sub.readable({ signal })];
    for (const [seq, wait] of waits.entries()) {
      const controller = new AbortController();
      const waiting = wait(controller.signal);
      await settle();
      controller.abort();
      await expect(waiting).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
      await expect(wait(controller.signal)).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
      // The doorbell was paused and the sleep withdrawn: a new read parks and is woken.
      const next = sub.recv();
      await settle();
      await publisher.publish(numbered(seq, 64));
      expect(isNumbered((await next)!, seq)).toBe(true);
    }
  });

  it('close() resolves a parked recv() with null and ends a parked iterator', async () => {
    const { path } = await listen();
    const sub = await subscribe(path);
    const waiting = sub.recv();
    const iterating = sub[Symbol.asyncIterator]().next();
    await settle();
    await sub.close();
    await expect(waiting).resolves.toBeNull();
    await expect(iterating).resolves.toMatchObject({ done: true });
  });

  it('readable() waiting beside a parked recv(): one message wakes both', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const message = sub.recv();
    await settle();
    const readable = sub.readable();
    await settle();
    await publisher.publish(numbered(1, 64));
    expect(isNumbered((await message)!, 1)).toBe(true);
    await readable;
    // And both waits are over: the next read parks and wakes again.
    const next = sub.recv();
    await settle();
    await publisher.publish(numbered(2, 64));
    expect(isNumbered((await next)!, 2)).toBe(true);
  });

  it('three reads waiting at once (two recv(), readable()) are all woken, the messages taken in order', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const first = sub.recv();
    const second = sub.recv();
    const readable = sub.readable();
    await settle();
    await publisher.publishBatch([numbered(1, 64), numbered(2, 64)]);
    expect(isNumbered((await first)!, 1)).toBe(true);
    expect(isNumbered((await second)!, 2)).toBe(true);
    await readable;
  });

  it('close() resolves a waiting readable()', async () => {
    const { path } = await listen();
    const sub = await subscribe(path);
    const waiting = sub.readable();
    await settle();
    await sub.close();
    await expect(waiting).resolves.toBeUndefined();
  });

  it('readable() resolves when the publisher dies while it waits, and at once after; the read then reports PublisherGoneError', async () => {
    const { pub, sub } = await drainedBeforeDeath();
    const waiting = sub.readable();
    await settle();
    pub.child.kill('SIGKILL');
    await waiting;
    await sub.readable(); // the publisher is gone: no doorbell will ring, nothing to sleep for
    await expect(sub.recv()).rejects.toBeInstanceOf(PublisherGoneError);
  });

  it('a publisher that dies rejects a parked recv() with PublisherGoneError after what was committed', async () => {
    const { pub, sub } = await drainedBeforeDeath();
    const waiting = sub.recv(); // the claimed message is never committed: it sleeps
    await settle();
    pub.child.kill('SIGKILL');
    await expect(waiting).rejects.toBeInstanceOf(PublisherGoneError);
  });
});

describe("the doorbell's watcher", () => {
  /** A connected pair of Unix sockets (the watched end, the end that makes it readable). */
  function socketPair(): { watched: number; other: number; close: () => void } {
    const path = socketPath('pair.sock');
    const listening = native.unixListen(path, 1);
    const other = native.unixConnect(path);
    const watched = native.unixAccept(listening)!.fd;
    native.closeFd(listening);
    return { watched, other, close: () => [watched, other].forEach((fd) => native.closeFd(fd)) };
  }

  it('hands the object it holds to its callback, so the callback need capture nothing; without one, nothing', async () => {
    const pair = socketPair();
    const owner = { name: 'the subscriber' };
    const got: unknown[][] = [];
    let woken: () => void = () => undefined;
    const held = new native.FdWatcher(pair.watched, false, (...args: unknown[]) => (got.push(args), woken()), { oneShot: true, holds: owner });
    const plain = new native.FdWatcher(pair.watched, false, (...args: unknown[]) => (got.push(args), woken()), { oneShot: true });
    try {
      for (const [watcher, expected] of [[held, [owner]], [plain, []]] as const) {
        const called = new Promise<void>((resolve) => (woken = resolve));
        watcher.start();
        native.unixSend(pair.other, Buffer.from('x'), []);
        await called;
        expect(got.pop()).toEqual(expected);
        expect(got.length).toBe(0);
        native.unixRecv(pair.watched, 16); // read, so the other watcher does not see this one
      }
    } finally {
      held.close();
      plain.close();
      pair.close();
    }
  });

  it('a bound sleep is made from a reader\'s announcer() alone', () => {
    const pair = socketPair();
    const watcher = new native.FdWatcher(pair.watched, false, () => undefined, { oneShot: true });
    try {
      expect(() => watcher.sleepFunction({} as NativeAnnouncer)).toThrow(TypeError);
    } finally {
      watcher.close();
      pair.close();
    }
  });
});
