// A VM bus on the host, without a VM: a real ivshmem server process, a
// publisher with `vm` options, and guest processes that map the ring and ack
// files directly (the guest driver's devices replaced by files).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Publisher, type PublisherOptions } from '../src/index.js';
import { fixture, opened, runCommand, spawned, type Proc } from './helpers.js';

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
  } as PublisherOptions);
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

/** The Node guest (test/fixtures/ivshmem-guest.mjs) in `slot`, in one of its modes. */
export function nodeGuest(bus: VmBus, slot: number, mode: string): Proc {
  const proc = fixture('ivshmem-guest.mjs', [bus.ring, bus.acks[slot]!, bus.server, mode]);
  spawned.push(proc.child);
  return proc;
}

/** The JSON summary a guest prints last. */
export function lastJson(proc: Proc): Record<string, unknown> {
  return JSON.parse(proc.lines().pop()!) as Record<string, unknown>;
}

/** FNV-1a 64 over every byte, as the C guest computes it (two 32-bit halves, exact in doubles). */
export class Fnv1a {
  #hi = 0xcbf29ce4;
  #lo = 0x84222325;
  update(data: Uint8Array): void {
    let hi = this.#hi, lo = this.#lo;
    for (const byte of data) {
      lo = (lo ^ byte) >>> 0;
      // h * (2^40 + 0x1b3) mod 2^64
      const lowProduct = lo * 0x1b3;
      const carry = Math.floor(lowProduct / 0x100000000);
      hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) % 0x100000000;
      lo = lowProduct % 0x100000000;
    }
    this.#hi = hi;
    this.#lo = lo;
  }
  hex(): string {
    return this.#hi.toString(16).padStart(8, '0') + this.#lo.toString(16).padStart(8, '0');
  }
}

/** The sums each guest prints over what it received: sha256 (Node guest), fnv1a (C guest). */
export class Checksums {
  #sha = createHash('sha256');
  #fnv = new Fnv1a();
  add(message: Uint8Array): void {
    this.#sha.update(message);
    this.#fnv.update(message);
  }
  digest(): { sha256: string; fnv1a: string } {
    return { sha256: this.#sha.digest('hex'), fnv1a: this.#fnv.hex() };
  }
}

/** The next `event` of `emitter` for which `predicate` holds. */
export function waitFor<T>(emitter: Publisher, event: string, predicate: (value: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    // Any event name: the typed overloads of on/off are for literal names.
    const events = emitter as unknown as NodeJS.EventEmitter;
    const on = (value: T): void => {
      if (!predicate(value)) return;
      events.off(event, on);
      resolve(value);
    };
    events.on(event, on);
  });
}
