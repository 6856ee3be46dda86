// Hostile input on the control socket: garbage, oversized datagrams, wrong
// versions, silence, floods. The bus keeps serving the healthy.
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel, ChannelServer, Publisher, Subscriber, inspectBus } from '../src/index.js';
import { buildTools, mixedBus, removeVmDirs } from './ivshmem-bus.js';
import { C, native, type NativeControlMessage } from '../src/native.js';
import { encodeControlMessage, parseControlMessage, type ControlMessage } from '../src/control.js';
import { numbered, isNumbered, cleanup, cli, opened, run, socketPath, spawned } from './helpers.js';

/** How many of this process's descriptors are open on file `path`. */
function descriptorsOpenOn(path: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++;
    } catch {
      // the directory's own descriptor, closed by now
    }
  }
  return count;
}

const fds: number[] = [];
afterEach(async () => {
  for (const fd of fds.splice(0)) native.closeFd(fd);
  await cleanup();
});

async function busWithHealthySubscriber(options = {}) {
  const path = socketPath();
  const publisher = await Publisher.listen({ path, capacity: 1 << 16, ...options });
  opened.push(publisher);
  const healthy = await Subscriber.connect({ path });
  opened.push(healthy);
  return { path, publisher, healthy };
}

/** A raw client: connect, send bytes, return the first answer decoded by the C codec (or null when closed). */
async function raw(path: string, payload: Buffer | null): Promise<NativeControlMessage | null> {
  const fd = native.unixConnect(path);
  fds.push(fd);
  if (payload) native.unixSend(fd, payload, []);
  for (let i = 0; i < 400; i++) {
    const got = native.unixRecv(fd, C.RC_CONTROL_MAX_SIZE);
    if (got) {
      for (const extra of got.fds) native.closeFd(extra);
      if (got.data.length === 0) return null;
      const answer = native.decodeControl(got.data);
      if (answer === null) throw new Error(`undecodable answer: ${got.data.toString('hex')}`);
      return answer;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('no answer');
}

/** A well-formed hello, from the C encoder. */
function hello(version = C.RC_PROTOCOL_VERSION, role = C.RC_ROLE_SUBSCRIBE): Buffer {
  return native.encodeControl({ type: C.RC_CONTROL_HELLO, version, role });
}

/** A hello with one thing made wrong by hand (wire offsets of native/include/ringcast_control.h). */
function badHello(edit: (bytes: Buffer) => Buffer | void): Buffer {
  const bytes = hello();
  return edit(bytes) ?? bytes;
}

const refusedFor = (reason: number) => ({ type: C.RC_CONTROL_REFUSED, reason });

async function stillHealthy(publisher: Publisher, healthy: Subscriber): Promise<void> {
  for (let i = 0; i < 100; i++) await publisher.publish(numbered(i, 256));
  for (let i = 0; i < 100; i++) expect(isNumbered((await healthy.recv())!, i)).toBe(true);
}

describe('control socket under attack', () => {
  it.each([
    ['garbage', Buffer.from('\x00\xff garbage')],
    ['JSON (not the wire format)', Buffer.from('{"type":"hello","version":1,"role":"subscribe"}')],
    ['a header cut short', hello().subarray(0, C.RC_CONTROL_HEADER_SIZE - 6)],
    ['a bad magic', badHello((b) => void b.writeUInt32LE(0x4e4f534a, 0))],
    ['another wire format version', badHello((b) => void b.writeUInt16LE(C.RC_CONTROL_VERSION + 1, 4))],
    ['an unknown message type', badHello((b) => void b.writeUInt16LE(0xf0, 6))],
    ['a hello without its body', badHello((b) => {
      b.writeUInt32LE(0, 8);
      return b.subarray(0, C.RC_CONTROL_HEADER_SIZE);
    })],
    ['a body length that lies', badHello((b) => void b.writeUInt32LE(64, 8))],
    ['a trailing byte', Buffer.concat([hello(), Buffer.from([0])])],
    ['a reserved field set', badHello((b) => void b.writeUInt8(1, C.RC_CONTROL_HEADER_SIZE + 8))],
    ['an unknown role', badHello((b) => void b.writeUInt32LE(9, C.RC_CONTROL_HEADER_SIZE + 4))],
  ])('%s is refused with reason protocol', async (_name, payload) => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    expect(await raw(path, payload)).toMatchObject(refusedFor(C.RC_REFUSE_PROTOCOL));
    await stillHealthy(publisher, healthy);
  });

  it.each([
    ['one byte over the limit', C.RC_CONTROL_MAX_SIZE + 1],
    ['64 KiB', 64 * 1024],
  ])('an oversized datagram (%s) is refused, not half-read', async (_name, size) => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    const big = Buffer.alloc(size, 0x41);
    hello().copy(big);
    expect(await raw(path, big)).toMatchObject(refusedFor(C.RC_REFUSE_PROTOCOL));
    await stillHealthy(publisher, healthy);
  });

  it('a future protocol version is refused with reason version', async () => {
    const { path } = await busWithHealthySubscriber();
    const answer = await raw(path, hello(99));
    expect(answer).toMatchObject(refusedFor(C.RC_REFUSE_VERSION));
    expect(answer!.text).toMatch(/version 99/);
  });

  it('welcome carries the next message sequence number (subscribe and inspect)', async () => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    for (let i = 0; i < 5; i++) await publisher.publish(numbered(i, 64));
    expect(await raw(path, hello(C.RC_PROTOCOL_VERSION, C.RC_ROLE_INSPECT))).toEqual({
      type: C.RC_CONTROL_WELCOME,
      version: C.RC_PROTOCOL_VERSION,
      slot: -1,
      generation: 0,
      nextSeq: 5,
    });
    const welcome = await raw(path, hello());
    expect(welcome).toMatchObject({ type: C.RC_CONTROL_WELCOME, version: C.RC_PROTOCOL_VERSION, nextSeq: 5 });
    expect(welcome!.slot).toBeGreaterThanOrEqual(0);
    expect(welcome!.generation).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect(isNumbered((await healthy.recv())!, i)).toBe(true);
  });

  it('silence past the handshake timeout is refused with reason timeout', async () => {
    const { path } = await busWithHealthySubscriber({ handshakeTimeoutMs: 100 });
    expect(await raw(path, null)).toMatchObject(refusedFor(C.RC_REFUSE_TIMEOUT));
  });

  // A loaded machine deschedules a process for longer than a timeout: when
  // it runs again, the event loop runs expired timers before it polls the
  // socket that holds the message they wait for. `stall` is that pause,
  // put right after the moment that matters (the loop blocked in its check
  // phase, so the next turn begins with the timers).
  const stall = (ms: number): void => {
    setImmediate(() => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    });
  };

  it('a hello that came while the publisher was not scheduled is answered, not timed out', async () => {
    const { path } = await busWithHealthySubscriber({ handshakeTimeoutMs: 100 });
    const accept = native.unixAccept;
    native.unixAccept = (listenFd: number) => {
      const peer = accept(listenFd);
      if (peer) stall(300); // the handshake timer runs from here
      return peer;
    };
    try {
      expect(await raw(path, hello())).toMatchObject({ type: C.RC_CONTROL_WELCOME });
    } finally {
      native.unixAccept = accept;
    }
  });

  it('a welcome that came while the subscriber was not scheduled is taken, not timed out', async () => {
    const { path, publisher } = await busWithHealthySubscriber();
    publisher.once('subscribe', () => stall(300)); // the welcome is on its way
    const late = await Subscriber.connect({ path, handshakeTimeoutMs: 100 });
    opened.push(late);
    expect(late.slot).toBeGreaterThanOrEqual(0);
  });

  it('descriptors sent by a peer are closed, not kept', async () => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    // Descriptors of a file only this test opens: after the publisher read
    // them, the test's own must be the only ones left in the process.
    const dir = mkdtempSync(join(tmpdir(), 'ringcast-fds-'));
    const marker = join(dir, 'sent-by-peer');
    const sent = [openSync(marker, 'w'), openSync(marker, 'r')];
    expect(descriptorsOpenOn(marker)).toBe(2);
    const fd = native.unixConnect(path);
    fds.push(fd);
    native.unixSend(fd, hello(), sent);
    await once(publisher, 'subscribe');
    await stillHealthy(publisher, healthy);
    expect(descriptorsOpenOn(marker)).toBe(2);
    for (const own of sent) closeSync(own);
    expect(descriptorsOpenOn(marker)).toBe(0);
    rmSync(dir, { recursive: true });
  });

  it('max subscribers, per-uid quota and pending-handshake limits hold', async () => {
    const { path, publisher } = await busWithHealthySubscriber({ maxSubscribers: 2, maxPerUid: 2 });
    const second = await Subscriber.connect({ path });
    opened.push(second);
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

  it('a full backlog is accepted a bounded number per loop turn, so a connect-and-close loop cannot starve the publisher', async () => {
    const { path, publisher, healthy } = await busWithHealthySubscriber({ maxPendingHandshakes: 1 });
    const refused: unknown[] = [];
    publisher.on('refuse', (e) => refused.push(e));
    // What the loop did in the turn that accepted the first of them: an
    // immediate queued from inside that turn runs once its I/O callbacks end.
    const refusedInFirstTurn = new Promise<number>((resolve) => {
      publisher.once('refuse', () => setImmediate(() => resolve(refused.length)));
    });
    // Queued in the kernel's backlog (64) before the publisher's loop runs
    // again: the first holds the only handshake place, the rest are refused flood.
    const queued = 60;
    for (let i = 0; i < queued; i++) fds.push(native.unixConnect(path));
    expect(await refusedInFirstTurn).toBeLessThan(queued - 1);
    for (let i = 0; i < 200 && refused.length < queued - 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(refused).toHaveLength(queued - 1);
    expect(refused.every((e) => (e as { reason: string }).reason === 'flood')).toBe(true);
    await stillHealthy(publisher, healthy);
  });

  it('an attached subscriber that sends garbage is evicted with reason protocol; others carry on', async () => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    const fd = native.unixConnect(path);
    fds.push(fd);
    native.unixSend(fd, hello(), []);
    const [{ slot }] = await once(publisher, 'subscribe');
    const states: unknown[] = [];
    publisher.on('state', (change) => states.push(change));
    const evicted = once(publisher, 'evict');
    const left = once(publisher, 'unsubscribe');
    native.unixSend(fd, Buffer.from('garbage'), []);
    expect(await evicted).toEqual([expect.objectContaining({ reason: 'protocol' })]);
    // The publisher ends the connection: the slot goes for the same reason, not as if the peer had died.
    expect(await left).toEqual([{ slot, reason: 'protocol' }]);
    expect(states).toEqual([
      expect.objectContaining({ slot, from: 'active', to: 'evicted', reason: 'protocol' }),
      expect.objectContaining({ slot, from: 'evicted', to: 'detached', reason: 'protocol' }),
    ]);
    await stillHealthy(publisher, healthy);
  });

  it('an attached subscriber that says hello again is refused (protocol) and its slot goes for that reason', async () => {
    const { path, publisher, healthy } = await busWithHealthySubscriber();
    const fd = native.unixConnect(path);
    fds.push(fd);
    native.unixSend(fd, hello(), []);
    const [{ slot }] = await once(publisher, 'subscribe');
    const refused = once(publisher, 'refuse');
    const left = once(publisher, 'unsubscribe');
    native.unixSend(fd, hello(), []);
    expect(await refused).toEqual([expect.objectContaining({ reason: 'protocol' })]);
    expect(await left).toEqual([{ slot, reason: 'protocol' }]);
    await stillHealthy(publisher, healthy);
  });
});

