// Defaults that resist denial of service (docs/security.md, "Defaults"): each
// test is an attack that worked against the earlier defaults.
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseControlMessage } from '../src/control.js';
import { native } from '../src/native.js';
import { EvictedError, Publisher, RefusedError, Subscriber, type EvictionEvent, type GapEvent } from '../src/index.js';
import { cleanup, listen, numbered, opened, runCommand, socketPath, spawned, type Proc } from './helpers.js';
import { NOBODY, OTHER, otherUidsUnavailable, runAs } from './other-uids.js';

afterEach(cleanup);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('block is bounded by default', () => {
  it('a subscriber that never reads is evicted (slow) and the bus goes on, with no option given', async () => {
    const { path, publisher } = await listen(); // block, capacity 64 KiB, nothing else
    const evictions: EvictionEvent[] = [];
    publisher.on('evict', (event: EvictionEvent) => evictions.push(event));
    const stuck = await Subscriber.connect({ path });
    opened.push(stuck);
    // Twice the ring: without a bound this never finishes.
    const published = [];
    for (let seq = 0; seq < 256; seq++) published.push(publisher.publish(numbered(seq, 500)));
    await Promise.all(published);
    expect(evictions).toMatchObject([{ reason: 'slow', slot: stuck.slot }]);
    await expect(stuck.recv()).rejects.toBeInstanceOf(EvictedError);
  }, 20_000);

  it('evictAfterMs: 0 asks for unbounded blocking; drop takes no evictAfterMs', async () => {
    const { path, publisher } = await listen({ evictAfterMs: 0 });
    const stuck = await Subscriber.connect({ path });
    opened.push(stuck);
    for (let seq = 0; seq < 256; seq++) publisher.publish(numbered(seq, 500)).catch(() => undefined);
    await sleep(300);
    expect(publisher.pending).toBeGreaterThan(0); // still waiting for the stuck one, as asked
    expect(publisher.stats().subscribers[0]!.state).not.toBe('evicted');
    await expect(listen({ evictAfterMs: -1 })).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION' });
    await expect(listen({ policy: 'drop', evictAfterMs: 0 } as never)).rejects.toThrow(/policy 'drop'/);
  });
});

describe('rejoin back-off', () => {
  /** Overruns `sub` on a drop bus until it is evicted (slow). */
  async function overrun(publisher: { offer(m: Uint8Array): boolean }, sub: Subscriber): Promise<void> {
    for (let seq = 0; seq < 200; seq++) publisher.offer(numbered(seq, 1000));
    await expect(sub.recv()).rejects.toBeInstanceOf(EvictedError);
  }

  it('a peer evicted slow again within a minute must wait, longer each time, before it may rejoin', async () => {
    const { path, publisher } = await listen({ policy: 'drop', rejoinBackoffMs: 200 });
    const refusals: Array<{ reason: string }> = [];
    publisher.on('refuse', (event: { reason: string }) => refusals.push(event));
    const sub = await Subscriber.connect({ path });
    opened.push(sub);

    await overrun(publisher, sub);
    await sub.rejoin(); // the first time: at once

    await sleep(300); // a separate incident (evictions closer together count once)
    await overrun(publisher, sub);
    const refused = (await sub.rejoin().catch((e: unknown) => e)) as RefusedError;
    expect(refused).toBeInstanceOf(RefusedError);
    expect(refused.reason).toBe('backoff');
    expect(refused.message).toMatch(/evicted \(slow or protocol\) 2 times within a minute; it may come back in \d+ ms/);
    expect(Number(/in (\d+) ms/.exec(refused.message)![1])).toBeLessThanOrEqual(200);
    expect(sub.state).toBe('evicted'); // still evicted, the connection kept: it may ask again
    expect(refusals).toMatchObject([{ reason: 'backoff' }]);
    while (await sub.rejoin().then(() => false, () => true)) await sleep(50);
    expect(sub.state).toBe('active');

    await sleep(300);
    await overrun(publisher, sub);
    const again = (await sub.rejoin().catch((e: unknown) => e)) as RefusedError;
    expect(again.reason).toBe('backoff');
    expect(Number(/in (\d+) ms/.exec(again.message)![1])).toBeGreaterThan(200); // doubled: 400
  });

  it('one stall that evicts several subscribers of one process at once is one incident, not a repeat', async () => {
    const { path, publisher } = await listen({ policy: 'drop', rejoinBackoffMs: 60_000 });
    const subs = [await Subscriber.connect({ path }), await Subscriber.connect({ path }), await Subscriber.connect({ path })];
    opened.push(...subs);
    for (let seq = 0; seq < 200; seq++) publisher.offer(numbered(seq, 1000));
    for (const sub of subs) await expect(sub.recv()).rejects.toBeInstanceOf(EvictedError);
    for (const sub of subs) await sub.rejoin(); // none refused: the process misbehaved once
    expect(subs.map((s) => s.state)).toEqual(['active', 'active', 'active']);
  });

  it('rejoin: true waits out the back-off and reports the gap', async () => {
    const { path, publisher } = await listen({ policy: 'drop', rejoinBackoffMs: 100 });
    const sub = await Subscriber.connect({ path, rejoin: true });
    opened.push(sub);
    const gaps: GapEvent[] = [];
    sub.on('gap', (gap: GapEvent) => gaps.push(gap));
    for (let round = 0; round < 3; round++) {
      for (let seq = 0; seq < 200; seq++) publisher.offer(numbered(seq, 1000));
      const before = gaps.length;
      // recv() rejoins (after the back-off from the second round on), then waits for the next message.
      const next = sub.recv();
      while (gaps.length === before) await sleep(20);
      publisher.offer(numbered(1000 + round, 64));
      expect((await next)!.readUInt32LE(0)).toBe(1000 + round);
    }
    expect(gaps).toHaveLength(3);
  });
});

