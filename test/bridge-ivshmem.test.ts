// The bridge on an ivshmem bus, on the host without a VM (test/ivshmem-bus.ts:
// a real ivshmem server process, ring and ack files): `ringcast bridge
// --forward ivshmem:...` reads a VM bus as one of its guests and carries it
// over TCP to a bridge that republishes it into a socket bus; and the other
// way round, a bridge republishes into a VM bus that guests read.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Bridge, Publisher, formatAddress, type EvictionEvent } from '../src/index.js';
import { cleanup, cli, fixture, numbered, opened, runCommand, socketPath, spawned, type Proc } from './helpers.js';
import { buildTools, cGuest, removeVmDirs, startServer, vmBus, vmDir, type VmBus } from './ivshmem-bus.js';

beforeAll(buildTools);

afterEach(async () => {
  await cleanup();
  removeVmDirs();
});

function node(script: string, args: string[]): Proc {
  const proc = runCommand(process.execPath, [script, ...args]);
  spawned.push(proc.child);
  return proc;
}

interface BridgeProc {
  proc: Proc;
  ready: { id: string; port: number | null; metricsPort: number | null };
  events(kind: string): Array<Record<string, unknown>>;
}

/** `ringcast bridge --json ARGS`, once it printed its ready line. */
async function startBridge(args: string[]): Promise<BridgeProc> {
  const proc = node(cli, ['bridge', '--json', ...args]);
  const ready = JSON.parse(await proc.line(/"event":"ready"/)) as BridgeProc['ready'];
  const events = (kind: string): Array<Record<string, unknown>> =>
    proc
      .lines()
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((e) => e.event === kind);
  return { proc, ready, events };
}

async function streamSubscriber(address: string, count: number): Promise<Proc> {
  const proc = fixture('stream-subscriber.mjs', [address, String(count)]);
  spawned.push(proc.child);
  await proc.line(/^attached$/);
  return proc;
}

async function publishRange(publisher: Publisher, from: number, to: number, size = 300): Promise<void> {
  for (let seq = from; seq < to; seq += 50) {
    const batch: Buffer[] = [];
    for (let n = seq; n < Math.min(to, seq + 50); n++) batch.push(numbered(n, size));
    await publisher.publishBatch(batch);
  }
}

/** The address a host process uses to read `bus` as guest `slot`. */
function guestAddress(bus: VmBus, slot: number): string {
  return formatAddress({ kind: 'ivshmem', ring: bus.ring, ack: bus.acks[slot]!, server: bus.server });
}