describe('allow list at accept', () => {
  it('peers not on the list are refused before they can hold a handshake place', async () => {
    const path = socketPath();
    const publisher = await Publisher.listen({ path, allow: { uids: [4242] }, maxPendingHandshakes: 2, handshakeTimeoutMs: 60_000 });
    opened.push(publisher);
    const refused: Array<{ reason: string }> = [];
    publisher.on('refuse', (e) => refused.push(e));
    for (let i = 0; i < 10; i++) fds.push(native.unixConnect(path)); // silent, never say hello
    for (let i = 0; i < 100 && refused.length < 10; i++) await new Promise((r) => setTimeout(r, 10));
    expect(refused.map((r) => r.reason)).toEqual(Array(10).fill('allow-list'));
  });
});

describe('control messages through the C codec', () => {
  it.each<ControlMessage>([
    { type: 'hello', version: 1, role: 'subscribe' },
    { type: 'hello', version: 7, role: 'inspect' },
    { type: 'hello', version: 1, role: 'channel' },
    { type: 'welcome', version: 1, slot: -1, generation: 0, nextSeq: 0 },
    { type: 'welcome', version: 1, slot: 63, generation: 2 ** 40, nextSeq: Number.MAX_SAFE_INTEGER },
    ...(['version', 'allow-list', 'full', 'quota', 'protocol', 'timeout', 'closing', 'flood'] as const).map(
      (reason): ControlMessage => ({ type: 'refused', reason, message: `because ${reason} — ü 🚌` }),
    ),
    { type: 'detach' },
    { type: 'rejoin' },
  ])('%j survives encode and parse', (message) => {
    const bytes = encodeControlMessage(message);
    expect(bytes.length).toBeLessThanOrEqual(C.RC_CONTROL_MAX_SIZE);
    expect(parseControlMessage(bytes)).toEqual(message);
  });

  it('a long refusal text is cut to RC_CONTROL_MAX_TEXT bytes at a character boundary', () => {
    const long = 'é'.repeat(C.RC_CONTROL_MAX_TEXT); // 2 bytes each
    const parsed = parseControlMessage(encodeControlMessage({ type: 'refused', reason: 'protocol', message: `x${long}` }));
    expect(parsed).toMatchObject({ type: 'refused', reason: 'protocol' });
    const text = (parsed as { message: string }).message;
    expect(Buffer.byteLength(text)).toBe(C.RC_CONTROL_MAX_TEXT - 1);
    expect(text).toBe(`x${'é'.repeat((C.RC_CONTROL_MAX_TEXT - 2) / 2)}`);
  });

  it('the encoder refuses what the decoder would, and values a JS number cannot hold', () => {
    expect(() => native.encodeControl({ type: 99 })).toThrow(/invalid control message/);
    expect(() => native.encodeControl({ type: C.RC_CONTROL_HELLO, version: 1, role: 0 })).toThrow(/invalid control message/);
    expect(() => native.encodeControl({ type: C.RC_CONTROL_WELCOME, version: 1, slot: 64, generation: 0, nextSeq: 0 })).toThrow();
    expect(() =>
      native.encodeControl({ type: C.RC_CONTROL_WELCOME, version: 1, slot: 0, generation: 2 ** 53, nextSeq: 0 }),
    ).toThrow(/out of range/);
    // A u64 beyond 2^53 is valid on the wire but cannot be a JS number: unreadable here.
    const welcome = native.encodeControl({ type: C.RC_CONTROL_WELCOME, version: 1, slot: 0, generation: 1, nextSeq: 0 });
    welcome.writeBigUInt64LE(2n ** 53n, C.RC_CONTROL_HEADER_SIZE + 8);
    expect(native.decodeControl(welcome)).toBeNull();
    expect(native.decodeControl(Buffer.alloc(0))).toBeNull();
    expect(native.decodeControl(Buffer.alloc(C.RC_CONTROL_MAX_SIZE + 1))).toBeNull();
  });
});

