// Worker threads, the injected logger, diagnostics channels, and resource release: on close(), at process or worker exit, on garbage collection.
import { Worker } from 'node:worker_threads';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import diagnostics_channel from 'node:diagnostics_channel';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Publisher, PublisherGoneError, Subscriber, diagnosticsChannels, type StatsMessage } from '../src/index.js';
import { cleanup, fixtures, listen, numbered, runCommand, socketPath, spawned } from './helpers.js';
import { buildTools, removeVmDirs, startServer, vmBus, vmDir } from './ivshmem-bus.js';

afterEach(cleanup);
// The ivshmem cases run a real ivshmem server (native/tools) on files in a directory of their own.
beforeAll(buildTools);
afterAll(removeVmDirs);

const dist = new URL('../dist/index.js', import.meta.url).href;

/** A worker running `body` with `ringcast` (the built package), `workerData` and `parentPort` in scope. */
function startWorker(body: string, workerData: Record<string, unknown>): Worker {
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.dist).then(async (ringcast) => { ${body} });`;
  return new Worker(source, { eval: true, workerData: { ...workerData, dist } });
}

/** The first object message of each worker (plain strings are progress notes). */
function results<T>(workers: Worker[]): Promise<T[]> {
  return Promise.all(
    workers.map(
      (w) =>
        new Promise<T>((resolve, reject) => {
          w.on('message', (m) => typeof m === 'object' && resolve(m));
          w.on('error', reject);
        }),
    ),
  );
}

const readAll = `
  let n = 0, ok = true;
  for await (const m of sub) { if (m.readUInt32LE(0) !== n++) ok = false; }
  await sub.close();
  parentPort.postMessage({ n, ok });`;

/**
 * What a VM publisher reports about a guest that went away, once it is
 * settled: a leave request is written before the guest's descriptors close,
 * so the service pass that sees its peer leave the server sees the leave
 * too; once an `evict` was emitted, an `unsubscribe` that has not come never
 * will.
 */
function publisherSettles(publisher: Publisher): Promise<string[]> {
  const seen: string[] = [];
  return new Promise((resolve) => {
    publisher.on('unsubscribe', (e: { slot: number; reason: string }) => {
      seen.push(`unsubscribe slot ${e.slot} ${e.reason}`);
      resolve(seen);
    });
    publisher.on('evict', (e: { slot: number; reason: string }) => {
      seen.push(`evict slot ${e.slot} ${e.reason}`);
      setImmediate(() => resolve(seen));
    });
  });
}

/** A debug pino logger whose lines a test can wait for. */
class LogLines {
  #lines: Array<Record<string, unknown>> = [];
  #waiters: Array<() => void> = [];
  readonly logger = pino(
    { level: 'debug' },
    new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        for (const text of chunk.toString().split('\n')) if (text) this.#lines.push(JSON.parse(text) as Record<string, unknown>);
        for (const wake of this.#waiters.splice(0)) wake();
        cb();
      },
    }),
  );

  /** The first line, logged already or to come, for which `predicate` holds. */
  async next(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    for (;;) {
      const found = this.#lines.find(predicate);
      if (found) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

describe('worker threads', () => {
  it('publisher in the main thread, subscribers in several workers at once', async () => {
    const path = socketPath();
    const publisher = await Publisher.listen({ path, capacity: 1 << 16 });
    const workers = [0, 1, 2].map(() =>
      startWorker(`const sub = await ringcast.Subscriber.connect({ path: workerData.path }); parentPort.postMessage('attached'); ${readAll}`, { path }),
    );
    const done = results<{ n: number; ok: boolean }>(workers);
    while (publisher.subscriberCount < 3) await new Promise((r) => publisher.once('subscribe', r));
    for (let i = 0; i < 5000; i++) await publisher.publish(numbered(i, 100));
    await publisher.close();
    expect(await done).toEqual([
      { n: 5000, ok: true },
      { n: 5000, ok: true },
      { n: 5000, ok: true },
    ]);
    await Promise.all(workers.map((w) => w.terminate()));
  });

  it('a publisher and its subscriber in each of several workers at once, one addon instance per thread', async () => {
    const workers = [0, 1, 2].map(() =>
      startWorker(
        `const publisher = await ringcast.Publisher.listen({ path: workerData.path, capacity: 1 << 16 });
         const sub = await ringcast.Subscriber.connect({ path: workerData.path });
         const reading = (async () => { ${readAll} })();
         for (let i = 0; i < 5000; i++) { const m = Buffer.alloc(64); m.writeUInt32LE(i, 0); await publisher.publish(m); }
         await publisher.close();
         await reading;`,
        { path: socketPath() },
      ),
    );
    expect(await results(workers)).toEqual([
      { n: 5000, ok: true },
      { n: 5000, ok: true },
      { n: 5000, ok: true },
    ]);
    await Promise.all(workers.map((w) => w.terminate()));
  });

  it('a worker terminated with an unclosed subscriber frees its slot and every descriptor', async () => {
    const { readdirSync } = await import('node:fs');
    const descriptors = () => readdirSync('/proc/self/fd').length;
    const { path, publisher } = await listen();
    const before = descriptors();
    const worker = startWorker(`globalThis.kept = await ringcast.Subscriber.connect({ path: workerData.path }); parentPort.postMessage({ attached: true });`, { path });
    expect(await results([worker])).toEqual([{ attached: true }]);
    const left = new Promise((resolve) => publisher.once('unsubscribe', resolve));
    await worker.terminate(); // no JavaScript runs in it any more: the addon's environment cleanup closes its sockets
    expect(await left).toMatchObject({ reason: 'dead' });
    expect(publisher.subscriberCount).toBe(0);
    expect(descriptors()).toBe(before);
  });

  // terminate() runs no JavaScript (no exit hook, no close()): the native
  // guest's own teardown must send the leave request a guest has no socket for.
  it('a worker terminated with an unclosed ivshmem subscriber gives its slot back and closes every descriptor', async () => {
    const { readdirSync } = await import('node:fs');
    const descriptors = () => readdirSync('/proc/self/fd').length;
    const log = new LogLines();
    const bus = await vmBus([{ name: 'guest' }], { logger: log.logger });
    const before = descriptors();
    const subscribed = new Promise<{ peer?: number }>((resolve) => bus.publisher.once('subscribe', resolve));
    const worker = startWorker(`globalThis.kept = await ringcast.Subscriber.connect({ ivshmem: workerData.ivshmem }); parentPort.postMessage({ attached: true });`, {
      ivshmem: { ring: bus.ring, ack: bus.acks[0], server: bus.server },
    });
    expect(await results([worker])).toEqual([{ attached: true }]);
    const { peer } = await subscribed;
    const settled = publisherSettles(bus.publisher);
    const peerGone = log.next((line) => line.msg === 'ivshmem peer left the server' && line.peer === peer);
    await worker.terminate();
    expect(await settled).toContain('unsubscribe slot 0 closed');
    expect(bus.publisher.subscriberCount).toBe(0);
    // The guest's leave request frees its slot; its VM's doorbell (an
    // eventfd from the server) is ours until the server says the VM left,
    // which may come later: a VM outlives its subscribers.
    await peerGone;
    expect(descriptors()).toBe(before);
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

describe('process exit', () => {
  const inChild = (body: string, path: string) =>
    runCommand(process.execPath, ['--input-type=module', '-e', `import * as ringcast from ${JSON.stringify(dist)}; const path = process.argv[1]; ${body}`, path]);

  it('a publisher that exits without close() removes its socket; its subscriber learns the publisher is gone', async () => {
    const path = socketPath();
    const child = inChild(
      `const p = await ringcast.Publisher.listen({ path }); console.log('listening'); await new Promise((r) => p.once('subscribe', r));
       await p.publish(Buffer.from('last words')); process.exit(0);`,
      path,
    );
    // Not the socket file's appearance: it exists from bind(), before listen() (a connect then is refused).
    await child.line(/listening/);
    const subscriber = await Subscriber.connect({ path });
    expect((await child.exited).code).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect((await subscriber.recv())?.toString()).toBe('last words'); // committed before the exit: delivered
    await expect(subscriber.recv()).rejects.toBeInstanceOf(PublisherGoneError);
    await subscriber.close();
  });

  it('a subscriber that exits without close() frees its slot at once', async () => {
    const { path, publisher } = await listen();
    const child = inChild(`await ringcast.Subscriber.connect({ path }); console.log('attached'); process.exit(0);`, path);
    const left = new Promise((resolve) => publisher.once('unsubscribe', resolve));
    await child.line(/attached/);
    expect(await left).toMatchObject({ reason: 'dead' });
    expect(publisher.subscriberCount).toBe(0);
  });

  // No socket tells the publisher that a guest's process ended: without the
  // exit hook's leave request, its slot would stay (evicted `dead` here, when
  // its peer leaves the ivshmem server; inside a VM only once its heartbeat
  // stood still for heartbeatTimeoutMs).
  it('a subscriber attached through ivshmem that exits without close() gives its slot back at once', async () => {
    const bus = await vmBus([{ name: 'guest' }]);
    const ivshmem = JSON.stringify({ ring: bus.ring, ack: bus.acks[0], server: bus.server });
    const child = inChild(`await ringcast.Subscriber.connect({ ivshmem: ${ivshmem} }); console.log('attached'); process.exit(0);`, bus.ring);
    const settled = publisherSettles(bus.publisher);
    await child.line(/attached/);
    expect((await child.exited).code).toBe(0);
    expect(await settled).toContain('unsubscribe slot 0 closed');
    expect(bus.publisher.subscriberCount).toBe(0);
  });

  // With no socket, only the doorbell's watcher could keep a guest's process
  // alive: woken once, it pauses itself (unreferenced) before calling back,
  // so a process with nothing else to do ends on its own. The subscriber
  // stays referenced (globalThis), so it is not its collection that ends it.
  it('an ivshmem subscriber woken by the doorbell lets its process end once it has nothing else to do', async () => {
    const bus = await vmBus([{ name: 'guest' }]);
    const ivshmem = JSON.stringify({ ring: bus.ring, ack: bus.acks[0], server: bus.server });
    const child = inChild(
      `const sub = await ringcast.Subscriber.connect({ ivshmem: ${ivshmem} });
       const next = sub.recv(); console.log('waiting');
       globalThis.keep = sub; console.log('got ' + (await next).toString());`,
      bus.ring,
    );
    await child.line(/waiting/);
    await bus.publisher.publish(Buffer.from('wake up'));
    await child.line(/got wake up/);
    expect((await child.exited).code).toBe(0);
  });
});

describe('diagnostics channels', () => {
  it('carry every lifecycle event and periodic stats snapshots, with no listener inside ringcast', async () => {
    const seen: Array<{ channel: string; event?: string; path: string; kind?: string }> = [];
    const record = (channel: string) => (message: unknown) => seen.push({ channel, ...(message as { event?: string; path: string; kind?: string }) });
    const handlers = Object.values(diagnosticsChannels).map((name) => [name, record(name)] as const);
    for (const [name, handler] of handlers) diagnostics_channel.subscribe(name, handler);
    try {
      const { path, publisher } = await listen();
      const subscriber = await Subscriber.connect({ path });
      await publisher.publish(Buffer.from('x'));
      await subscriber.recv();
      const snapshot = new Promise<void>((resolve) =>
        diagnostics_channel.subscribe(diagnosticsChannels.stats, function once(message) {
          if ((message as StatsMessage).path !== path || (message as StatsMessage).kind !== 'subscriber') return;
          diagnostics_channel.unsubscribe(diagnosticsChannels.stats, once);
          resolve();
        }),
      );
      await snapshot;
      const left = new Promise((resolve) => publisher.once('unsubscribe', resolve));
      await subscriber.close();
      await left;
      await publisher.close();
      const events = (channel: string) => seen.filter((m) => m.channel === channel && m.path === path).map((m) => m.event);
      expect(events('ringcast:publisher')).toEqual(expect.arrayContaining(['listen', 'subscribe', 'state', 'unsubscribe', 'close']));
      expect(events('ringcast:subscriber')).toEqual(expect.arrayContaining(['connect', 'close']));
      const kinds = seen.filter((m) => m.channel === 'ringcast:stats' && m.path === path).map((m) => m.kind);
      expect(kinds).toEqual(expect.arrayContaining(['publisher', 'subscriber']));
    } finally {
      for (const [name, handler] of handlers) diagnostics_channel.unsubscribe(name, handler);
    }
  });
});

describe('garbage collection', () => {
  /** The arguments that put the fixture's bus on `route`: a VM bus gets a real ivshmem server of its own. */
  const routeArgs = async (route: 'socket' | 'ivshmem'): Promise<string[]> => {
    if (route === 'socket') return [];
    const dir = vmDir();
    return ['ivshmem', await startServer(dir), join(dir, 'bus.ring'), join(dir, 'bus.ack.guest')];
  };
  const collect = async (mode: 'dropped' | 'awaited', route: 'socket' | 'ivshmem') => {
    const proc = runCommand(process.execPath, ['--expose-gc', join(fixtures, 'unclosed-subscriber.mjs'), socketPath(), mode, ...(await routeArgs(route))]);
    spawned.push(proc.child);
    const { code } = await proc.exited;
    expect(code, proc.stderr()).toBe(0);
    return JSON.parse(proc.lines().at(-1)!);
  };

  // One lifecycle for every route: a route whose watcher or timer held the
  // subscriber strongly would never be collected, and its publisher (which
  // has no socket to a guest) would keep its slot.
  describe.each(['socket', 'ivshmem'] as const)('through %s', (route) => {
    it('releases a subscriber collected without close(): slot freed at the publisher, descriptors closed, a warning names it', async () => {
      const result = await collect('dropped', route);
      expect(result.left).toMatchObject({ slot: 0 });
      expect(result.subscribers).toBe(0);
      expect(result.descriptorsAfter).toBe(result.descriptorsBefore);
      expect(result.warnings).toEqual([
        { code: 'RINGCAST_UNCLOSED', message: expect.stringMatching(/^ringcast Subscriber of \S+bus\.(sock|ring) \(slot 0\) was garbage-collected without close\(\)/) },
      ]);
    });

    it('never collects a subscriber that only a pending recv() still awaits', async () => {
      expect(await collect('awaited', route)).toEqual({ received: 'still here', warnings: [] });
    });
  });
});
