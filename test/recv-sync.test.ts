// subscriber.recvSync(): the copy read that waits by blocking its thread on
// the doorbell (poll() in the addon) instead of an event-loop watcher. The
// publishers here are other processes: while this thread blocks, nothing in
// it could publish or ring.
import { afterEach, describe, expect, it } from 'vitest';
import { PublisherGoneError, Subscriber } from '../src/index.js';
import { cleanup, fixture, isNumbered, listen, opened, socketPath, spawned } from './helpers.js';

afterEach(cleanup);

/** A publisher process (test/fixtures/publisher.mjs) and a subscriber of its bus. */
async function publisherProcess(args: string[]): Promise<Subscriber> {
  const path = socketPath();
  const publisher = fixture('publisher.mjs', [path, ...args]);
  spawned.push(publisher.child);
  await publisher.line(/^listening$/);
  const subscriber = await Subscriber.connect({ path });
  opened.push(subscriber);
  return subscriber;
}

describe('subscriber.recvSync()', () => {
  it('sleeps until the doorbell rings, then returns what another process published, in order', async () => {
    // The messages come 300 ms after the attach: the first call has to sleep for them.
    const subscriber = await publisherProcess(['5', '100', '', '--delay-ms=300']);
    const received = [];
    for (let i = 0; i < 5; i++) received.push(subscriber.recvSync({ timeoutMs: 60_000 }));
    expect(received.map((message, seq) => message !== undefined && message !== null && isNumbered(message, seq))).toEqual([true, true, true, true, true]);
    expect(subscriber.stats()).toMatchObject({ delivered: 5, deliveredBytes: 500 });
  });

  it('leaves the ring that woke it for the next wait, which sleeps and wakes as before: recvSync() or recv()', async () => {
    // One message every 50 ms: each wait finds nothing and sleeps on the doorbell.
    const subscriber = await publisherProcess(['6', '64', '', '--every-ms=50']);
    for (let seq = 0; seq < 6; seq++) {
      const message = seq % 2 === 0 ? subscriber.recvSync({ timeoutMs: 60_000 }) : await subscriber.recv();
      expect(message !== undefined && message !== null && isNumbered(message, seq)).toBe(true);
    }
  });

  it('sleeps again right after a wake-up, the ring that woke it still in the eventfd, and wakes for the next message', async () => {
    // One message every 50 ms, each taken by recvSync(): every wait but the first follows a wake-up.
    const subscriber = await publisherProcess(['5', '64', '', '--every-ms=50']);
    const received = [];
    for (let i = 0; i < 4; i++) received.push(subscriber.recvSync({ timeoutMs: 60_000 }));
    // The rings left behind are the event loop's to clear: a read parked on the doorbell still sleeps and wakes.
    received.push(await subscriber.recv());
    expect(received.map((message, seq) => message !== undefined && message !== null && isNumbered(message, seq))).toEqual([true, true, true, true, true]);
  });

  it('returns null once the publisher closed and everything was read', async () => {
    const subscriber = await publisherProcess(['2', '64', '', '--close']);
    expect(isNumbered(subscriber.recvSync({ timeoutMs: 60_000 })!, 0)).toBe(true);
    expect(isNumbered(subscriber.recvSync({ timeoutMs: 60_000 })!, 1)).toBe(true);
    expect(subscriber.recvSync({ timeoutMs: 60_000 })).toBeNull();
  });

  it('wakes when the publisher dies (its socket ends), returns undefined, and recv() then reports PublisherGoneError', { timeout: 90_000 }, async () => {
    const subscriber = await publisherProcess(['1', '64', '', '--die-after-ms=300']);
    expect(isNumbered(subscriber.recvSync({ timeoutMs: 60_000 })!, 0)).toBe(true);
    const start = performance.now();
    expect(subscriber.recvSync({ timeoutMs: 60_000 })).toBeUndefined();
    // Which wake-up it was, not how fast: the end of the socket, long before the 60 s limit.
    expect(performance.now() - start).toBeLessThan(30_000);
    await expect(subscriber.recv()).rejects.toBeInstanceOf(PublisherGoneError);
  });

  it('returns undefined when nothing comes within timeoutMs, and refuses a bad timeoutMs', async () => {
    const { path } = await listen();
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    expect(subscriber.recvSync({ timeoutMs: 20 })).toBeUndefined();
    expect(subscriber.recvSync({ timeoutMs: 0 })).toBeUndefined();
    expect(() => subscriber.recvSync({ timeoutMs: 1.5 })).toThrow(/timeoutMs/);
  });
});