// The same accept loop (src/control/server.ts) serves a ChannelServer and a
// mixed bus's socket: hostile bytes there must be refused the same way, and
// a well-behaved peer must still get in afterwards.
describe.each([
  [
    'a ChannelServer',
    async (options: { handshakeTimeoutMs?: number; maxPendingHandshakes?: number } = {}) => {
      const server = await ChannelServer.listen(socketPath('chan.sock'), options);
      opened.push(server);
      return {
        path: server.path,
        healthy: async () => {
          const [accepted, connected] = await Promise.all([server.accept(), Channel.connect(server.path)]);
          opened.push(accepted, connected);
          await connected.send(Buffer.from('after the attack'));
          expect((await accepted.recv())!.toString()).toBe('after the attack');
        },
      };
    },
  ],
  [
    'a mixed bus (ivshmem:RING?server=S&unix=PATH)',
    async (options: { handshakeTimeoutMs?: number; maxPendingHandshakes?: number } = {}) => {
      await buildTools();
      const { publisher, socket } = await mixedBus([{ name: 'g0' }], options);
      return {
        path: socket,
        healthy: async () => {
          const subscriber = await Subscriber.connect({ path: socket });
          opened.push(subscriber);
          await publisher.publish(Buffer.from('after the attack'));
          expect((await subscriber.recv())!.toString()).toBe('after the attack');
        },
      };
    },
  ],
] as const)('hostile bytes on the control socket of %s', (_target, make) => {
  afterEach(removeVmDirs);

  it('garbage, a cut header, a lying length and an oversized datagram are each refused (protocol); then a peer gets in', async () => {
    const { path, healthy } = await make();
    const payloads = [
      Buffer.from('\x00\xff garbage'),
      hello().subarray(0, C.RC_CONTROL_HEADER_SIZE - 6),
      badHello((b) => void b.writeUInt32LE(64, 8)),
      Buffer.concat([hello(), Buffer.alloc(64 * 1024 - hello().length, 0x41)]),
    ];
    for (const payload of payloads) expect(await raw(path, payload)).toMatchObject(refusedFor(C.RC_REFUSE_PROTOCOL));
    await healthy();
  });

  it('a hello carrying as many descriptors as a message can hold: they are closed, and a peer gets in', async () => {
    const { path, healthy } = await make();
    const dir = mkdtempSync(join(tmpdir(), 'ringcast-fds-'));
    const marker = join(dir, 'sent-by-peer');
    const sent = Array.from({ length: C.RC_MAX_FDS_PER_MESSAGE }, () => openSync(marker, 'w'));
    const fd = native.unixConnect(path);
    fds.push(fd);
    native.unixSend(fd, Buffer.from('\x00\xff garbage'), sent);
    for (const own of sent) closeSync(own);
    await healthy();
    expect(descriptorsOpenOn(marker)).toBe(0);
    rmSync(dir, { recursive: true });
  });

  it('slow-loris: silent connections past maxPendingHandshakes are refused (flood) at once, the held ones time out, then a peer gets in', async () => {
    const { path, healthy } = await make({ maxPendingHandshakes: 2, handshakeTimeoutMs: 300 });
    const silent = [native.unixConnect(path), native.unixConnect(path)];
    fds.push(...silent);
    expect(await raw(path, null)).toMatchObject(refusedFor(C.RC_REFUSE_FLOOD));
    expect(await raw(path, null)).toMatchObject(refusedFor(C.RC_REFUSE_FLOOD));
    await healthy(); // refused (flood) while the silent ones hold both places, it tries again until they time out
  });
});

