// publishBatch's ways into the ring: whole messages below 4 KiB copied
// straight into records reserved for them, up to 1024 per crossing and one
// head store each, larger ones by the core, fragmented ones in parts, all in order, also when the ring fills in
// the middle of a batch; and a spinning subscriber (spinMicros) on both
// reading paths.
import { afterEach, describe, expect, it } from 'vitest';
import { Subscriber } from '../src/index.js';
import { cleanup, isNumbered, listen, numbered, opened } from './helpers.js';

afterEach(cleanup);

// Around the limit between the two ways (4 KiB: copied in JavaScript below
// it, by the core from it on), and past a record (a quarter of a 256 KiB ring).
const SIZES = [8, 64, 1024, 4095, 4096, 20_000, 70_000, 100_000];

describe('publishBatch', () => {
  it('delivers mixed sizes in order and intact while a slow reader keeps the ring full', async () => {
    const { path, publisher } = await listen({ capacity: 256 << 10 });
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    const batches = 12;
    const perBatch = 1500; // more than one crossing's worth of small messages
    const sizeOf = (seq: number) => SIZES[(seq * 7) % SIZES.length]!;
    const total = batches * perBatch;
    const reading = (async () => {
      for (let seq = 0; seq < total; seq++) {
        const message = await subscriber.recv();
        if (!message || message.length !== sizeOf(seq) || !isNumbered(message, seq)) throw new Error(`message ${seq} is wrong`);
        if (seq % 2000 === 0) await new Promise((resolve) => setTimeout(resolve, 5)); // let the ring fill
      }
      return total;
    })();
    for (let b = 0; b < batches; b++) {
      await publisher.publishBatch(Array.from({ length: perBatch }, (_, i) => numbered(b * perBatch + i, sizeOf(b * perBatch + i))));
    }
    expect(await reading).toBe(total);
    expect(publisher.stats().messages).toBe(total);
  });

  it('a batch of only small messages reaches a subscriber that joined before it, whole', async () => {
    const { path, publisher } = await listen({ capacity: 1 << 20 });
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    const batch = Array.from({ length: 3000 }, (_, i) => numbered(i, 16 + (i % 48)));
    await publisher.publishBatch(batch);
    for (let i = 0; i < batch.length; i++) {
      const message = (await subscriber.recv())!;
      expect(message.equals(batch[i]!)).toBe(true);
    }
  });

  it('copies messages over any memory intact: views at offsets of one buffer, pooled Buffers, a SharedArrayBuffer, empty ones', async () => {
    const { path, publisher } = await listen({ capacity: 1 << 20 });
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    const shared = new Uint8Array(new SharedArrayBuffer(4096));
    const one = new Uint8Array(8192);
    const batch: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const message = numbered(i, 64 + i);
      const kind = i % 5;
      if (kind === 0) batch.push(message);
      else if (kind === 1) batch.push(Buffer.from(message)); // from Node's pool
      else if (kind === 2) batch.push(one.subarray(i * 150, i * 150 + message.length));
      else if (kind === 3) batch.push(shared.subarray(i * 90, i * 90 + message.length));
      else batch.push(new Uint8Array(0));
      batch[i]!.set(kind === 4 ? [] : message);
    }
    await publisher.publishBatch(batch);
    for (let i = 0; i < batch.length; i++) expect(Buffer.compare((await subscriber.recv())!, batch[i]!), `message ${i}`).toBe(0);
  });

  it('publishes a batch that fits with one head store per 1024 messages, whatever their size', async () => {
    const { path, publisher } = await listen({ capacity: 4 << 20 });
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    const before = publisher.stats().headStores;
    await publisher.publishBatch(Array.from({ length: 2000 }, (_, i) => numbered(i, 1024)));
    expect(publisher.stats().headStores - before).toBe(2);
    for (let i = 0; i < 2000; i++) if (!isNumbered((await subscriber.recv())!, i)) throw new Error(`message ${i} is wrong`);
  });

  it('hands messages from 4 KiB on to the core at most 1024 a crossing, each crossing one head store', async () => {
    // They go to the addon as a call's arguments (offerBatch), so a crossing is bounded.
    const { path, publisher } = await listen({ capacity: 16 << 20 });
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    const before = publisher.stats().headStores;
    await publisher.publishBatch(Array.from({ length: 2000 }, (_, i) => numbered(i, 4096 + (i % 3) * 1000)));
    expect(publisher.stats().headStores - before).toBe(2);
    for (let i = 0; i < 2000; i++) if (!isNumbered((await subscriber.recv())!, i)) throw new Error(`message ${i} is wrong`);
  });
});

