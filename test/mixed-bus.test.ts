// A mixed bus on the host, without a VM: one Publisher serves a local
// subscriber process through its Unix socket and two "guests" (a Node one and
// the C one) through ivshmem files and a real ivshmem server, all from the
// same ring (docs/vm.md, "Mixed bus").
import { closeSync, ftruncateSync, lstatSync, openSync, readlinkSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Publisher, Subscriber, inspectBus, ivshmemRegionSize, type BusSnapshot } from '../src/index.js';
import { cleanup, cli, fixture, numbered, opened, run, socketPath, spawned, type Proc } from './helpers.js';
import { buildTools, cGuest, mixedBus, removeVmDirs, startServer, vmBus, vmDir } from './ivshmem-bus.js';

beforeAll(buildTools);

afterEach(async () => {
  await cleanup();
  removeVmDirs();
});

const COUNT = 3000;
const size = (seq: number): number => 8 + ((seq * 97) % 1500);

function lastJson(proc: Proc): Record<string, unknown> {
  return JSON.parse(proc.lines().pop()!) as Record<string, unknown>;
}

async function publishAll(publisher: Publisher): Promise<void> {
  for (let seq = 0; seq < COUNT; seq++) await publisher.publish(numbered(seq, size(seq)));
}

function kinds(snapshot: BusSnapshot): Array<[number, string]> {
  return snapshot.subscribers.map((s) => [s.slot, s.kind]);
}

