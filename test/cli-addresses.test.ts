// Every `ringcast` command on every kind of address this host can serve, run
// as a user runs them (the real binary, real processes): `pub` then `sub`,
// `stat`, `bridge --forward` and `bridge --republish` on a unix: bus, a bare
// path, a VM bus (ivshmem:, its guests played on the host by `ringcast sub`
// with the guest's ack file and the ivshmem server, test/ivshmem-bus.ts) and a
// mixed bus (ivshmem:...&unix=); xen: addresses fail with their typed error.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { formatAddress, type BusSnapshot } from '../src/index.js';
import { cleanup, cli, run, socketPath, spawned, type Proc } from './helpers.js';
import { buildTools, removeVmDirs, startServer, vmDir } from './ivshmem-bus.js';

beforeAll(buildTools);

afterEach(async () => {
  await cleanup();
  removeVmDirs();
});

/** The real binary, killed by `cleanup` if a test leaves it running. */
function ringcast(args: string[]): Proc {
  const proc = run(cli, args);
  spawned.push(proc.child);
  return proc;
}

interface Reader {
  child: ChildProcess;
  /** What it wrote to stdout so far, as bytes (Proc's stdout is text). */
  bytes(): Buffer;
  stderr(): string;
  exited: Promise<number | null>;
}