// #offerFrom reserves records by each message's length, then copies the views
// into them: a length that lies, or a view whose bytes are gone, must be
// refused before anything is reserved, and what follows must arrive intact.
describe('publishBatch with views it cannot copy', () => {
  // A view over an ArrayBuffer of its own (Node's Buffer pool cannot be transferred), then transferred away.
  const ownView = (seq: number, size: number): Uint8Array => new Uint8Array(numbered(seq, size));
  const detach = (view: Uint8Array): Uint8Array => {
    structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
    return view;
  };

  it('refuses a Uint8Array whose length getter says less than it holds, and the bus goes on', async () => {
    const { path, publisher } = await listen({ capacity: 1 << 20 });
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    class ShortLength extends Uint8Array {
      override get length(): number {
        return 1;
      }
    }
    const liar = new ShortLength(3000).fill(0x41);
    expect(() => publisher.publishBatch([numbered(0, 64), liar, numbered(1, 64)])).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringContaining('holds 3000 bytes') }));
    expect(() => publisher.publishBatch([Object.create(Uint8Array.prototype) as Uint8Array])).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION' }));
    await publisher.publishBatch([numbered(2, 64), numbered(3, 5000)]);
    for (const seq of [2, 3]) expect(isNumbered((await subscriber.recv({ signal: AbortSignal.timeout(10_000) }))!, seq)).toBe(true);
  });

  it('refuses a view of a detached ArrayBuffer with a typed error, and publishes nothing of that batch', async () => {
    const { path, publisher } = await listen({ capacity: 1 << 20 });
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    const gone = detach(ownView(9, 100));
    expect(() => publisher.publishBatch([numbered(0, 64), gone, numbered(1, 64)])).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringContaining('detached') }));
    expect(() => publisher.offer(gone)).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION' }));
    await publisher.publish(numbered(2, 64));
    expect(isNumbered((await subscriber.recv({ signal: AbortSignal.timeout(10_000) }))!, 2)).toBe(true);
    expect(publisher.stats().messages).toBe(1);
  });

  it('a queued batch: a view detached after the call rejects it there, the messages before it arrive, and no bytes of a record left unwritten', async () => {
    const { path, publisher } = await listen({ capacity: 256 << 10 });
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    await publisher.waitForSubscribers(1);
    let seq = 0;
    while (publisher.offer(numbered(seq, 1024))) seq++; // the ring is full: the batch below waits
    const filled = seq;
    const later = ownView(filled + 1, 100);
    const batch = [numbered(filled, 100), later, numbered(filled + 2, 100)];
    const writing = publisher.publishBatch(batch);
    batch.length = 0; // the caller's array: emptied after the call, the batch is still sent
    detach(later);
    const refused = expect(writing).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
    for (let i = 0; i <= filled; i++) expect(isNumbered((await subscriber.recv({ signal: AbortSignal.timeout(10_000) }))!, i), `message ${i}`).toBe(true);
    await refused;
    await publisher.publish(numbered(filled + 3, 64));
    expect(isNumbered((await subscriber.recv({ signal: AbortSignal.timeout(10_000) }))!, filled + 3)).toBe(true);
  });
});

describe('spinMicros', () => {
  it('a spinning subscriber gets every message through recv() and the iterator, then the end', async () => {
    const { path, publisher } = await listen({ capacity: 1 << 20 });
    const byRecv = await Subscriber.connect({ path, spinMicros: 50 });
    const byIterator = await Subscriber.connect({ path, spinMicros: 50 });
    opened.push(byRecv, byIterator);
    const count = 2000;
    const recvReader = (async () => {
      for (let seq = 0; seq < count; seq++) if (!isNumbered((await byRecv.recv())!, seq)) throw new Error(`recv: message ${seq} is wrong`);
      return byRecv.recv(); // null: the end
    })();
    const iteratorReader = (async () => {
      let seq = 0;
      for await (const message of byIterator) if (!isNumbered(message, seq++)) throw new Error(`iterator: message ${seq - 1} is wrong`);
      return seq;
    })();
    // Some messages find the subscribers spinning, some asleep on the doorbell.
    for (let seq = 0; seq < count; seq++) {
      await publisher.publish(numbered(seq, 32));
      if (seq % 250 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await publisher.close();
    expect(await recvReader).toBeNull();
    expect(await iteratorReader).toBe(count);
  });
});
