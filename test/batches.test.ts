// subscriber.batches(): the copy API a batch at a time. Same messages, end,
// eviction, rejoin and errors as iterating the subscriber itself (one
// implementation of both); these tests pin that down on real buses.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Subscriber, EvictedError, type GapEvent, type Publisher } from '../src/index.js';
import { cleanup, fixture, isNumbered, listen, numbered, opened, spawned } from './helpers.js';

afterEach(cleanup);

async function subscribe(path: string, options: { rejoin?: boolean } = {}): Promise<Subscriber> {
  const sub = await Subscriber.connect({ path, ...options });
  opened.push(sub);
  return sub;
}

/**
 * A subscriber process in `mode` reads 3000 numbered messages: small ones in
 * batches, then fragmented ones (larger than a record of the 64 KiB ring).
 * Every one must arrive, in order and intact; returns the reader's report.
 */
async function readMixedStream(path: string, publisher: Publisher, mode: string): Promise<Record<string, unknown>> {
  const reader = fixture('subscriber.mjs', [path, mode]);
  spawned.push(reader.child);
  await reader.line(/^attached$/);
  const total = 3000;
  for (let seq = 0; seq < total - 3; seq += 100) {
    await publisher.publishBatch(Array.from({ length: Math.min(100, total - 3 - seq) }, (_, i) => numbered(seq + i, 64 + ((seq + i) % 900))));
  }
  for (let seq = total - 3; seq < total; seq++) await publisher.publish(numbered(seq, 100_000));
  await publisher.close();
  const result = JSON.parse(await reader.line(/received/)) as Record<string, unknown>;
  expect(result).toMatchObject({ received: total, inOrder: true, intact: true, error: null });
  return result;
}

