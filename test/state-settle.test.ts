import { afterEach, describe, expect, it } from 'vitest';

import { Subscriber, type StateChange, type SubscriptionStateChange } from '../src/index.js';
import { LAG_SETTLE_MS } from '../src/publisher.js';
import { cleanup, fixture, listen, numbered, opened } from './helpers.js';

afterEach(cleanup);

const MESSAGES = 100_000;
const SIZE = 200;

const swing = (from: string, to: string): boolean =>
  (from === 'active' && to === 'lagging') || (from === 'lagging' && to === 'active');

describe('state events', () => {
  it('do not flap: LAGGING is shown at once, ACTIVE again only once it held LAG_SETTLE_MS', async () => {
    // A 64 KiB ring and a publisher faster than its readers: at each wait the slowest reader is a
    // whole ring behind, and drains to nothing in between. Shown swing by swing, that was about
    // 1,300 ACTIVE <-> LAGGING events per 100 k messages.
    const { path, publisher } = await listen({ capacity: 64 * 1024 });
    const shown: StateChange[] = [];
    publisher.on('state', (change) => shown.push(change));
    const readers = [fixture('subscriber.mjs', [path, 'count']), fixture('subscriber.mjs', [path, 'count'])];
    for (const reader of readers) await reader.line(/^attached$/);
    const local = await Subscriber.connect({ path });
    opened.push(local);
    const localShown: SubscriptionStateChange[] = [];
    local.on('state', (change) => localShown.push(change));
    let localReceived = 0;
    const reading = (async () => {
      for await (const message of local) {
        expect(message.length).toBe(SIZE);
        localReceived++;
      }
    })();
    await publisher.waitForSubscribers(3);

    const started = performance.now();
    for (let seq = 0; seq < MESSAGES; seq++) await publisher.publish(numbered(seq, SIZE));
    const elapsedMs = performance.now() - started;
    await publisher.close();
    await reading;

    for (const reader of readers) {
      const result = JSON.parse(await reader.line(/^\{/, 60_000));
      expect(result).toMatchObject({ received: MESSAGES, inOrder: true, intact: true, error: null });
    }
    expect(localReceived).toBe(MESSAGES);
    // The guarantee: per slot, a LAGGING -> ACTIVE -> LAGGING cycle takes at least LAG_SETTLE_MS,
    // so at most two shown swings per LAG_SETTLE_MS of publishing (plus the cycle in flight).
    const bound = 2 * (Math.ceil(elapsedMs / LAG_SETTLE_MS) + 1);
    const swingsBySlot = new Map<number, number>();
    for (const change of shown) {
      if (swing(change.from, change.to)) swingsBySlot.set(change.slot, (swingsBySlot.get(change.slot) ?? 0) + 1);
    }
    for (const swings of swingsBySlot.values()) expect(swings).toBeLessThanOrEqual(bound);
    expect(localShown.filter((c) => swing(c.from, c.to)).length).toBeLessThanOrEqual(bound);
  }, 120_000);
});