describe('bridge from and into an ivshmem bus', () => {
  it('forwards a VM bus over TCP as one of its guests; a killed forwarding bridge is a reported gap, nothing lost silently', async () => {
    const count = 12_000;
    const bus = await vmBus([{ name: 'bridge' }], { capacity: 1 << 18 });
    const mirror = socketPath('mirror.sock');
    const far = await startBridge(['--republish', mirror, '--tcp-listen', '127.0.0.1:0']);
    const link = ['--tcp-connect', `127.0.0.1:${far.ready.port}`];
    const readers = await Promise.all([streamSubscriber(mirror, count), streamSubscriber(mirror, count)]);

    const joined = once(bus.publisher, 'subscribe');
    let near = await startBridge(['--forward', guestAddress(bus, 0), ...link]);
    await joined;
    await publishRange(bus.publisher, 0, 4000);
    // The forwarding bridge dies with messages read from the ring and not yet
    // sent, perhaps; its slot is freed when its peer leaves the server.
    const evicted = once(bus.publisher, 'evict') as Promise<[EvictionEvent]>;
    near.proc.child.kill('SIGKILL');
    expect((await evicted)[0]).toMatchObject({ slot: 0, reason: 'dead' });
    await publishRange(bus.publisher, 4000, 6000); // no bridge on the bus: lost for certain
    const rejoined = once(bus.publisher, 'subscribe');
    near = await startBridge(['--forward', guestAddress(bus, 0), ...link]);
    await rejoined;
    await publishRange(bus.publisher, 6000, count);

    const results = await Promise.all(readers.map(async (r) => JSON.parse(await r.line(/^\{"received"/, 60_000)) as Record<string, number | boolean>));
    const gaps = far.events('gap') as Array<{ lostMessages: number; fromSeq: number; toSeq: number; where: string }>;
    const lost = gaps.reduce((sum, gap) => sum + gap.lostMessages, 0);
    expect(gaps.length).toBeGreaterThanOrEqual(1);
    expect(gaps.every((gap) => gap.where === 'upstream')).toBe(true);
    // What no bridge was there to read is inside the reported gap.
    expect(gaps.some((gap) => gap.fromSeq <= 4000 && gap.toSeq >= 6000)).toBe(true);
    for (const result of results) {
      expect(result).toMatchObject({ increasing: true, intact: true, last: count - 1 });
      expect((result.received as number) + lost).toBe(count);
    }
    console.log(`ivshmem forward: forwarding bridge killed after 4000 of ${count}; ${lost} reported lost in ${gaps.length} gap(s), ${results[0]!.received} delivered`);
  });

  it('republishes into a VM bus: a Node guest and a C guest receive every message in order, intact', async () => {
    const count = 5000;
    const dir = vmDir();
    const server = await startServer(dir);
    const ring = join(dir, 'mirror.ring');
    const acks = [join(dir, 'mirror.ack.node'), join(dir, 'mirror.ack.c')];
    const far = await startBridge([
      '--republish', `ivshmem:${ring}?server=${server}`, '--guest', `node=${acks[0]}`, '--guest', `c=${acks[1]}`,
      '--capacity', String(1 << 16), '--tcp-listen', '127.0.0.1:0', '--metrics-port', '0',
    ]);
    const nodeGuest = fixture('ivshmem-guest.mjs', [ring, acks[0]!, server, 'count']);
    spawned.push(nodeGuest.child);
    const vm: VmBus = { dir, server, ring, acks, publisher: null as never };
    const c = cGuest(vm, 1, 'count');
    await nodeGuest.line(/^attached slot=0$/);
    await c.line(/^attached slot=1 /);

    const path = socketPath('bus.sock');
    const publisher = await Publisher.listen({ path, capacity: 1 << 20 });
    opened.push(publisher);
    const near = await Bridge.start({ forward: path, transport: { type: 'tcp', connect: { host: '127.0.0.1', port: far.ready.port! } } });
    opened.push(near);
    while (publisher.subscriberCount === 0) await new Promise((r) => setTimeout(r, 10));
    const sha = createHash('sha256');
    for (let seq = 0; seq < count; seq++) {
      const message = numbered(seq, 8 + ((seq * 97) % 1500));
      sha.update(message);
      await publisher.publish(message);
    }
    const stats = async (): Promise<{ republish: { messages: number; gaps: number } }> =>
      (await (await fetch(`http://127.0.0.1:${far.ready.metricsPort}/stats.json`)).json()) as never;
    while ((await stats()).republish.messages < count) await new Promise((r) => setTimeout(r, 50));
    expect((await stats()).republish).toMatchObject({ messages: count, gaps: 0 });
    // Stopping the far bridge closes the VM bus: the guests read to its end.
    far.proc.child.kill('SIGTERM');
    await far.proc.line(/"event":"closed"/);
    expect((await nodeGuest.exited).code).toBe(0);
    expect((await c.exited).code).toBe(0);
    expect(JSON.parse(nodeGuest.lines().pop()!)).toEqual({ received: count, inOrder: true, intact: true, sha256: sha.digest('hex'), error: null });
    expect(JSON.parse(c.lines().pop()!)).toMatchObject({ received: count, inOrder: true, intact: true, error: null });
  });

  it('ringcast bridge: --guest and --receivers only with --republish, as NAME=ACKFILE and DOMID[:sub|:pub]; a bad address is a usage error naming its part', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--guest', 'g=/dev/shm/a', '--tcp-listen', '0'], /--guest needs --republish/],
      [['--receivers', '1', '--tcp-listen', '0'], /--receivers needs --republish/],
      [['--republish', 'xen:0/b', '--receivers', '1,x', '--tcp-listen', '0'], /--receivers takes DOMID\[:sub\|:pub\],\.\.\., got "x"/],
      [['--republish', 'ivshmem:/dev/shm/r?server=/s', '--guest', 'g', '--tcp-listen', '0'], /--guest wants NAME=ACKFILE/],
      [['--forward', 'ivshmem:/dev/shm/r?server=/s', '--tcp-listen', '0'], /parameter ack/],
    ];
    for (const [args, pattern] of cases) {
      const proc = node(cli, ['bridge', ...args]);
      expect((await proc.exited).code).toBe(2);
      expect(proc.stderr()).toMatch(pattern);
    }
    // The receivers reach the Xen publisher, which needs a Xen domain (test:xen runs it in one).
    const xen = node(cli, ['bridge', '--republish', 'xen:0/b', '--receivers', '1,2:pub', '--tcp-listen', '0']);
    expect((await xen.exited).code).toBe(1);
    expect(xen.stderr()).toMatch(/ERR_RINGCAST_SYSTEM: bus xen:0\/b: this system has no usable \/dev\/xen/);
  });

  it('refuses what no subscriber or publisher of that kind can do, before anything starts', async () => {
    const link = { type: 'tcp', listen: { host: '127.0.0.1', port: 0 } } as const;
    const cases: Array<[Parameters<typeof Bridge.start>[0], string, RegExp]> = [
      [{ forward: 'ivshmem:/dev/shm/r?server=/s', transport: link }, 'ERR_RINGCAST_BAD_ADDRESS', /parameter ack/],
      [{ forward: 'smoke:/x', transport: link }, 'ERR_RINGCAST_BAD_ADDRESS', /scheme/],
      [{ republish: 'xen:0/bus', transport: link }, 'ERR_RINGCAST_INVALID_OPTION', /^option xen:/],
      [{ republish: 'xen:0/bus/1', transport: link }, 'ERR_RINGCAST_BAD_ADDRESS', /slot/],
      [{ republish: 'ivshmem:/dev/shm/r', transport: link }, 'ERR_RINGCAST_BAD_ADDRESS', /parameter server/],
      [{ republish: 42 as never, transport: link }, 'ERR_RINGCAST_INVALID_OPTION', /republish/],
      [{ forward: 'xen:0/ticks', handshakeTimeoutMs: 0, transport: link }, 'ERR_RINGCAST_INVALID_OPTION', /handshakeTimeoutMs/],
    ];
    for (const [options, code, pattern] of cases) {
      const error = (await Bridge.start(options).catch((e: unknown) => e)) as { code?: string; message: string };
      expect(error.code).toBe(code);
      expect(error.message).toMatch(pattern);
    }
  });
});
