// Clients written from the docs alone, run against the real thing.
//
// test/fixtures/docs_subscriber.py (a subscriber of a local bus) and
// test/fixtures/docs_bridge_client.py (a peer of the bridge's TCP wire
// format) were written in Python from README.md and docs/ only, without the
// sources. Here they attach to real publishers (this process, `ringcast pub`)
// and real `ringcast bridge` processes: if the docs and the code drift apart,
// one of these fails. python3 is a prerequisite (README).
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { encodeControlMessage } from '../src/control.js';
import { Publisher, Subscriber, type EvictionEvent, type UnsubscribeEvent } from '../src/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { cleanup, cli, fixtures, listen, opened, runCommand, socketPath, spawned, type Proc } from './helpers.js';

afterEach(cleanup);

const SUBSCRIBER = `${fixtures}docs_subscriber.py`;
const BRIDGE_CLIENT = `${fixtures}docs_bridge_client.py`;

function python(script: string, args: string[]): Proc {
  const proc = runCommand('python3', [script, ...args]);
  spawned.push(proc.child);
  return proc;
}

function ringcast(args: string[]): Proc {
  const proc = runCommand(process.execPath, [cli, ...args]);
  spawned.push(proc.child);
  return proc;
}

async function json(proc: Proc, event: string): Promise<Record<string, any>> {
  return JSON.parse(await proc.line(new RegExp(`"event": ?"${event}"`)));
}

/** Message i: its size cycles through empty, small, and larger than a record of a 64 KiB ring. */
function message(i: number, size = i % 97 === 5 ? 40_000 + i * 7 : i % 13 === 0 ? 0 : (i * 31) % 900): Buffer {
  const m = Buffer.alloc(size);
  for (let j = 0; j < size; j++) m[j] = (i + j * 7) & 255;
  return m;
}

/** What the clients hash: every message as (u64 little-endian length, bytes). */
class Digest {
  readonly #hash = createHash('sha256');
  count = 0;
  add(m: Uint8Array): void {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(m.length));
    this.#hash.update(length).update(m);
    this.count++;
  }
  hex(): string {
    return this.#hash.digest('hex');
  }
}