const uidSkip = otherUidsUnavailable();

/**
 * test/fixtures/attach-many.mjs as `uid`, under --expose-gc: once it printed
 * what it took it collects garbage and prints "collected", so a fixture that
 * let go of its subscribers (released when collected: src/leaks.ts) fails
 * here every time instead of when V8 happens to collect.
 */
function attachMany(uid: number, path: string, count: number): Proc {
  const NODE_OPTIONS = [process.env.NODE_OPTIONS, '--expose-gc'].filter(Boolean).join(' ');
  return runAs(uid, 'attach-many.mjs', [path, String(count)], { env: { ...process.env, NODE_OPTIONS } });
}

describe('maxPerUid default', () => {
  it.runIf(!uidSkip)(`with two uids allowed, one of them cannot take every slot${uidSkip ? ` (skipped: ${uidSkip})` : ''}`, async () => {
    const path = socketPath();
    const publisher = await Publisher.listen({ path, capacity: 1 << 16, allow: { uids: [NOBODY, OTHER] } });
    opened.push(publisher);
    chmodSync(path, 0o777);
    const greedy = attachMany(NOBODY, path, 64);
    const taken = JSON.parse(await greedy.line(/^\{/)) as { attached: number; refused: string | null; message: string };
    expect(taken).toMatchObject({ attached: 32, refused: 'quota' });
    expect(taken.message).toMatch(/uid 65534 already holds 32 subscriptions/);
    await greedy.line(/^collected$/);
    const newcomer = attachMany(OTHER, path, 1);
    expect(JSON.parse(await newcomer.line(/^\{/))).toMatchObject({ attached: 1, refused: null });
    // The greedy process still holds its 32: had it died or let them go, its stderr says how.
    expect(publisher.subscriberCount, `${greedy.report()}\n${newcomer.report()}`).toBe(33);
  });
});

describe('connection floods', () => {
  /** Connections that never say hello: each holds a handshake slot until handshakeTimeoutMs. */
  function silentConnections(path: string, count: number): number[] {
    const fds: number[] = [];
    for (let i = 0; i < count; i++) fds.push(native.unixConnect(path));
    opened.push({ close: async () => fds.forEach((fd) => native.closeFd(fd)) });
    return fds;
  }

  it('a connection refused because of a flood is told why before it is closed', async () => {
    const { path } = await listen({ maxPendingHandshakes: 2 });
    const [, , third] = silentConnections(path, 3);
    let answer: { data: Buffer; fds: number[] } | null = null;
    while ((answer = native.unixRecv(third!, 512)) === null) await sleep(10);
    expect(parseControlMessage(answer.data)).toMatchObject({
      type: 'refused',
      reason: 'flood',
      message: '2 handshakes in progress (maxPendingHandshakes); try again',
    });
  });

  it('Subscriber.connect retries a flood refusal within its timeout and gets in', async () => {
    const { path, publisher } = await listen({ maxPendingHandshakes: 2, handshakeTimeoutMs: 300 });
    const refusals: Array<{ reason: string }> = [];
    publisher.on('refuse', (event: { reason: string }) => refusals.push(event));
    silentConnections(path, 2); // every handshake slot held, for 300 ms
    const sub = await Subscriber.connect({ path, handshakeTimeoutMs: 5000 });
    opened.push(sub);
    expect(refusals.some((r) => r.reason === 'flood')).toBe(true); // it was refused at least once
    await publisher.publish(numbered(1, 64));
    expect((await sub.recv())!.readUInt32LE(0)).toBe(1);
  });
});

describe('bad doorbell descriptors', () => {
  const nativeDir = fileURLToPath(new URL('../native/', import.meta.url));
  it.each([
    ['blocking-doorbell', 'doorbell descriptor: a blocking eventfd (a doorbell must be non-blocking)'],
    ['pipe-doorbell', 'doorbell descriptor: not an eventfd'],
  ])('%s: the refusal says what was wrong', async (mode, words) => {
    spawnSync('make', ['-s', '-C', join(nativeDir, 'tools')], { stdio: 'inherit' });
    const path = socketPath();
    const attacker = runCommand(join(nativeDir, 'build-tools', 'hostile_publisher'), [path, mode]);
    spawned.push(attacker.child);
    await attacker.line(/^listening$/);
    const error = (await Subscriber.connect({ path }).catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ code: 'ERR_RINGCAST_BAD_REGION' });
    expect(error.message).toContain(words);
  });
});
