// Hostile input on the control socket: garbage, oversized datagrams, wrong
// versions, silence, floods. The bus keeps serving the healthy.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Publisher, Subscriber } from '../src/index.js';
import { native } from '../src/native.js';
import { numbered, isNumbered, removeTempDirs, socketPath } from './helpers.js';

const open: Array<{ close(): Promise<void> }> = [];
const fds: number[] = [];
afterEach(async () => {
  for (const fd of fds.splice(0)) native.closeFd(fd);
  for (const thing of open.splice(0).reverse()) await thing.close();
  removeTempDirs();
});

async function busWithHealthySubscriber(options = {}) {
  const path = socketPath();
  const publisher = await Publisher.listen({ path, capacity: 1 << 16, ...options });
  open.push(publisher);
  const healthy = await Subscriber.connect({ path });
  open.push(healthy);
  return { path, publisher, healthy };
}

/** A raw client: connect, send bytes, return the first answer (or null when closed). */
async function raw(path: string, payload: Buffer | null): Promise<Record<string, unknown> | null> {
  const fd = native.unixConnect(path);
  fds.push(fd);
  if (payload) native.unixSend(fd, payload, []);
  for (let i = 0; i < 400; i++) {
    const got = native.unixRecv(fd, 4096);
    if (got) {
      for (const extra of got.fds) native.closeFd(extra);
      return got.data.length === 0 ? null : (JSON.parse(got.data.toString()) as Record<string, unknown>);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('no answer');
}

async function stillHealthy(publisher: Publisher, healthy: Subscriber): Promise<void> {
  for (let i = 0; i < 100; i++) await publisher.publish(numbered(i, 256));
  for (let i = 0; i < 100; i++) expect(isNumbered((await healthy.recv())!, i)).toBe(true);
}

describe('control socket under attack', () => {
  it.each([
    ['not JSON', Buffer.from('\x00\xff garbage')],
    ['JSON but not a message', Buffer.from('[1,2,3]')],
    ['an unknown message type', Buffer.from('{"type":"format-disk"}')],
    ['a hello without a version', Buffer.from('{"type":"hello","role":"subscribe"}')],
  ])('%s is refused with reason protocol', async (_name, payload) => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    expect(await raw(path, payload)).toMatchObject({ type: 'refused', reason: 'protocol' });
    await stillHealthy(publisher, healthy);
  });

  it('an oversized datagram is refused, not half-read', async () => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    expect(await raw(path, Buffer.alloc(64 * 1024, 0x41))).toMatchObject({ type: 'refused', reason: 'protocol' });
    await stillHealthy(publisher, healthy);
  });

  it('a future protocol version is refused with reason version', async () => {
    const { path } = await busWithHealthySubscriber();
    expect(await raw(path, Buffer.from('{"type":"hello","version":99,"role":"subscribe"}'))).toMatchObject({
      type: 'refused',
      reason: 'version',
    });
  });

  it('silence past the handshake timeout is refused with reason timeout', async () => {
    const { path } = await busWithHealthySubscriber({ handshakeTimeoutMs: 100 });
    expect(await raw(path, null)).toMatchObject({ type: 'refused', reason: 'timeout' });
  });

  it('descriptors sent by a peer are closed, not kept', async () => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    const fd = native.unixConnect(path);
    fds.push(fd);
    native.unixSend(fd, Buffer.from('{"type":"hello","version":1,"role":"subscribe"}'), [0, 1, 2]);
    await once(publisher, 'subscribe');
    await stillHealthy(publisher, healthy);
  });

  it('max subscribers, per-uid quota and pending-handshake limits hold', async () => {
    const { path, publisher } = await busWithHealthySubscriber({ maxSubscribers: 2, maxPerUid: 2 });
    const second = await Subscriber.connect({ path });
    open.push(second);
    const third = await Subscriber.connect({ path }).catch((e: unknown) => e);
    expect(third).toMatchObject({ code: 'ERR_RINGCAST_REFUSED', reason: 'full' });
    expect(publisher.subscriberCount).toBe(2);

    const quota = await busWithHealthySubscriber({ maxPerUid: 1 });
    const again = await Subscriber.connect({ path: quota.path }).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'ERR_RINGCAST_REFUSED', reason: 'quota' });

    const flood = await busWithHealthySubscriber({ maxPendingHandshakes: 4, handshakeTimeoutMs: 60_000 });
    const refused: unknown[] = [];
    flood.publisher.on('refuse', (e) => refused.push(e));
    for (let i = 0; i < 20; i++) fds.push(native.unixConnect(flood.path));
    for (let i = 0; i < 100 && refused.length < 16; i++) await new Promise((r) => setTimeout(r, 10));
    expect(refused.length).toBe(16);
    expect(refused[0]).toMatchObject({ reason: 'flood' });
    await stillHealthy(flood.publisher, flood.healthy);
  });

  it('an attached subscriber that sends garbage is evicted with reason protocol; others carry on', async () => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    const fd = native.unixConnect(path);
    fds.push(fd);
    native.unixSend(fd, Buffer.from('{"type":"hello","version":1,"role":"subscribe"}'), []);
    await once(publisher, 'subscribe');
    const evicted = once(publisher, 'evict');
    native.unixSend(fd, Buffer.from('garbage'), []);
    expect(await evicted).toEqual([expect.objectContaining({ reason: 'protocol' })]);
    await stillHealthy(publisher, healthy);
  });
});

describe('allow list at accept', () => {
  it('peers not on the list are refused before they can hold a handshake place', async () => {
    const path = socketPath();
    const publisher = await Publisher.listen({ path, allow: { uids: [4242] }, maxPendingHandshakes: 2, handshakeTimeoutMs: 60_000 });
    open.push(publisher);
    const refused: Array<{ reason: string }> = [];
    publisher.on('refuse', (e) => refused.push(e));
    for (let i = 0; i < 10; i++) fds.push(native.unixConnect(path)); // silent, never say hello
    for (let i = 0; i < 100 && refused.length < 10; i++) await new Promise((r) => setTimeout(r, 10));
    expect(refused.map((r) => r.reason)).toEqual(Array(10).fill('allow-list'));
  });
});