describe('a subscriber written from the docs (Python, test/fixtures/docs_subscriber.py)', () => {
  it('receives every message in order, fragmented ones intact, acks so a blocking publisher never waits it out, and sees the orderly end', async () => {
    const { path, publisher } = await listen(); // block, evictAfterMs 5000: a client that never woke the publisher would be evicted
    const evictions: EvictionEvent[] = [];
    publisher.on('evict', (e) => evictions.push(e));
    const sub = python(SUBSCRIBER, [path]);
    const welcome = await json(sub, 'welcome');
    expect(welcome).toMatchObject({ slot: 0, nextSeq: 0, capacity: 1 << 16, maxPayload: publisher.maxPayload, envelope: false });
    const digest = new Digest();
    let fragmented = 0;
    for (let i = 0; i < 3000; i++) {
      const m = message(i);
      if (m.length > publisher.maxPayload) fragmented++;
      digest.add(m);
      await publisher.publish(m);
    }
    await publisher.close();
    const end = await json(sub, 'end');
    expect(end, sub.report()).toMatchObject({ how: 'closed', messages: 3000, sha256: digest.hex(), fragmented, firstSeq: 0, lastSeq: 2999 });
    expect(fragmented).toBeGreaterThan(20);
    expect(evictions).toEqual([]);
    expect((await sub.exited).code).toBe(0);
  });

  it('sees an aborted bus as aborted, after reading everything committed', async () => {
    const { path, publisher } = await listen();
    const sub = python(SUBSCRIBER, [path]);
    await json(sub, 'welcome');
    const digest = new Digest();
    for (let i = 0; i < 500; i++) {
      digest.add(message(i));
      await publisher.publish(message(i));
    }
    publisher.abort();
    expect(await json(sub, 'end')).toMatchObject({ how: 'aborted', messages: 500, sha256: digest.hex() });
    expect((await sub.exited).code).toBe(1);
  });

  it('reads `ringcast pub` byte-exact, and sees the publisher process killed as gone after draining', async () => {
    const path = socketPath();
    const input = Buffer.concat(Array.from({ length: 200 }, (_, i) => message(i, 5000 + i)));
    // The end of the input closes the bus.
    const pub = ringcast(['pub', path, '--capacity', String(1 << 16)]);
    await waitForSocket(pub, path);
    const sub = python(SUBSCRIBER, [path]);
    await json(sub, 'welcome');
    pub.child.stdin!.end(input);
    const end = await json(sub, 'end');
    expect(end).toMatchObject({ how: 'closed', bytes: input.length, streamSha256: sha256(input) });
    expect((await pub.exited).code).toBe(0);

    // Killed: no CLOSED in the ring, only the socket's end tells.
    const path2 = socketPath();
    const pub2 = ringcast(['pub', path2, '--capacity', String(1 << 16)]);
    await waitForSocket(pub2, path2);
    const sub2 = python(SUBSCRIBER, [path2]);
    await json(sub2, 'welcome');
    pub2.child.stdin!.write(input);
    // Until everything is committed and acknowledged (`ringcast stat`), then SIGKILL.
    await untilStat(path2, (s) => s.head >= input.length && s.subscribers[0]?.lagBytes === 0);
    pub2.child.kill('SIGKILL');
    const end2 = await json(sub2, 'end');
    expect(end2).toMatchObject({ how: 'gone', bytes: input.length, streamSha256: sha256(input) });
  });

  it('is evicted under drop when it stops reading, and reports the lost range the publisher reports', async () => {
    const { path, publisher } = await listen({ policy: 'drop' });
    const evictions: EvictionEvent[] = [];
    publisher.on('evict', (e) => evictions.push(e));
    const sub = python(SUBSCRIBER, [path, '--stall-after', '10']);
    await json(sub, 'welcome');
    for (let i = 0; i < 10; i++) await publisher.publish(message(i, 100));
    await json(sub, 'stalled'); // it read (and acknowledged) 10 messages, and reads no more
    let published = 10;
    while (evictions.length === 0) await publisher.publish(message(published++, 1000));
    sub.child.stdin!.write('go on\n');
    const end = await json(sub, 'end');
    const [evict] = evictions;
    expect(evict).toMatchObject({ slot: 0, reason: 'slow' });
    expect(end, sub.report()).toMatchObject({
      how: 'evicted', reason: 'slow', messages: 10, lostFrom: evict!.lostFrom, lostTo: evict!.lostTo, lostBytes: evict!.lostBytes,
      // everything the publisher had written when it evicted, after the 10 read
      lostMessages: published - 10 - 1,
    });
    expect((await sub.exited).code).toBe(1);
  });

  it('rejoins after the eviction at the live head: received + the gap it reports = published', async () => {
    const { path, publisher } = await listen({ policy: 'drop' });
    const evictions: EvictionEvent[] = [];
    publisher.on('evict', (e) => evictions.push(e));
    const sub = python(SUBSCRIBER, [path, '--stall-after', '10', '--rejoins', '1']);
    await json(sub, 'welcome');
    for (let i = 0; i < 10; i++) await publisher.publish(message(i, 100));
    await json(sub, 'stalled');
    let published = 10;
    while (evictions.length === 0) await publisher.publish(message(published++, 1000));
    sub.child.stdin!.write('go on\n');
    const gap = await json(sub, 'gap');
    const rewelcome = JSON.parse(await sub.line(/"event": "welcome".*"generation": 2\b/));
    expect(rewelcome, sub.report()).toMatchObject({ generation: 2, nextSeq: published });
    // Under drop, more than a ring ahead of it would evict it again: small messages, a ring's worth at a time.
    for (let i = published; i < published + 500; i++) {
      await publisher.publish(message(i, i % 900));
      if (i % 32 === 0) await untilCaughtUp(publisher);
    }
    await publisher.close();
    const end = await json(sub, 'end');
    expect(end, sub.report()).toMatchObject({ how: 'closed', messages: 10 + 500, lastSeq: published + 499 });
    expect(end.messages + gap.lostMessages).toBe(published + 500);
  });

  it('rejoining while the publisher is part-way through a fragmented message, counts that message in the gap', async () => {
    // The publisher waits for a subscriber that does not read, in the middle of a message of several
    // records; meanwhile the Python subscriber, stopped, is evicted (heartbeat) and rejoins: it joins
    // inside that message, whose tail it skips, so that message is lost to it as well.
    // (The holder bumps its heartbeat from this process's event loop every 250 ms: 1500 ms leaves room for a loaded machine.)
    const { path, publisher } = await listen({ evictAfterMs: 0, heartbeatTimeoutMs: 1500 });
    const holder = await Subscriber.connect({ address: path, rejoin: true });
    opened.push(holder);
    const evictions: EvictionEvent[] = [];
    publisher.on('evict', (e) => evictions.push(e));
    const sub = python(SUBSCRIBER, [path, '--stall-after', '1', '--rejoins', '1']);
    const { slot } = await json(sub, 'welcome');
    await publisher.publish(message(0, 100));
    await json(sub, 'stalled');
    const big = publisher.publish(message(1, 5 * publisher.maxPayload)); // held up by `holder` after a ring's worth
    while (!evictions.some((e) => e.slot === slot)) await new Promise((r) => setTimeout(r, 20));
    sub.child.stdin!.write('go on\n');
    const gap = await json(sub, 'gap');
    const reading = (async () => {
      for await (const _ of holder) void _;
    })();
    await big;
    for (let i = 2; i < 100; i++) await publisher.publish(message(i, 100));
    await publisher.close();
    await reading;
    const end = await json(sub, 'end');
    expect(end, sub.report()).toMatchObject({ how: 'closed', firstSeq: 0, lastSeq: 99 });
    expect(end.messages + gap.lostMessages).toBe(100);
  });

  it('takes a bus address as docs/addresses.md writes it: unix: with %XX escapes', async () => {
    const path = socketPath('a%b?c.sock');
    const publisher = await Publisher.listen({ path, capacity: 1 << 16 }); // `path` is never parsed
    opened.push(publisher);
    const address = `unix:${path.replace(/%/g, '%25').replace(/\?/g, '%3F')}`;
    const sub = python(SUBSCRIBER, [address, '--detach-after', '1']);
    await json(sub, 'welcome');
    await publisher.publish(Buffer.from('one'));
    expect(await json(sub, 'end')).toMatchObject({ how: 'detached', messages: 1 });
    const bad = python(SUBSCRIBER, [`unix:${path.replace(/%/g, '%zz')}`]);
    expect(await json(bad, 'end')).toMatchObject({ how: 'bad-address' });
  });

  it('detaches in order: the publisher frees its slot as closed, not dead', async () => {
    const { path, publisher } = await listen();
    const unsubscribed: UnsubscribeEvent[] = [];
    publisher.on('unsubscribe', (e) => unsubscribed.push(e));
    const sub = python(SUBSCRIBER, [path, '--detach-after', '5']);
    await json(sub, 'welcome');
    for (let i = 0; i < 5; i++) await publisher.publish(message(i, 10));
    expect(await json(sub, 'end')).toMatchObject({ how: 'detached', messages: 5 });
    while (unsubscribed.length === 0) await new Promise((r) => setTimeout(r, 10));
    expect(unsubscribed).toEqual([expect.objectContaining({ slot: 0, reason: 'closed' })]);
  });
});

