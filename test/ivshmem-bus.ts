// A VM bus on the host, without a VM: a real ivshmem server process, a
// publisher with `vm` options, and guest processes that map the ring and ack
// files directly (the guest driver's devices replaced by files).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Publisher, type PublisherOptions } from '../src/index.js';
import { opened, runCommand, spawned, type Proc } from './helpers.js';

const nativeDir = fileURLToPath(new URL('../native/', import.meta.url));
/** A program of native/tools (built by buildTools). */
export const tool = (name: string): string => join(nativeDir, 'build-tools', name);
const dirs: string[] = [];

export function buildTools(): void {
  execFileSync('make', ['-s', '-C', join(nativeDir, 'tools')], { stdio: 'inherit' });
}

export function removeVmDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Where QEMU would find the files: /dev/shm when there is one. Removed by removeVmDirs. */
export function vmDir(): string {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ringcast-vm-'));
  dirs.push(dir);
  return dir;
}

/** A real ivshmem server process on `dir`/ivshmem.sock; resolves with that socket once it listens. */
export async function startServer(dir: string): Promise<string> {
  const socket = join(dir, 'ivshmem.sock');
  const server = runCommand(tool('ringcast-ivshmem-server'), ['-S', socket, '-m', '4096', '-n', '1', '-q']);
  spawned.push(server.child);
  await server.line(/listening on/);
  return socket;
}

export interface VmBus {
  dir: string;
  server: string;
  ring: string;
  acks: string[];
  publisher: Publisher;
}

/** A bus for `guests` (slot i is guests[i]) behind a fresh ivshmem server. */
export async function vmBus(guests: Array<{ name: string; peerId?: number }>, options: Partial<PublisherOptions> = {}): Promise<VmBus> {
  const dir = vmDir();
  const server = await startServer(dir);
  const ring = join(dir, 'bus.ring');
  const acks = guests.map((g) => join(dir, `bus.ack.${g.name}`));
  const publisher = await Publisher.listen({
    path: join(dir, 'bus'),
    capacity: 1 << 16,
    ...options,
    vm: { ivshmemServer: server, ringFile: ring, guests: guests.map((g, i) => ({ ...g, ackFile: acks[i]! })) },
  });
  opened.push(publisher);
  return { dir, server, ring, acks, publisher };
}

/** A mixed bus: guests as vmBus's, and local processes through `socket`; one address says it all. */
export async function mixedBus(guests: Array<{ name: string; peerId?: number }>, options: Partial<PublisherOptions> = {}): Promise<VmBus & { socket: string; address: string }> {
  const dir = vmDir();
  const server = await startServer(dir);
  const ring = join(dir, 'bus.ring');
  const socket = join(dir, 'bus.sock');
  const acks = guests.map((g) => join(dir, `bus.ack.${g.name}`));
  const address = `ivshmem:${ring}?server=${server}&unix=${socket}`;
  const publisher = await Publisher.listen({
    address,
    capacity: 1 << 16,
    ...options,
    vm: { guests: guests.map((g, i) => ({ ...g, ackFile: acks[i]! })) },
  } as PublisherOptions);
  opened.push(publisher);
  return { dir, server, ring, acks, publisher, socket, address };
}

/** The C guest (ringcast-ivshmem-guest) in `slot`, in one of its modes. */
export function cGuest(bus: VmBus, slot: number, ...mode: string[]): Proc {
  const proc = runCommand(tool('ringcast-ivshmem-guest'), ['files', bus.ring, bus.acks[slot]!, bus.server, ...mode]);
  spawned.push(proc.child);
  return proc;
}
