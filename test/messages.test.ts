// Messages longer than one record: the first fragment declares the whole
// length, so a subscriber allocates one buffer and copies each byte once; the
// declared length is bounded by the publisher's maxMessageBytes (in the ring)
// and the subscriber's own, and everything arrives intact on every read path.
import { afterEach, describe, expect, it } from 'vitest';
import { Subscriber, type Publisher, type PublisherOptions, type SubscriberOptions } from '../src/index.js';
import { cleanup, isNumbered, listen, numbered, opened } from './helpers.js';

afterEach(cleanup);

async function pair(
  options: Partial<PublisherOptions> = {},
  subscriberOptions: Partial<SubscriberOptions> = {},
): Promise<{ publisher: Publisher; subscriber: Subscriber }> {
  const { path, publisher } = await listen(options);
  const subscriber = await Subscriber.connect({ path, ...subscriberOptions });
  opened.push(subscriber);
  return { publisher, subscriber };
}

describe('fragmented messages', () => {
  it('arrive whole and intact through recv and poll, between small ones, larger than the ring too', async () => {
    const { publisher, subscriber } = await pair({ capacity: 1 << 16 });
    const sizes = [10, 20_000, 8, 16_368, 16_369, 200_000, 9, 1 << 20, 8];
    const sending = (async () => {
      for (const [seq, size] of sizes.entries()) await publisher.publish(numbered(seq, size));
      await publisher.publishBatch(sizes.map((size, i) => numbered(sizes.length + i, size)));
    })();
    for (let seq = 0; seq < sizes.length; seq++) {
      const message = await subscriber.recv();
      expect(message!.length).toBe(sizes[seq]);
      expect(isNumbered(message!, seq), `message ${seq}`).toBe(true);
    }
    let seq = sizes.length;
    while (seq < 2 * sizes.length) {
      subscriber.poll((view, polledSeq) => {
        expect(view.length).toBe(sizes[seq - sizes.length]);
        expect(isNumbered(Buffer.from(view.buffer, view.byteOffset, view.length), seq), `polled message ${seq}`).toBe(true);
        if (polledSeq >= 0) expect(polledSeq).toBe(seq);
        seq++;
      });
      if (seq < 2 * sizes.length) await subscriber.readable();
    }
    await sending;
  });

  it("a publisher refuses a message above its maxMessageBytes with ERR_RINGCAST_TOO_BIG", async () => {
    const { publisher, subscriber } = await pair({ capacity: 1 << 16, maxMessageBytes: 100_000 });
    expect(publisher.maxMessageBytes).toBe(100_000);
    expect(() => publisher.publish(new Uint8Array(100_001))).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_TOO_BIG' }));
    expect(() => publisher.publishBatch([new Uint8Array(1), new Uint8Array(100_001)])).toThrow(
      expect.objectContaining({ code: 'ERR_RINGCAST_TOO_BIG' }),
    );
    const sending = publisher.publish(numbered(0, 100_000));
    expect(isNumbered((await subscriber.recv())!, 0)).toBe(true);
    await sending;
  });

  it('a subscriber refuses a message above its own maxMessageBytes before allocating it: ERR_RINGCAST_CORRUPT', async () => {
    const { publisher, subscriber } = await pair({ capacity: 1 << 16 }, { maxMessageBytes: 50_000 });
    void publisher.publish(numbered(0, 50_000)); // at the cap: fine
    void publisher.publish(numbered(1, 50_001)).catch(() => undefined); // may wait for room forever
    expect(isNumbered((await subscriber.recv())!, 0)).toBe(true);
    await expect(subscriber.recv()).rejects.toMatchObject({ code: 'ERR_RINGCAST_CORRUPT', message: expect.stringContaining('maxMessageBytes (50000') });
  });
});