// A subscriber or `ringcast stat` pointed at a channel's socket by mistake
// must hear at once what it is, whether or not the server has an accept()
// waiting: the role is checked at hello by the one control server.
describe('a ChannelServer refuses a subscriber and an inspector at once', () => {
  it.each([
    ['no accept() pending', false],
    ['an accept() pending', true],
  ])('%s: Subscriber.connect, inspectBus, ringcast sub and ringcast stat are refused (protocol: use Channel.connect)', async (_case, pending) => {
    const server = await ChannelServer.listen(socketPath('chan.sock'));
    opened.push(server);
    const refused: string[] = [];
    server.on('refuse', (event) => refused.push(event.reason));
    const stopAccepting = new AbortController();
    const accepting = pending ? server.accept({ signal: stopAccepting.signal }).catch(() => null) : null;
    // Timeouts far beyond the default: waiting them out instead of being refused shows as a handshake error.
    const wrongRole = { code: 'ERR_RINGCAST_REFUSED', message: expect.stringMatching(/\(protocol\).*use Channel\.connect/) };
    expect(await Subscriber.connect({ path: server.path, handshakeTimeoutMs: 600_000 }).catch((e: unknown) => e)).toMatchObject(wrongRole);
    expect(await inspectBus(server.path, 600_000).catch((e: unknown) => e)).toMatchObject(wrongRole);
    for (const command of ['sub', 'stat']) {
      const proc = run(cli, [command, server.path]);
      spawned.push(proc.child);
      expect((await proc.exited).code).toBe(1);
      expect(proc.stderr()).toMatch(/ERR_RINGCAST_REFUSED.*\(protocol\).*use Channel\.connect/);
    }
    expect(refused).toEqual(['protocol', 'protocol', 'protocol', 'protocol']);
    stopAccepting.abort();
    expect(await accepting).toBeNull();
  });
});
