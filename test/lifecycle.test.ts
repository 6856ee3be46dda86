// Worker threads, the injected logger, and resource release.
import { Worker } from 'node:worker_threads';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Publisher, Subscriber } from '../src/index.js';
import { cleanup, numbered, socketPath } from './helpers.js';

afterEach(cleanup);

describe('worker threads', () => {
  it('publisher in the main thread, subscribers in several workers at once', async () => {
    const path = socketPath();
    const publisher = await Publisher.listen({ path, capacity: 1 << 16 });
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.dist).then(async ({ Subscriber }) => {
        const sub = await Subscriber.connect({ path: workerData.path });
        parentPort.postMessage('attached');
        let n = 0, ok = true;
        for await (const m of sub) { if (m.readUInt32LE(0) !== n++) ok = false; }
        await sub.close();
        parentPort.postMessage({ n, ok });
      });`;
    const workers = [0, 1, 2].map(() => new Worker(source, { eval: true, workerData: { path, dist } }));
    const results = workers.map(
      (w) =>
        new Promise<{ n: number; ok: boolean }>((resolve, reject) => {
          w.on('message', (m) => typeof m === 'object' && resolve(m));
          w.on('error', reject);
        }),
    );
    while (publisher.subscriberCount < 3) await new Promise((r) => publisher.once('subscribe', r));
    for (let i = 0; i < 5000; i++) await publisher.publish(numbered(i, 100));
    await publisher.close();
    expect(await Promise.all(results)).toEqual([
      { n: 5000, ok: true },
      { n: 5000, ok: true },
      { n: 5000, ok: true },
    ]);
    await Promise.all(workers.map((w) => w.terminate()));
  });
});

describe('logging', () => {
  it('goes to the injected pino logger, lifecycle only, never per message', async () => {
    const lines: Array<{ msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()));
        cb();
      },
    });
    const logger = pino({ level: 'debug' }, sink);
    const path = socketPath();
    const publisher = await Publisher.listen({ path, logger });
    const subscriber = await Subscriber.connect({ path, logger });
    for (let i = 0; i < 1000; i++) await publisher.publish(numbered(i, 16));
    for (let i = 0; i < 1000; i++) await subscriber.recv();
    await subscriber.close();
    await publisher.close();
    await new Promise((r) => setImmediate(r));
    const messages = lines.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['bus listening', 'subscriber attached', 'attached', 'bus closed']));
    expect(lines.length).toBeLessThan(10);
  });
});

describe('close', () => {
  it('releases descriptors: open/close cycles leave none behind', async () => {
    const { readdirSync } = await import('node:fs');
    const count = () => readdirSync('/proc/self/fd').length;
    const cycle = async () => {
      const path = socketPath();
      const publisher = await Publisher.listen({ path, capacity: 1 << 16 });
      const subscriber = await Subscriber.connect({ path });
      await publisher.publish(Buffer.from('x'));
      await subscriber.recv();
      await subscriber.close();
      await publisher.close();
    };
    await cycle();
    const before = count();
    for (let i = 0; i < 20; i++) await cycle();
    expect(count()).toBe(before);
  });
});