describe('the bytes the docs spell out', () => {
  it('docs/protocol.md: hello, detach and rejoin are the datagrams the codec encodes', () => {
    const text = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
    const spelled = (name: string): Buffer => {
      const line = text.split('\n').find((l) => new RegExp(`^${name} +(?:[0-9a-f]{2} )+`).test(l));
      expect(line, `docs/protocol.md spells out ${name}`).toBeDefined();
      return Buffer.from(line!.slice(name.length).replace(/\s+/g, ''), 'hex');
    };
    expect(spelled('hello')).toEqual(encodeControlMessage({ type: 'hello', version: 1, role: 'subscribe' }));
    expect(spelled('detach')).toEqual(encodeControlMessage({ type: 'detach' }));
    expect(spelled('rejoin')).toEqual(encodeControlMessage({ type: 'rejoin' }));
  });
});

describe('a bridge peer written from the docs (Python, test/fixtures/docs_bridge_client.py)', () => {
  it('decodes the frames of `ringcast bridge --forward BUS --tcp-listen`: every message intact, origin = the bus id, and a gap where the bridge dropped', async () => {
    const { path, publisher } = await listen();
    const bridge = ringcast(['bridge', '--forward', path, '--tcp-listen', '127.0.0.1:0', '--policy', 'drop', '--json']);
    const { port } = await json(bridge, 'ready');
    // The bus id, as a subscriber reads it from the descriptor.
    const probe = python(SUBSCRIBER, [path, '--detach-after', '1']);
    const { busId } = await json(probe, 'welcome');
    await publisher.publish(Buffer.from('probe'));
    await json(probe, 'end');
    const client = python(BRIDGE_CLIENT, ['read', `127.0.0.1:${port}`, '--messages', '3000', '--pause-after', '1000']);
    await json(client, 'connected');
    await bridgeEvent(bridge, 'up', 1);

    const digest = new Digest();
    const publish = async (from: number, to: number, counted: boolean): Promise<void> => {
      for (let i = from; i < to; i++) {
        const m = message(i, 200 + (i % 7) * 3000);
        if (counted) digest.add(m);
        await publisher.publish(m);
      }
    };
    await publish(0, 1000, true);
    await json(client, 'paused');
    await bridgeEvent(bridge, 'down', 1);
    // The link event names the peer that went away (its address is gone from a closed socket).
    const down = bridge.lines().map((l) => JSON.parse(l)).find((e) => e.event === 'down');
    expect(down.reason).toMatch(/^tcp peer 127\.0\.0\.1:\d+ went away$/);
    // The link is down: a drop bridge drops what it reads now (docs/bridge.md).
    await publish(1000, 2000, false);
    await untilCaughtUp(publisher);
    client.child.stdin!.write('reconnect\n');
    await bridgeEvent(bridge, 'up', 2);
    await publish(2000, 3000, true);
    const end = await json(client, 'end');
    // The probe message was seq 0 of the bus; the clients' messages are 1..3000.
    expect(end, client.report()).toMatchObject({
      how: 'done', messages: 2000, lost: 1000, sha256: digest.hex(), duplicates: 0, origins: [busId], hops: [0],
      gaps: [{ origin: busId, fromSeq: 1001, toSeq: 2001, lostMessages: 1000 }],
    });
  });

  it('feeds `ringcast bridge --republish BUS --tcp-connect`: the republished bus carries every message with its origin and one hop, and the bridge reports the gap', async () => {
    const sender = python(BRIDGE_CLIENT, ['send', '0', '--messages', '3000', '--skip', '1000:1100', '--size-cycle', '10,200,3000,40000']);
    const { port } = await json(sender, 'listening');
    const mirror = socketPath('mirror.sock');
    const bridge = ringcast(['bridge', '--republish', mirror, '--tcp-connect', `127.0.0.1:${port}`, '--capacity', String(1 << 16), '--json']);
    await json(bridge, 'ready');
    await json(sender, 'connected');
    const sub = python(SUBSCRIBER, [mirror]);
    const welcome = await json(sub, 'welcome');
    expect(welcome).toMatchObject({ envelope: true });
    sender.child.stdin!.write('send\n');
    const sent = await json(sender, 'sent');
    const gap = await json(bridge, 'gap');
    expect(gap).toMatchObject({ origin: sent.origin, fromSeq: 1000, toSeq: 1100, lostMessages: 100, where: 'upstream' });
    // The bridge closes its bus when it stops: the subscriber reads everything, then the end.
    await untilStat(mirror, (s) => s.messages === 2900 && s.subscribers[0]?.lagBytes === 0);
    bridge.child.kill('SIGTERM');
    const end = await json(sub, 'end');
    expect(end, sub.report()).toMatchObject({ how: 'closed', messages: 2900, sha256: sent.sha256, origins: [sent.origin], hops: [1] });
    expect(end.fragmented).toBeGreaterThan(0);
  });
});

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

async function waitForSocket(pub: Proc, path: string): Promise<void> {
  while (!existsSync(path)) {
    if (pub.child.exitCode !== null) throw new Error(pub.report());
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Until every subscriber acknowledged everything published. */
async function untilCaughtUp(publisher: Publisher): Promise<void> {
  while (publisher.stats().subscribers.some((s) => s.lagBytes > 0)) await new Promise((r) => setTimeout(r, 5));
}

/** Until the bridge's --json output holds `n` events named `event`. */
async function bridgeEvent(bridge: Proc, event: string, n: number): Promise<void> {
  while (bridge.lines().filter((l) => JSON.parse(l).event === event).length < n) {
    if (bridge.child.exitCode !== null) throw new Error(bridge.report());
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Until `ringcast stat BUS --json` satisfies `done`. */
async function untilStat(bus: string, done: (stat: any) => boolean): Promise<void> {
  for (;;) {
    const stat = runCommand(process.execPath, [cli, 'stat', bus, '--json']);
    if ((await stat.exited).code === 0 && done(JSON.parse(stat.stdout()))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
