// Point-to-point channels: socket-like semantics in both directions.
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel, ChannelServer, Publisher, RefusedError, Subscriber, type RefuseEvent } from '../src/index.js';
import { parseControlMessage } from '../src/control.js';
import { native } from '../src/native.js';
import { cleanup, opened, socketPath } from './helpers.js';

afterEach(cleanup);

/** Raw connections that never say hello; closed by cleanup. */
function silentConnections(path: string, count: number): number[] {
  const fds: number[] = [];
  for (let i = 0; i < count; i++) fds.push(native.unixConnect(path));
  opened.push({ close: async () => fds.forEach((fd) => native.closeFd(fd)) });
  return fds;
}

/** The first datagram the server sends on a raw connection, decoded; throws when none comes within 10 s. */
async function firstAnswer(fd: number) {
  for (let i = 0; i < 1000; i++) {
    const got = native.unixRecv(fd, 512);
    if (got) return parseControlMessage(got.data);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the server said nothing');
}

async function pair(options = {}) {
  const path = socketPath('chan.sock');
  const server = await ChannelServer.listen(path, options);
  opened.push(server);
  const [accepted, connected] = await Promise.all([server.accept(), Channel.connect(path, options)]);
  opened.push(accepted, connected);
  return { path, server, accepted, connected };
}

describe('channel', () => {
  it('sends and receives in both directions', async () => {
    const { accepted, connected } = await pair();
    await connected.send(Buffer.from('ping'));
    expect((await accepted.recv())!.toString()).toBe('ping');
    await accepted.send(Buffer.from('pong'));
    expect((await connected.recv())!.toString()).toBe('pong');
  });

  it('shutdown from either end: the peer drains, then sees the end; the other direction goes on', async () => {
    const { accepted, connected } = await pair();
    await connected.send(Buffer.from('last words'));
    await connected.shutdown();
    expect((await accepted.recv())!.toString()).toBe('last words');
    expect(await accepted.recv()).toBeNull();
    await accepted.send(Buffer.from('still here'));
    expect((await connected.recv())!.toString()).toBe('still here');
    await accepted.shutdown();
    expect(await connected.recv()).toBeNull();
  });

  it('the Duplex carries a byte stream larger than the ring, both ways at once', async () => {
    const { accepted, connected } = await pair({ capacity: 1 << 16 });
    const a = accepted.createDuplex();
    const b = connected.createDuplex();
    const payload = (seed: number) => Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * seed) & 0xff));
    const collect = async (stream: NodeJS.ReadableStream) => {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const atB = collect(b);
    const atA = collect(a);
    a.end(payload(7));
    b.end(payload(13));
    expect((await atB).equals(payload(7))).toBe(true);
    expect((await atA).equals(payload(13))).toBe(true);
  });

  it('close() of one end ends the other cleanly', async () => {
    const { accepted, connected } = await pair();
    await accepted.send(Buffer.from('bye'));
    await accepted.close();
    expect((await connected.recv())!.toString()).toBe('bye');
    expect(await connected.recv()).toBeNull();
  });

  it('refuses a bus subscriber on a channel, and a channel on a bus', async () => {
    // Each side answers the wrong hello with a refusal naming the protocol,
    // not silence (a handshake timeout would be another error).
    const { path } = await pair();
    const onChannel = await Subscriber.connect({ path, handshakeTimeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(onChannel).toBeInstanceOf(RefusedError);
    expect(onChannel).toMatchObject({ code: 'ERR_RINGCAST_REFUSED', reason: 'protocol' });
    expect((onChannel as Error).message).toMatch(/expected a channel hello/);

    const busPath = socketPath();
    opened.push(await Publisher.listen({ path: busPath }));
    const onBus = await Channel.connect(busPath).catch((e: unknown) => e);
    expect(onBus).toBeInstanceOf(RefusedError);
    expect(onBus).toMatchObject({ code: 'ERR_RINGCAST_REFUSED', reason: 'protocol' });
    expect((onBus as Error).message).toMatch(/is a bus; use Subscriber.connect/);
  });

  it('the allow list applies to channels too', async () => {
    const path = socketPath('chan.sock');
    const server = await ChannelServer.listen(path, { allow: { uids: [4242] } });
    opened.push(server);
    await expect(Channel.connect(path)).rejects.toBeInstanceOf(RefusedError);
  });
});

describe('channel server: the accept rules of a bus (src/control/server.ts)', () => {
  it('refuses a peer not on the allow list at accept, before any hello, with a refuse event', async () => {
    // The handshake timeout is far off: only a refusal at accept answers in time.
    const server = await ChannelServer.listen(socketPath('chan.sock'), { allow: { uids: [4242] }, handshakeTimeoutMs: 60_000 });
    opened.push(server);
    const refused: RefuseEvent[] = [];
    server.on('refuse', (e) => refused.push(e));
    const [silent] = silentConnections(server.path, 1);
    expect(await firstAnswer(silent!)).toMatchObject({ type: 'refused', reason: 'allow-list' });
    expect(refused).toEqual([expect.objectContaining({ reason: 'allow-list', pid: process.pid, uid: process.getuid!() })]);
  });

  it('bounds handshakes in progress by maxPendingHandshakes: the next connection is refused (flood) at accept', async () => {
    const server = await ChannelServer.listen(socketPath('chan.sock'), { maxPendingHandshakes: 2, handshakeTimeoutMs: 60_000 });
    opened.push(server);
    const refused: RefuseEvent[] = [];
    server.on('refuse', (e) => refused.push(e));
    const [, , third] = silentConnections(server.path, 3);
    expect(await firstAnswer(third!)).toMatchObject({
      type: 'refused',
      reason: 'flood',
      message: '2 handshakes in progress (maxPendingHandshakes); try again',
    });
    expect(refused).toEqual([expect.objectContaining({ reason: 'flood' })]);
  });

  it('a connection that never says hello is refused (timeout) with a refuse event, and the server goes on', async () => {
    const path = socketPath('chan.sock');
    const server = await ChannelServer.listen(path, { handshakeTimeoutMs: 200 });
    opened.push(server);
    const refused: RefuseEvent[] = [];
    server.on('refuse', (e) => refused.push(e));
    const [silent] = silentConnections(path, 1);
    expect(await firstAnswer(silent!)).toMatchObject({ type: 'refused', reason: 'timeout' });
    expect(refused).toEqual([expect.objectContaining({ reason: 'timeout' })]);
    const [accepted, connected] = await Promise.all([server.accept(), Channel.connect(path)]);
    opened.push(accepted, connected);
    await connected.send(Buffer.from('after the silent one'));
    expect((await accepted.recv())!.toString()).toBe('after the silent one');
  });
});

describe('closing a listener with handshakes in progress', () => {
  it('ends them with their timers: no refusal is reported after close()', async () => {
    const server = await ChannelServer.listen(socketPath('chan.sock'), { handshakeTimeoutMs: 50 });
    const refused: RefuseEvent[] = [];
    server.on('refuse', (e) => refused.push(e));
    silentConnections(server.path, 1);
    await new Promise((r) => setTimeout(r, 10)); // one turn of the event loop's poll: the server accepts it
    await server.close();
    await new Promise((r) => setTimeout(r, 200)); // four handshake timeouts
    expect(refused).toEqual([]);
  });
});

describe('channel options', () => {
  it('an option Channel.connect or ChannelServer.listen does not know is refused, naming it (not ignored)', async () => {
    const path = socketPath('chan.sock');
    const unknown = (name: string, use: string) => ({ code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringMatching(new RegExp(`^option "${name}": not an option of ${use} \\(known: capacity, `)) });
    await expect(ChannelServer.listen(path, { capacty: 1 << 20 } as never)).rejects.toMatchObject(unknown('capacty', 'ChannelServer\\.listen'));
    const server = await ChannelServer.listen(path);
    opened.push(server);
    await expect(Channel.connect(path, { timeoutMs: 10 } as never)).rejects.toMatchObject(unknown('timeoutMs', 'Channel\\.connect'));
    await expect(Channel.connect(path, null as never)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
  });

  it('ChannelServer.listen checks the ring options at listen, not at each accept where no one sees the error', async () => {
    for (const capacity of ['x', -1, 3, 1e20]) {
      await expect(ChannelServer.listen(socketPath('chan.sock'), { capacity } as never)).rejects.toMatchObject({
        code: 'ERR_RINGCAST_INVALID_OPTION',
        message: expect.stringMatching(/^option capacity: /),
      });
    }
    await expect(ChannelServer.listen(socketPath('chan.sock'), { lingerMs: -1 })).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
  });

  it('Channel.connect refuses a bad option before it connects: nothing is left open', async () => {
    const path = socketPath('chan.sock');
    const server = await ChannelServer.listen(path);
    opened.push(server);
    const descriptors = () => readdirSync('/proc/self/fd').length;
    const before = descriptors();
    for (const options of [{ capacity: -1 }, { capacity: 'x' }, { logger: 'x' }, { lingerMs: -1 }]) {
      await expect(Channel.connect(path, options as never)).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
    }
    expect(descriptors()).toBe(before);
  });

  it('accept() with a signal that is already aborted rejects at once, as connect() does', async () => {
    const server = await ChannelServer.listen(socketPath('chan.sock'));
    opened.push(server);
    const settled = await Promise.race([
      server.accept({ signal: AbortSignal.abort() }).then(() => 'accepted', (e: unknown) => e),
      new Promise((resolve) => setImmediate(resolve, 'still waiting')), // nothing is there to accept
    ]);
    expect(settled).toMatchObject({ code: 'ERR_RINGCAST_ABORTED' });
  });
});

describe('channel addresses between Xen domains', () => {
  it('xen:DOMID/NAME: no slot, a name that leaves room for the ring suffix, allow.domids required; off Xen a typed error', async () => {
    await expect(Channel.connect('xen:1/chan/0')).rejects.toMatchObject({ code: 'ERR_RINGCAST_BAD_ADDRESS', part: 'slot' });
    await expect(Channel.connect(`xen:1/${'n'.repeat(27)}`)).rejects.toMatchObject({ code: 'ERR_RINGCAST_BAD_ADDRESS', part: 'bus' });
    await expect(ChannelServer.listen('xen:0/chan')).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringMatching(/^option allow\.domids:/) });
    await expect(ChannelServer.listen('xen:0/chan', { allow: { uids: [0] } })).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
    await expect(ChannelServer.listen(socketPath('chan.sock'), { allow: { domids: [1] } })).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
    if (!native.xenAvailable()) {
      // This machine is no Xen domain: the Xen devices are named (npm run test:xen runs the real thing).
      await expect(Channel.connect('xen:1/chan')).rejects.toMatchObject({ code: 'ERR_RINGCAST_SYSTEM', message: expect.stringMatching(/gntalloc/) });
      await expect(ChannelServer.listen('xen:0/chan', { allow: { domids: [1] } })).rejects.toMatchObject({ code: 'ERR_RINGCAST_SYSTEM' });
    }
  });
});
