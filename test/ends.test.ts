// How a bus ends, seen through the API: an orderly close() ends the stream,
// abort() cuts it short (an error after the drain), figures survive close(),
// and a publisher can wait for its subscribers.
import { afterEach, describe, expect, it } from 'vitest';
import { PublisherAbortedError, RingcastError, Subscriber } from '../src/index.js';
import { cleanup, listen, numbered, opened } from './helpers.js';

afterEach(cleanup);

async function connect(path: string): Promise<Subscriber> {
  const subscriber = await Subscriber.connect({ path });
  opened.push(subscriber);
  return subscriber;
}

async function readAll(subscriber: Subscriber): Promise<{ received: number; error: unknown }> {
  let received = 0;
  try {
    for await (const message of subscriber) {
      expect(message.readUInt32LE(0)).toBe(received);
      received++;
    }
  } catch (error) {
    return { received, error };
  }
  return { received, error: null };
}

/** A bus with one subscriber reading everything, and `count` messages of `size` bytes published. */
async function streamed(count: number, size: number) {
  const { path, publisher } = await listen();
  const subscriber = await connect(path);
  await publisher.waitForSubscribers(1);
  const reading = readAll(subscriber);
  for (let i = 0; i < count; i++) await publisher.publish(numbered(i, size));
  return { publisher, subscriber, reading };
}

describe('abort()', () => {
  it('subscribers get everything committed, then PublisherAbortedError (not a clean end)', async () => {
    const { publisher, subscriber, reading } = await streamed(1000, 200);
    await publisher.abort();
    const { received, error } = await reading;
    expect(received).toBe(1000);
    expect(error).toBeInstanceOf(PublisherAbortedError);
    expect(error).toMatchObject({ code: 'ERR_RINGCAST_PUBLISHER_ABORTED' });
    // The failure sticks: a later recv() says the same.
    await expect(subscriber.recv()).rejects.toBeInstanceOf(PublisherAbortedError);
  });

  it('close() ends the same stream cleanly; abort() after close() changes nothing', async () => {
    const { publisher, reading } = await streamed(1000, 200);
    await publisher.close();
    await publisher.abort();
    expect(await reading).toEqual({ received: 1000, error: null });
  });

  it('a stream of one message, aborted: the message, then the failure', async () => {
    const { publisher, reading } = await streamed(1, 10);
    await publisher.abort();
    expect(await reading).toMatchObject({ received: 1, error: expect.any(PublisherAbortedError) });
  });
});

describe('stats() after close()', () => {
  it('the publisher and the subscriber answer with their final figures', async () => {
    const { publisher, subscriber, reading } = await streamed(100, 100);
    await publisher.close();
    await reading;
    await subscriber.close();
    const pub = publisher.stats();
    expect(pub).toMatchObject({ messages: 100, pending: 0 });
    expect(pub.head).toBeGreaterThanOrEqual(100 * 100);
    expect(subscriber.stats()).toMatchObject({ delivered: 100, deliveredBytes: 100 * 100, lostBytes: 0, lostMessages: 0 });
  });
});

describe('waitForSubscribers()', () => {
  it('resolves once N subscribers are attached, at once if they already are', async () => {
    const { path, publisher } = await listen();
    const waiting = publisher.waitForSubscribers(2);
    let done = false;
    void waiting.then(() => (done = true));
    await connect(path);
    await publisher.waitForSubscribers(1);
    expect(done).toBe(false);
    await connect(path);
    await waiting;
    await publisher.waitForSubscribers(2);
    await publisher.waitForSubscribers(0);
  });

  it('a count above what the bus admits is refused at once (ERR_RINGCAST_INVALID_OPTION), not waited for', async () => {
    const { publisher } = await listen({ maxSubscribers: 2 });
    await expect(publisher.waitForSubscribers(3)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringContaining('at most 2') });
    await expect(publisher.waitForSubscribers(Number.NaN)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
    await expect(publisher.waitForSubscribers(1e9)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
  });

  it('rejects on its signal (ERR_RINGCAST_ABORTED) and when the publisher closes (ERR_RINGCAST_CLOSED)', async () => {
    const { publisher } = await listen();
    const controller = new AbortController();
    const aborted = publisher.waitForSubscribers(1, { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
    const closing = publisher.waitForSubscribers(1);
    await publisher.close();
    await expect(closing).rejects.toMatchObject({ code: 'ERR_RINGCAST_CLOSED' });
    await expect(publisher.waitForSubscribers(1)).rejects.toBeInstanceOf(RingcastError);
  });

  it('refuses a count that cannot be reached', async () => {
    const { publisher } = await listen();
    await expect(publisher.waitForSubscribers(65)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
    await expect(publisher.waitForSubscribers(-1)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
  });
});
