// `ringcast stat --watch`: a live table of the descriptor page with rates.
import { afterEach, describe, expect, it } from 'vitest';
import { render } from '../src/stat-watch.js';
import type { BusSnapshot } from '../src/index.js';
import { Subscriber } from '../src/index.js';
import { cleanup, cli, listen, opened, run } from './helpers.js';

afterEach(cleanup);

const subscriberRow = { slot: 0, kind: 'process', state: 'active', reason: null, pid: 4242, uid: 0, ack: 0, lagBytes: 0, evictions: 0, lostBytes: 0, lostMessages: 0 } as const;
const bus = (head: number, messages: number, ack: number): BusSnapshot => ({
  path: '/run/quotes.sock',
  capacity: 65536,
  maxPayload: 16368,
  policy: 'block',
  head,
  messages,
  publisherState: 'open',
  publisherPid: 1,
  subscribers: [{ ...subscriberRow, ack, lagBytes: head - ack }],
});

describe('stat --watch', () => {
  it('computes rates from two looks at the bus', () => {
    const frame = render(bus(6_000_000, 3000, 5_983_616), { snapshot: bus(2_000_000, 1000, 1_983_616), seconds: 2 });
    expect(frame).toContain('publishing 1.0k msg/s, 2.0MB/s');
    expect(frame).toMatch(/slot\s+pid\s+state\s+reason\s+lag B\s+lag %\s+read B\/s\s+evictions\s+lost B\s+lost msgs/);
    expect(frame).toMatch(/\n\s+0\s+4242\s+active\s+16384\s+25%\s+2\.0M\s+0\s+0\s+0\n$/);
  });

  it('has no rates on its first look', () => {
    expect(render(bus(100, 1, 100), null)).toContain('publishing - msg/s, -B/s');
  });

  it('redraws the live table of a real bus until --count frames', async () => {
    const { path, publisher } = await listen();
    const subscriber = await Subscriber.connect({ path });
    opened.push(subscriber);
    await publisher.publish(Buffer.alloc(100));
    const watch = run(cli, ['stat', path, '--watch', '--interval', '100', '--count', '3']);
    const { code } = await watch.exited;
    expect(code, watch.stderr()).toBe(0);
    const frames = watch.stdout().split(/\n(?=\d{4}-\d\d-\d\dT)/); // each frame starts with its time
    expect(frames).toHaveLength(3);
    expect(frames[2]).toMatch(new RegExp(`\\n\\s+0\\s+${process.pid}\\s+(lagging|active)\\s`));
    expect(frames[2]).toMatch(/publishing \S+ msg\/s/);
  });

  it('rejects an interval below 100 ms with a usage error', async () => {
    const { path } = await listen();
    const watch = run(cli, ['stat', path, '--watch', '--interval', '5']);
    expect((await watch.exited).code).toBe(2);
    expect(watch.stderr()).toContain('--interval must be an integer >= 100');
  });
});
