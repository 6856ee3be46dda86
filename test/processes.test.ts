// Real processes over real shared memory: crashes, kills, permissions.
import { once } from 'node:events';
import { chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Publisher, Subscriber, PublisherGoneError, RefusedError } from '../src/index.js';
import { fixture, fixtures, isNumbered, numbered, cleanup, opened, spawned, socketPath, listen } from './helpers.js';

afterEach(cleanup);


function parseLast(text: string): Record<string, unknown> {
  return JSON.parse(text.trim().split('\n').pop()!) as Record<string, unknown>;
}

describe('subscriber processes', () => {
  it('several processes each receive every message in order, intact', async () => {
    const { path, publisher } = await listen();
    const subs = [0, 1, 2].map(() => fixture('subscriber.mjs', [path, 'count']));
    spawned.push(...subs.map((s) => s.child));
    await Promise.all(subs.map((s) => s.line(/^attached$/)));
    for (let seq = 0; seq < 20_000; seq++) await publisher.publish(numbered(seq, 64 + (seq % 300)));
    await publisher.close();
    for (const s of subs) {
      expect((await s.exited).code).toBe(0);
      expect(parseLast(s.stdout())).toEqual({ received: 20_000, inOrder: true, intact: true, error: null });
    }
  });

  it('kill -9 of a subscriber mid-stream frees its slot at once and the publisher goes on', async () => {
    const { path, publisher } = await listen();
    const victim = fixture('subscriber.mjs', [path, 'hold']); // never reads: holds the ring full
    const healthy = fixture('subscriber.mjs', [path, 'count']);
    spawned.push(victim.child, healthy.child);
    await victim.line(/^attached$/);
    await healthy.line(/^attached$/);
    expect(publisher.subscriberCount).toBe(2);
    const publishing = (async () => {
      for (let seq = 0; seq < 5000; seq++) await publisher.publish(numbered(seq, 1000));
    })();
    await new Promise((r) => setTimeout(r, 100));
    expect(publisher.pending).toBe(1); // blocked by the holder
    const gone = once(publisher, 'unsubscribe');
    victim.child.kill('SIGKILL');
    const [event] = (await gone) as [{ reason: string }];
    expect(event.reason).toBe('dead');
    expect(publisher.subscriberCount).toBe(1);
    await publishing;
    await publisher.close();
    expect((await healthy.exited).code).toBe(0);
    expect(parseLast(healthy.stdout())).toEqual({ received: 5000, inOrder: true, intact: true, error: null });
  });

  it('a subscriber that writes into the ring mapping crashes alone', async () => {
    const { path, publisher } = await listen();
    const vandal = fixture('subscriber.mjs', [path, 'write-ring']);
    const healthy = fixture('subscriber.mjs', [path, 'count']);
    spawned.push(vandal.child, healthy.child);
    await vandal.line(/^attached$/);
    await healthy.line(/^attached$/);
    await publisher.publish(numbered(0, 100));
    const { signal } = await vandal.exited;
    expect(signal).toBe('SIGSEGV');
    expect(vandal.stdout()).not.toContain('survived');
    for (let seq = 1; seq < 1000; seq++) await publisher.publish(numbered(seq, 100));
    await publisher.close();
    await healthy.exited;
    expect(parseLast(healthy.stdout())).toEqual({
      received: 1000,
      inOrder: true,
      intact: true,
      error: null,
    });
  });

  it('a 64 MiB message crosses processes through a 1 MiB ring', async () => {
    const { path, publisher } = await listen({ capacity: 1 << 20 });
    const sub = fixture('subscriber.mjs', [path, 'sha']);
    spawned.push(sub.child);
    await sub.line(/^attached$/);
    const big = Buffer.alloc(64 << 20);
    for (let i = 0; i < big.length; i += 1024) big.writeUInt32LE(i * 2654435761 >>> 0, i);
    await publisher.publish(big);
    const { createHash } = await import('node:crypto');
    const line = await sub.line(/sha256/);
    expect(JSON.parse(line)).toEqual({ length: 64 << 20, sha256: createHash('sha256').update(big).digest('hex') });
  });
});

describe('publisher processes', () => {
  it('kill -9 of the publisher: subscribers drain what was committed, then fail with a code, no hang', async () => {
    const path = socketPath();
    const pub = fixture('publisher.mjs', [path, '300', '200']);
    spawned.push(pub.child);
    await pub.line(/^listening$/);
    const sub = await Subscriber.connect({ path });
    opened.push(sub);
    await pub.line(/^published$/);
    pub.child.kill('SIGKILL');
    await pub.exited;
    for (let seq = 0; seq < 300; seq++) expect(isNumbered((await sub.recv())!, seq)).toBe(true);
    const error = await sub.recv().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublisherGoneError);
    expect((error as PublisherGoneError).code).toBe('ERR_RINGCAST_PUBLISHER_GONE');
  });

  it('an orderly publisher close ends the stream cleanly', async () => {
    const path = socketPath();
    const pub = fixture('publisher.mjs', [path, '50', '64', '', '--close']);
    spawned.push(pub.child);
    await pub.line(/^listening$/);
    const sub = await Subscriber.connect({ path });
    opened.push(sub);
    let n = 0;
    for await (const m of sub) expect(isNumbered(m, n++)).toBe(true);
    expect(n).toBe(50);
    expect((await pub.exited).code).toBe(0);
  });
});

describe('credentials', () => {
  it('an attach refused by the allow list gets a clear error', async () => {
    const { path, publisher } = await listen({ allow: { uids: [4242] } });
    const refused = once(publisher, 'refuse');
    const error = await Subscriber.connect({ path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefusedError);
    expect(error).toMatchObject({ code: 'ERR_RINGCAST_REFUSED', reason: 'allow-list' });
    expect((error as Error).message).toMatch(/uid \d+ gid \d+ is not allowed/);
    expect(await refused).toEqual([expect.objectContaining({ reason: 'allow-list' })]);
  });

  /** Why a process of uid 65534 cannot be started here, or null. */
  const notAsNobody =
    process.getuid?.() !== 0
      ? 'not root: cannot start a process as uid 65534'
      : spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(fixtures)})`], { uid: 65534, gid: 65534 }).status !== 0
        ? 'the test fixtures are not readable by uid 65534'
        : null;

  it('another uid is checked by SO_PEERCRED: refused by default, accepted when allowed', async ({ skip }) => {
    if (notAsNobody) skip(notAsNobody);
    const refusedBus = await listen();
    chmodSync(refusedBus.path, 0o777);
    const refusedSub = fixture('subscriber.mjs', [refusedBus.path, 'count'], { uid: 65534, gid: 65534 });
    spawned.push(refusedSub.child);
    expect((await refusedSub.exited).code).toBe(3);
    expect(parseLast(refusedSub.stdout())).toMatchObject({ attachError: 'ERR_RINGCAST_REFUSED', reason: 'allow-list' });

    const allowedBus = await listen({ allow: { uids: [65534] } });
    chmodSync(allowedBus.path, 0o777);
    const allowedSub = fixture('subscriber.mjs', [allowedBus.path, 'count'], { uid: 65534, gid: 65534 });
    spawned.push(allowedSub.child);
    await allowedSub.line(/^attached$/);
    expect(allowedBus.publisher.stats().subscribers[0]).toMatchObject({ uid: 65534 });
    await allowedBus.publisher.publish(numbered(0, 10));
    await allowedBus.publisher.close();
    expect((await allowedSub.exited).code).toBe(0);
    expect(parseLast(allowedSub.stdout())).toMatchObject({ received: 1, inOrder: true });
  });
});