describe('mixed bus: local processes and guests on one ring', () => {
  it('a local process and two guests receive every message in order, intact, from one ring written once', async () => {
    const bus = await mixedBus([{ name: 'node' }, { name: 'c' }]);
    // QEMU opens the ring file: a link to the publisher's sealed memfd, sized for a PCI BAR.
    expect(lstatSync(bus.ring).isSymbolicLink()).toBe(true);
    expect(readlinkSync(bus.ring)).toMatch(new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
    expect(statSync(bus.ring).size).toBe(ivshmemRegionSize(1 << 16));

    const slots = new Map<string, number>();
    bus.publisher.on('subscribe', (event: { slot: number; pid: number; guest?: string }) => slots.set(event.guest ?? `pid ${event.pid}`, event.slot));
    // The local process first: it must not take a guest's slot.
    const local = fixture('subscriber.mjs', [bus.socket, 'count']);
    spawned.push(local.child);
    await local.line(/^attached$/);
    const node = fixture('ivshmem-guest.mjs', [bus.ring, bus.acks[0]!, bus.server, 'count']);
    spawned.push(node.child);
    const c = cGuest(bus, 1, 'count');
    await node.line(/^attached slot=0$/);
    await c.line(/^attached slot=1 peer=\d+$/);
    expect(slots).toEqual(new Map([[`pid ${local.child.pid}`, 2], ['node', 0], ['c', 1]]));
    expect(bus.publisher.subscriberCount).toBe(3);

    // One ring: the slot table read through the socket and the one read from the ring file are the same table.
    const viaSocket = await inspectBus(`unix:${bus.socket}`);
    const viaRingFile = await inspectBus(`ivshmem:${bus.ring}`);
    expect(kinds(viaSocket)).toEqual([[0, 'guest'], [1, 'guest'], [2, 'process']]);
    expect(kinds(viaRingFile)).toEqual(kinds(viaSocket));
    expect(viaSocket.subscribers[2]!.pid).toBe(local.child.pid);
    expect(bus.publisher.stats().subscribers.map((s) => s.guest ?? s.pid)).toEqual(['node', 'c', local.child.pid]);

    await publishAll(bus.publisher);
    const mixedStats = bus.publisher.stats();
    await bus.publisher.close();
    expect((await local.exited).code).toBe(0);
    expect((await node.exited).code).toBe(0);
    expect((await c.exited).code).toBe(0);
    expect(lastJson(local)).toEqual({ received: COUNT, inOrder: true, intact: true, error: null });
    expect(lastJson(node)).toMatchObject({ received: COUNT, inOrder: true, intact: true, error: null });
    expect(lastJson(c)).toMatchObject({ received: COUNT, inOrder: true, intact: true, error: null });

    // Write once: the same messages to a bus with one local subscriber only
    // write exactly as many bytes (head is the publisher's byte count).
    const path = socketPath();
    const alone = await Publisher.listen({ path, capacity: 1 << 16 });
    opened.push(alone);
    const only = fixture('subscriber.mjs', [path, 'count']);
    spawned.push(only.child);
    await only.line(/^attached$/);
    await publishAll(alone);
    const aloneStats = alone.stats();
    await alone.close();
    expect((await only.exited).code).toBe(0);
    expect(lastJson(only)).toEqual({ received: COUNT, inOrder: true, intact: true, error: null });
    expect(mixedStats.messages).toBe(COUNT);
    expect(mixedStats.head).toBe(aloneStats.head);
  });

  it('the ring is sealed: no host process can write or shrink it, so a QEMU without readonly=on cannot map it writable', async () => {
    const bus = await mixedBus([{ name: 'vm1' }]);
    const fd = openSync(bus.ring, 'r+'); // the /proc link opens the memfd itself
    try {
      expect(() => writeSync(fd, Buffer.from('forged'), 0, 6, 64 * 1024)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      expect(() => ftruncateSync(fd, 4096)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    } finally {
      closeSync(fd);
    }
    expect(statSync(bus.ring).size).toBe(ivshmemRegionSize(1 << 16));
    // The publisher's own address takes a local process through the socket, to the slot after the guests'.
    const local = await Subscriber.connect({ address: bus.address });
    expect(local.slot).toBe(1);
    await bus.publisher.publish(Buffer.from('one ring'));
    expect((await local.recv())?.toString()).toBe('one ring');
    await local.close();
    await bus.publisher.close();
    // Its link goes with it.
    expect(() => lstatSync(bus.ring)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('ringcast stat shows local processes and guests, by the socket address and by the ivshmem address', async () => {
    const bus = await mixedBus([{ name: 'vm1' }]);
    const local = fixture('subscriber.mjs', [bus.socket, 'hold']);
    spawned.push(local.child);
    await local.line(/^attached$/);
    const guest = cGuest(bus, 0, 'count');
    await guest.line(/^attached slot=0/);
    for (const address of [bus.socket, bus.address, `ivshmem:${bus.ring}`]) {
      const probe = run(cli, ['stat', address, '--json']);
      expect((await probe.exited).code).toBe(0);
      const snapshot = JSON.parse(probe.stdout()) as BusSnapshot;
      expect(snapshot.subscribers.map((s) => ({ slot: s.slot, kind: s.kind, pid: s.pid }))).toEqual([
        { slot: 0, kind: 'guest', pid: 0 },
        { slot: 1, kind: 'process', pid: local.child.pid },
      ]);
    }
    const table = run(cli, ['stat', bus.address]);
    expect((await table.exited).code).toBe(0);
    expect(table.stdout()).toMatch(/guest/);
    expect(table.stdout()).toMatch(/process/);
  });

  it('the options form (vm.unixSocket) makes the same mixed bus; a socket path that is the ring or an ack file is refused', async () => {
    const dir = vmDir();
    const server = await startServer(dir);
    const vm = { ivshmemServer: server, ringFile: join(dir, 'r.ring'), guests: [{ name: 'vm1', ackFile: join(dir, 'r.ack') }] };
    await expect(Publisher.listen({ path: 'bus', vm: { ...vm, unixSocket: vm.ringFile } })).rejects.toMatchObject({
      code: 'ERR_RINGCAST_INVALID_OPTION',
      message: expect.stringMatching(/^option vm\.unixSocket:/),
    });
    const socket = join(dir, 'r.sock');
    const publisher = await Publisher.listen({ path: 'bus', vm: { ...vm, unixSocket: socket } });
    opened.push(publisher);
    expect(publisher.path).toBe(socket);
    expect(lstatSync(vm.ringFile).isSymbolicLink()).toBe(true);
    const local = await Subscriber.connect({ path: socket });
    expect(local.slot).toBe(1);
    expect(kinds(await inspectBus(socket))).toEqual([[1, 'process']]);
    await local.close();
  });

  it('ringcast stat reads a VM-only bus (no socket) from its plain ring file', async () => {
    const bus = await vmBus([{ name: 'vm1' }, { name: 'vm2' }]);
    expect(lstatSync(bus.ring).isFile()).toBe(true);
    const guest = cGuest(bus, 1, 'count');
    await guest.line(/^attached slot=1/);
    const probe = run(cli, ['stat', `ivshmem:${bus.ring}?server=${bus.server}`, '--json']);
    expect((await probe.exited).code).toBe(0);
    const snapshot = JSON.parse(probe.stdout()) as BusSnapshot;
    expect(snapshot.subscribers.map((s) => [s.slot, s.kind, s.state])).toEqual([[1, 'guest', 'active']]);
    expect(snapshot.path).toBe(bus.ring);
  });

  it('ringcast stat on a Xen bus off Xen says what is missing (a receiver domain reads it: test/xen, xenpub)', async () => {
    const probe = run(cli, ['stat', 'xen:0/ticks']);
    expect((await probe.exited).code).toBe(1);
    expect(probe.stderr()).toMatch(/ERR_RINGCAST_SYSTEM: inspecting the Xen bus xen:0\/ticks: this system has no usable \/dev\/xen/);
  });
});
