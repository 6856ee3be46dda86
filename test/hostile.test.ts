// Hostile peers as real processes (native/tools): each attacks on purpose;
// the outcome is a clear error or an eviction with a reason, and nobody else
// loses anything.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Publisher, Subscriber } from '../src/index.js';
import { isNumbered, numbered, cleanup, opened, spawned, runCommand, socketPath } from './helpers.js';

const native = fileURLToPath(new URL('../native/', import.meta.url));
const tool = (name: string) => join(native, 'build-tools', name);

beforeAll(() => {
  execFileSync('make', ['-s', '-C', join(native, 'tools')], { stdio: 'inherit' });
});

afterEach(cleanup);

function spawnTool(name: string, args: string[]) {
  return runCommand(tool(name), args);
}

describe('hostile subscribers', () => {
  it.each([
    ['ack-backwards', 'protocol'],
    ['ack-beyond', 'protocol'],
    ['ack-random', 'protocol'],
  ])('%s is evicted with reason %s; the healthy subscriber gets everything', async (mode, reason) => {
    const path = socketPath();
    // The attacker never reads, and a bad ack rings no doorbell: the publisher
    // finds it when it next re-reads acks (here at the latest after 300 ms of
    // waiting), and evicts for the bad ack before any timeout reason.
    const publisher = await Publisher.listen({ path, capacity: 1 << 16, evictAfterMs: 300 });
    opened.push(publisher);
    const healthy = await Subscriber.connect({ path });
    opened.push(healthy);
    const attacker = spawnTool('hostile_subscriber', [path, mode]);
    spawned.push(attacker.child);
    await attacker.line(/^attached$/);
    const evicted = once(publisher, 'evict');
    const reading = (async () => {
      for (let seq = 0; seq < 3000; seq++) expect(isNumbered((await healthy.recv())!, seq)).toBe(true);
    })();
    for (let seq = 0; seq < 3000; seq++) {
      await publisher.publish(numbered(seq, 500));
      if (seq % 100 === 0) publisher.stats(); // the publisher re-reads acks
    }
    await reading;
    expect((await evicted)[0]).toMatchObject({ reason });
    expect(await attacker.line(/^evicted|not evicted/)).toBe(`evicted ${reason}`);
  });

  it('cannot grow, shrink, write, map writable or re-seal the ring', async () => {
    const path = socketPath();
    const publisher = await Publisher.listen({ path, capacity: 1 << 16 });
    opened.push(publisher);
    const attacker = spawnTool('hostile_subscriber', [path, 'resize']);
    spawned.push(attacker.child);
    await attacker.exited;
    const lines = Object.fromEntries(attacker.stdout().trim().split('\n').slice(1).map((l) => l.split(': ')));
    expect(lines).toEqual({
      'reopen-rw': 'allowed',
      grow: 'Operation not permitted',
      shrink: 'Operation not permitted',
      write: 'Operation not permitted',
      'map-writable': 'Operation not permitted',
      'mprotect-writable': 'Permission denied',
      'add-seal': 'Operation not permitted',
    });
  });

  it('a doorbell storm costs the publisher wake-ups, never messages or order', async () => {
    const path = socketPath();
    const publisher = await Publisher.listen({ path, capacity: 1 << 16 });
    opened.push(publisher);
    const healthy = await Subscriber.connect({ path });
    opened.push(healthy);
    const attacker = spawnTool('hostile_subscriber', [path, 'doorbell-storm']);
    spawned.push(attacker.child);
    await attacker.line(/^attached$/);
    // Publishing starts once the storm is on, so the two overlap.
    await attacker.line(/^storming$/);
    const reading = (async () => {
      for (let seq = 0; seq < 5000; seq++) expect(isNumbered((await healthy.recv())!, seq)).toBe(true);
    })();
    // The attacker never reads either: detach it when it exits so the publisher is not held.
    for (let seq = 0; seq < 5000; seq++) await publisher.publish(numbered(seq, 100));
    await reading;
    // The storm happened: the attacker rang the publisher's doorbell, many times.
    const rung = Number(/^storm over (\d+) rings$/.exec(await attacker.line(/^storm over/))?.[1]);
    expect(rung).toBeGreaterThan(1000);
  });
});

describe('hostile publishers', () => {
  it.each([
    ['unsealed', /ring descriptor.*Operation not permitted/],
    ['short', /ring layout/],
    ['not-memfd', /ring descriptor/],
    ['blocking-doorbell', /doorbell descriptor/],
  ])('a welcome with %s memory or doorbell is refused with ERR_RINGCAST_BAD_REGION', async (mode, message) => {
    const path = socketPath();
    const attacker = spawnTool('hostile_publisher', [path, mode]);
    spawned.push(attacker.child);
    await attacker.line(/^listening$/);
    const error = await Subscriber.connect({ path }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_RINGCAST_BAD_REGION' });
    expect((error as Error).message).toMatch(message);
  });

  /** A subscriber of a hostile publisher that sends one good message before it misbehaves. */
  async function afterGoodMessage(mode: string): Promise<Subscriber> {
    const path = socketPath();
    const attacker = spawnTool('hostile_publisher', [path, mode]);
    spawned.push(attacker.child);
    await attacker.line(/^listening$/);
    const sub = await Subscriber.connect({ path });
    opened.push(sub);
    const first = await sub.recv({ signal: AbortSignal.timeout(10_000) });
    expect(first!.subarray(0, 16).toString()).toBe('one good message');
    return sub;
  }

  it.each(['corrupt-frame', 'head-beyond', 'head-backwards'])(
    '%s after a good message: the subscriber gets the good one, then ERR_RINGCAST_CORRUPT, no hang',
    async (mode) => {
      const sub = await afterGoodMessage(mode);
      await expect(sub.recv({ signal: AbortSignal.timeout(5000) })).rejects.toMatchObject({ code: 'ERR_RINGCAST_CORRUPT' });
    },
  );

  it.each([
    ['endless-fragments', 'declares 1 MiB, then sends fragments past it'],
    ['huge-declared', 'declares 1 TiB, beyond maxMessageBytes'],
  ])('%s (%s): ERR_RINGCAST_CORRUPT with memory bounded, no growth without end', async (mode) => {
    const sub = await afterGoodMessage(mode);
    const before = process.memoryUsage().arrayBuffers;
    // The attacker stops after 256 MiB of fragments: a reader without a bound
    // is still reassembling then (and holds all of it), and this recv aborts.
    const error = await sub.recv({ signal: AbortSignal.timeout(30_000) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_RINGCAST_CORRUPT' });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });
});