describe('subscriber.batches()', () => {
  it('refuses an options object it would misread: an unknown key, a reuseBuffer that is not a boolean', async () => {
    const { path } = await listen();
    const sub = await subscribe(path);
    expect(() => sub.batches({ reuseBufer: true } as never)).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringContaining('reuseBufer') }));
    expect(() => sub.batches({ reuseBuffer: 'yes' } as never)).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION' }));
    expect(() => sub.batches(null as never)).toThrow(expect.objectContaining({ code: 'ERR_RINGCAST_INVALID_OPTION' }));
    expect(() => sub.batches({ reuseBuffer: false, signal: new AbortController().signal })).not.toThrow();
  });

  it('hands every message over in order and intact, several per batch, and ends when the publisher closes', async () => {
    const { path, publisher } = await listen();
    const result = await readMixedStream(path, publisher, 'count-batches');
    expect(result.batches).toBeLessThan(3000); // some crossing brought more than one message
  });

  it('with reuseBuffer, copies every batch (and every fragmented message) into buffers of its own, whose messages hold until the next step', async () => {
    const { path, publisher } = await listen();
    // The reader checks order and content as each batch comes, before its next step.
    const result = await readMixedStream(path, publisher, 'count-lent-batches');
    expect(result.batches).toBeGreaterThan(1);
    // Every whole message of every batch was a view of the same memory, and
    // every fragmented one of a second: nothing allocated per batch or message.
    expect(result.memories).toBe(1);
    expect(result.largeMemories).toBe(1);
  });

  it('with reuseBuffer, a message where the one before it at its index was gets that view again; one elsewhere a view of its own', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const batches = sub.batches({ reuseBuffer: true });
    const step = async (first: number, size: number): Promise<Buffer[]> => {
      await publisher.publishBatch(Array.from({ length: 10 }, (_, i) => numbered(first + i, size)));
      const batch = (await batches.next()).value as Buffer[];
      expect(batch.map((message, i) => isNumbered(message, first + i) && message.length === size)).toEqual(Array(10).fill(true));
      return batch;
    };
    const first = await step(0, 300);
    // Same sizes: the same places in the lent buffer, the same views (no Buffer per message).
    const second = await step(10, 300);
    expect(second.every((message, i) => message === first[i])).toBe(true);
    // Other sizes: other places, new views over the new bytes.
    const third = await step(20, 200);
    expect(third.some((message, i) => message === second[i])).toBe(false);
  });

  it('with reuseBuffer, messages that keep their places keep their views while those after a moved one get new ones', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const batches = sub.batches({ reuseBuffer: true });
    const step = async (first: number, sizes: number[]): Promise<Buffer[]> => {
      await publisher.publishBatch(sizes.map((size, i) => numbered(first + i, size)));
      const batch = (await batches.next()).value as Buffer[];
      expect(batch.map((message, i) => isNumbered(message, first + i) && message.length === sizes[i])).toEqual(sizes.map(() => true));
      return batch;
    };
    const first = await step(0, Array(10).fill(300));
    // The first five land where they did; the sixth is shorter, so it and every one after it moved.
    const second = await step(10, [...Array(5).fill(300), ...Array(5).fill(200)]);
    expect(second.map((message, i) => message === first[i])).toEqual([...Array(5).fill(true), ...Array(5).fill(false)]);
    // Fewer than last time, all in place: the same views, and the batch holds only these.
    const third = await step(20, Array(3).fill(300));
    expect(third.length).toBe(3);
    expect(third.every((message, i) => message === second[i])).toBe(true);
    // More than last time: the first ten are where the second step's were.
    const fourth = await step(23, [...Array(5).fill(300), ...Array(5).fill(200), 300, 300]);
    expect(fourth.slice(0, 10).every((message, i) => message === second[i])).toBe(true);
  });

  it('two iterators with reuseBuffer reading in turn hand out the messages of each turn, whatever the other read last', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const one = sub.batches({ reuseBuffer: true });
    const two = sub.batches({ reuseBuffer: true });
    let seq = 0;
    const seen: Buffer[][] = [];
    // The third turn is laid out as the other iterator's last one, not as its own.
    const turns: [AsyncIterableIterator<Buffer[]>, number][] = [[one, 300], [two, 200], [one, 200], [two, 200], [one, 200]];
    for (const [iterator, size] of turns) {
      const first = seq;
      await publisher.publishBatch(Array.from({ length: 4 }, () => numbered(seq++, size)));
      const batch = (await iterator.next()).value as Buffer[];
      expect(batch.map((message, i) => isNumbered(message, first + i) && message.length === size)).toEqual([true, true, true, true]);
      seen.push(batch);
    }
    expect(seen[0]![0]!.buffer).not.toBe(seen[1]![0]!.buffer);
    // Where its own last turn was laid out the same, an iterator hands out the same views.
    expect(seen[3]!.every((message, i) => message === seen[1]![i])).toBe(true);
    expect(seen[4]!.every((message, i) => message === seen[2]![i])).toBe(true);
  });

  it('two iterators with reuseBuffer each lend their own buffer', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    await publisher.publish(numbered(0, 300));
    const first = (await sub.batches({ reuseBuffer: true }).next()).value!;
    await publisher.publish(numbered(1, 300));
    const second = (await sub.batches({ reuseBuffer: true }).next()).value!;
    expect(first[0]!.buffer).not.toBe(second[0]!.buffer);
    expect(isNumbered(first[0]!, 0) && isNumbered(second[0]!, 1)).toBe(true);
  });

  it('counts what it hands over in stats(), as the single-message iterator does', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    await publisher.publishBatch(Array.from({ length: 50 }, (_, seq) => numbered(seq, 200)));
    await publisher.close();
    const seen: Buffer[] = [];
    for await (const batch of sub.batches()) seen.push(...batch);
    expect(seen.map((m, seq) => isNumbered(m, seq))).toEqual(seen.map(() => true));
    expect(sub.stats()).toMatchObject({ delivered: 50, deliveredBytes: 50 * 200, buffered: 0 });
  });

  it('fails with EvictedError on eviction, and after rejoin() goes on at the live head with a gap', async () => {
    const { path, publisher } = await listen({ policy: 'drop' });
    const sub = await subscribe(path);
    for (let seq = 0; seq < 200; seq++) publisher.offer(numbered(seq, 1000));
    const error = await sub.batches().next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EvictedError);
    expect((error as EvictedError).lostMessages).toBeGreaterThan(0); // what the eviction counted; the gap says the rest
    const gap = once(sub, 'gap') as Promise<[GapEvent]>;
    await sub.rejoin();
    expect((await gap)[0].lostMessages).toBe(200);
    await publisher.publishBatch([numbered(500, 64), numbered(501, 64)]);
    await publisher.close();
    const after: Buffer[] = [];
    for await (const batch of sub.batches()) after.push(...batch);
    expect(after.map((m) => m.readUInt32LE(0))).toEqual([500, 501]);
    expect(after.every((m) => isNumbered(m, m.readUInt32LE(0)))).toBe(true);
  });

  it('with rejoin: true, an eviction is a gap event and the batches go on', async () => {
    const { path, publisher } = await listen({ policy: 'drop' });
    const sub = await subscribe(path, { rejoin: true });
    const gap = once(sub, 'gap') as Promise<[GapEvent]>;
    for (let seq = 0; seq < 200; seq++) publisher.offer(numbered(seq, 1000));
    const iterator = sub.batches();
    const next = iterator.next();
    expect((await gap)[0]).toMatchObject({ reason: 'slow', lostMessages: 200 });
    await publisher.publish(numbered(999, 100));
    const { value } = await next;
    expect(value!.map((m: Buffer) => m.readUInt32LE(0))).toEqual([999]);
    expect(sub.stats()).toMatchObject({ evictions: 1, delivered: 1 });
  });

  it('an abort rejects a waiting next() and every next() after it, with ERR_RINGCAST_ABORTED', async () => {
    const { path, publisher } = await listen();
    const sub = await subscribe(path);
    const controller = new AbortController();
    const iterator = sub.batches({ signal: controller.signal });
    await publisher.publish(numbered(0, 64));
    expect((await iterator.next()).value!.length).toBe(1);
    const waiting = iterator.next(); // nothing published: it sleeps on the doorbell
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
    await publisher.publish(numbered(1, 64));
    await expect(iterator.next()).rejects.toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
    // The subscriber itself is unharmed: the message is still there for the next reader.
    expect(isNumbered((await sub.recv())!, 1)).toBe(true);
  });

  it('refuses a signal that is not an AbortSignal', async () => {
    const { path } = await listen();
    const sub = await subscribe(path);
    expect(() => sub.batches({ signal: 'soon' as never })).toThrow(/signal/);
  });
});