/** `ringcast sub ADDRESS`, its stdout kept byte for byte. */
function sub(address: string): Reader {
  const child = spawn(process.execPath, [cli, 'sub', address], { stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(child);
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return { child, bytes: () => Buffer.concat(chunks), stderr: () => stderr, exited };
}

/**
 * Polls `ringcast stat ADDRESS --json` until it answers and `ready` holds (the
 * bus's own view, not a sleep); fails at once with its stderr if `serving`,
 * the process that serves the bus, ends first.
 */
async function statUntil(address: string, serving: Proc, ready: (snapshot: BusSnapshot) => boolean = () => true): Promise<BusSnapshot> {
  let last = '';
  for (let i = 0; i < 600; i++) {
    const { exitCode } = serving.child;
    if (exitCode !== null) throw new Error(`the process serving ${address} exited ${exitCode}: ${serving.stderr()}`);
    const probe = ringcast(['stat', address, '--json']);
    if ((await probe.exited).code === 0) {
      const snapshot = JSON.parse(probe.stdout()) as BusSnapshot;
      if (ready(snapshot)) return snapshot;
      last = probe.stdout();
    } else last = probe.stderr();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`bus ${address} never got ready; last: ${last}`);
}

/** Resolves once `reader` wrote `length` bytes (or fails with what it said if it ends first). */
async function readerGot(reader: Reader, length: number): Promise<void> {
  while (reader.bytes().length < length) {
    if (reader.child.exitCode !== null) throw new Error(`sub ended with ${reader.child.exitCode} after ${reader.bytes().length} of ${length} bytes: ${reader.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Bridge {
  proc: Proc;
  ready: { port: number | null };
}

/** `ringcast bridge --json ARGS`, once it printed its ready line. */
async function bridge(args: string[]): Promise<Bridge> {
  const proc = ringcast(['bridge', '--json', ...args]);
  return { proc, ready: JSON.parse(await proc.line(/"event":"ready"/)) as Bridge['ready'] };
}

/** stdin for `pub`: binary, several ring capacities long, written in pieces of odd sizes. */
function feed(proc: Proc, data: Buffer): void {
  for (let at = 0; at < data.length; ) {
    const end = Math.min(data.length, at + 1 + ((at * 7919) % 40_000));
    proc.child.stdin!.write(data.subarray(at, end));
    at = end;
  }
  proc.child.stdin!.end();
}

interface Bus {
  /** What `pub` and `bridge --republish` take, and `stat` reads. */
  address: string;
  /** `--guest NAME=ACKFILE` for each guest (slot order). */
  guests: string[];
  /** Where its subscribers attach, and the kind `stat` shows them as; the first is the one a forwarding bridge takes. */
  readers: Array<{ address: string; kind: 'process' | 'guest' }>;
}

/** Each kind of bus this host can serve, made fresh. */
const KINDS: Array<[string, () => Promise<Bus>]> = [
  [
    'unix:PATH',
    async () => {
      const path = socketPath();
      return { address: `unix:${path}`, guests: [], readers: [{ address: `unix:${path}`, kind: 'process' }, { address: path, kind: 'process' }] };
    },
  ],
  [
    'a bare path',
    async () => {
      const path = socketPath();
      return { address: path, guests: [], readers: [{ address: path, kind: 'process' }, { address: `unix:${path}`, kind: 'process' }] };
    },
  ],
  [
    'ivshmem:RING?server=S (two guests)',
    async () => {
      const dir = vmDir();
      const server = await startServer(dir);
      const ring = join(dir, 'bus.ring');
      const acks = [join(dir, 'bus.ack.g0'), join(dir, 'bus.ack.g1')];
      return {
        address: formatAddress({ kind: 'ivshmem', ring, server }),
        guests: acks.flatMap((ack, i) => ['--guest', `g${i}=${ack}`]),
        readers: acks.map((ack) => ({ address: formatAddress({ kind: 'ivshmem', ring, ack, server }), kind: 'guest' as const })),
      };
    },
  ],
  [
    'ivshmem:RING?server=S&unix=PATH (mixed: a guest and processes)',
    async () => {
      const dir = vmDir();
      const server = await startServer(dir);
      const ring = join(dir, 'bus.ring');
      const ack = join(dir, 'bus.ack.g0');
      const socket = join(dir, 'bus.sock');
      const address = formatAddress({ kind: 'ivshmem', ring, server, unix: socket });
      return {
        address,
        guests: ['--guest', `g0=${ack}`],
        readers: [
          { address, kind: 'process' }, // the publisher's own address takes a process through the socket
          { address: formatAddress({ kind: 'ivshmem', ring, ack, server }), kind: 'guest' },
          { address: `unix:${socket}`, kind: 'process' },
        ],
      };
    },
  ],
];

const DATA_BYTES = 3 << 18; // 768 KiB through a 64 KiB ring: it wraps a dozen times
const CAPACITY = ['--capacity', String(1 << 16)];

describe.each(KINDS)('ringcast on %s', (_, make) => {
  it('pub then sub: every subscriber gets stdin byte for byte; stat shows each with its kind', async () => {
    const bus = await make();
    const data = randomBytes(DATA_BYTES);
    const pub = ringcast(['pub', bus.address, ...bus.guests, ...CAPACITY, '--subscribers', String(bus.readers.length)]);
    await statUntil(bus.address, pub);
    const readers = bus.readers.map((r) => sub(r.address));
    const snapshot = await statUntil(bus.address, pub, (s) => s.subscribers.length === readers.length);
    expect(snapshot.subscribers.map((s) => s.kind).sort()).toEqual(bus.readers.map((r) => r.kind).sort());
    expect(snapshot.subscribers.every((s) => s.state === 'active')).toBe(true);
    // A guest's pid is not the publisher's to know; a process's is its own.
    for (const s of snapshot.subscribers) expect(s.pid === 0).toBe(s.kind === 'guest');
    feed(pub, data);
    expect((await pub.exited).code, pub.stderr()).toBe(0);
    for (const reader of readers) {
      expect(await reader.exited, reader.stderr()).toBe(0);
      expect(reader.bytes().equals(data)).toBe(true);
    }
  });

  it('bridge --forward it: a bridge over TCP republishes stdin byte for byte', async () => {
    const bus = await make();
    const data = randomBytes(DATA_BYTES);
    const mirror = socketPath('mirror.sock');
    const far = await bridge(['--republish', mirror, '--tcp-listen', '127.0.0.1:0']);
    const reader = sub(mirror);
    await statUntil(mirror, far.proc, (s) => s.subscribers.length === 1);
    const pub = ringcast(['pub', bus.address, ...bus.guests, ...CAPACITY]);
    await statUntil(bus.address, pub);
    const near = await bridge(['--forward', bus.readers[0]!.address, '--tcp-connect', `127.0.0.1:${far.ready.port}`]);
    feed(pub, data);
    expect((await pub.exited).code, pub.stderr()).toBe(0);
    await readerGot(reader, data.length);
    expect(reader.bytes().equals(data)).toBe(true);
    near.proc.child.kill('SIGTERM');
    far.proc.child.kill('SIGTERM');
    expect(await reader.exited, reader.stderr()).toBe(0);
    expect(far.proc.lines().filter((line) => /"event":"gap"/.test(line))).toEqual([]);
  });

  it('bridge --republish into it: its subscribers get the forwarded stdin byte for byte', async () => {
    const bus = await make();
    const data = randomBytes(DATA_BYTES);
    const far = await bridge(['--republish', bus.address, ...bus.guests, ...CAPACITY, '--tcp-listen', '127.0.0.1:0']);
    const readers = bus.readers.map((r) => sub(r.address));
    const snapshot = await statUntil(bus.address, far.proc, (s) => s.subscribers.length === readers.length);
    expect(snapshot.subscribers.map((s) => s.kind).sort()).toEqual(bus.readers.map((r) => r.kind).sort());
    const source = socketPath('source.sock');
    const pub = ringcast(['pub', source]);
    await statUntil(source, pub);
    const near = await bridge(['--forward', source, '--tcp-connect', `127.0.0.1:${far.ready.port}`]);
    feed(pub, data);
    expect((await pub.exited).code, pub.stderr()).toBe(0);
    for (const reader of readers) await readerGot(reader, data.length);
    // Stopping the republishing bridge closes its bus: every subscriber reads to the end and exits 0.
    far.proc.child.kill('SIGTERM');
    await far.proc.line(/"event":"closed"/);
    near.proc.child.kill('SIGTERM');
    for (const reader of readers) {
      expect(await reader.exited, reader.stderr()).toBe(0);
      expect(reader.bytes().equals(data)).toBe(true);
    }
  });
});

describe('ringcast on a xen: address, on a host that is not a Xen domain', () => {
  // docs/addresses.md: each use names what is missing, with a RingcastError code and exit status 1.
  it.for([
    [['pub', 'xen:0/ticks', '--receivers', '1'], 'ERR_RINGCAST_SYSTEM', /\/dev\/xen/],
    [['sub', 'xen:0/ticks'], 'ERR_RINGCAST_SYSTEM', /\/dev\/xen/],
    [['stat', 'xen:0/ticks'], 'ERR_RINGCAST_SYSTEM', /\/dev\/xen/],
    [['bridge', '--forward', 'xen:0/ticks', '--tcp-listen', '127.0.0.1:0'], 'ERR_RINGCAST_SYSTEM', /\/dev\/xen/],
    [['bridge', '--republish', 'xen:0/ticks', '--receivers', '1', '--tcp-listen', '127.0.0.1:0'], 'ERR_RINGCAST_SYSTEM', /\/dev\/xen/],
  ] as const)('ringcast %j exits 1 with %s', async ([args, code, why], { skip }) => {
    if (existsSync('/dev/xen/evtchn')) skip('inside a Xen domain the devices exist');
    const proc = ringcast([...args]);
    proc.child.stdin!.end();
    expect((await proc.exited).code, proc.stderr()).toBe(1);
    expect(proc.stderr()).toMatch(new RegExp(`^ringcast: ${code}: `));
    expect(proc.stderr()).toMatch(why);
    expect(proc.stderr()).not.toMatch(/at .*\.js:\d+/);
  });
});

describe('ringcast pub --guest: the guests of an ivshmem bus, as bridge --republish takes them', () => {
  const vm = 'ivshmem:/dev/shm/ringcast-none.ring?server=/nonexistent/ivshmem.sock';
  it.each([
    [[vm], /pub ivshmem:\S+: an ivshmem: bus needs its guests, one --guest NAME=ACKFILE each/],
    [[vm, '--guest', 'g1'], /--guest wants NAME=ACKFILE, got "g1"/],
    [[vm, '--guest', '=/dev/shm/a'], /--guest wants NAME=ACKFILE, got "=\/dev\/shm\/a"/],
    [[vm, '--guest', 'g1='], /--guest wants NAME=ACKFILE, got "g1="/],
    [[vm, '--guest', 'g1=/dev/shm/a', '--guest', 'g1=/dev/shm/b'], /option vm\.guests\[1\]\.name: expected a non-empty name, unique among the guests, got "g1"/],
    [[vm, '--guest', 'g1=/dev/shm/a', '--guest', 'g2=/dev/shm/a'], /option vm\.guests\[1\]\.ackFile: expected a file of its own/],
    [['unix:/tmp/q.sock', '--guest', 'g1=/dev/shm/a'], /--guest is for an ivshmem:RING\?server=SOCKET\[&unix=PATH\] bus; pub unix:\/tmp\/q\.sock is a unix: bus/],
    [['/tmp/q.sock', '--guest', 'g1=/dev/shm/a'], /pub \/tmp\/q\.sock is a unix: bus/],
    [['xen:0/ticks', '--receivers', '1', '--guest', 'g1=/dev/shm/a'], /pub xen:0\/ticks is a xen: bus/],
  ])('ringcast pub %j: usage error, exit 2', async (args, message) => {
    const proc = ringcast(['pub', ...args]);
    expect((await proc.exited).code, proc.stderr()).toBe(2);
    expect(proc.stderr()).toMatch(message);
    expect(proc.stderr()).toContain('ringcast pub <bus>');
    expect(proc.stderr()).toContain('--guest NAME=ACKFILE');
  });

  it('bridge --republish takes the same --guest, refused the same way', async () => {
    const proc = ringcast(['bridge', '--republish', '/tmp/q.sock', '--guest', 'g1=/dev/shm/a', '--tcp-listen', '0']);
    expect((await proc.exited).code).toBe(2);
    expect(proc.stderr()).toMatch(/--guest is for an ivshmem:RING\?server=SOCKET\[&unix=PATH\] bus; --republish \/tmp\/q\.sock is a unix: bus/);
    expect(proc.stderr()).toContain('ringcast bridge');
  });

  it('an ack file that cannot be made is a runtime error (exit 1) with its code, before any stdin is read', async () => {
    const dir = vmDir();
    const server = await startServer(dir);
    const address = formatAddress({ kind: 'ivshmem', ring: join(dir, 'bus.ring'), server });
    // The second of two guests: the message must say which file, not just "ack files".
    const proc = ringcast(['pub', address, '--guest', `g1=${join(dir, 'bus.ack.g1')}`, '--guest', 'g2=/nonexistent/bus.ack.g2']);
    expect((await proc.exited).code).toBe(1);
    expect(proc.stderr()).toMatch(/^ringcast: ERR_RINGCAST_SYSTEM: cannot serve guests through .*: ivshmem ack file \/nonexistent\/bus\.ack\.g2: No such file or directory/);
  });

  it('a ring file that cannot be made names its path', async () => {
    const dir = vmDir();
    const server = await startServer(dir);
    const address = formatAddress({ kind: 'ivshmem', ring: '/nonexistent/bus.ring', server });
    const proc = ringcast(['pub', address, '--guest', `g1=${join(dir, 'bus.ack.g1')}`]);
    expect((await proc.exited).code).toBe(1);
    expect(proc.stderr()).toMatch(/^ringcast: ERR_RINGCAST_SYSTEM: .*ivshmem ring file \/nonexistent\/bus\.ring: No such file or directory/);
  });

  it('stat and sub on a FIFO or a short file planted at the ring path: a typed error (exit 1), no hang', async () => {
    const dir = vmDir();
    const server = await startServer(dir);
    const fifo = join(dir, 'planted.fifo');
    const short = join(dir, 'planted.short');
    execFileSync('mkfifo', [fifo]);
    const ack = join(dir, 'planted.ack');
    writeFileSync(short, Buffer.alloc(100));
    writeFileSync(ack, Buffer.alloc(4096));
    for (const ring of [fifo, short]) {
      const stat = ringcast(['stat', `ivshmem:${ring}`]);
      expect((await stat.exited).code).toBe(1);
      expect(stat.stderr()).toMatch(/^ringcast: ERR_RINGCAST_BAD_REGION: .*(not a ring file|too small to be a ringcast ring)/);
      const reader = sub(formatAddress({ kind: 'ivshmem', ring, ack, server }));
      expect(await reader.exited).toBe(1);
      expect(reader.stderr()).toMatch(/^ringcast: ERR_RINGCAST_BAD_REGION: cannot attach through ivshmem/);
    }
  });

  it('sub on the ring file of a bus whose pub has ended says the publisher is gone (exit 1), not a handshake timeout', async () => {
    const dir = vmDir();
    const server = await startServer(dir);
    const ring = join(dir, 'bus.ring');
    const ack = join(dir, 'bus.ack.g1');
    // stdin ends at once: pub closes the bus in order and leaves its files.
    const pub = ringcast(['pub', formatAddress({ kind: 'ivshmem', ring, server }), '--guest', `g1=${ack}`, '--subscribers', '0']);
    pub.child.stdin!.end();
    expect((await pub.exited).code).toBe(0);
    const reader = sub(formatAddress({ kind: 'ivshmem', ring, ack, server }));
    expect(await reader.exited).toBe(1);
    expect(reader.stderr()).toMatch(/^ringcast: ERR_RINGCAST_PUBLISHER_GONE: .*publisher_state CLOSED/);
  });
});
