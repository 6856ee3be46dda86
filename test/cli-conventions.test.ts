// The `ringcast` command's conventions, run as a user runs it (the real
// binary): help and version exit 0, every usage error exits 2 with that
// command's usage, a cut-short stream is an error, a closed stdout is not.
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { cleanup, cli, run, socketPath, spawned, type Proc } from './helpers.js';

afterEach(cleanup);

/** The real binary, killed by `cleanup` if a test leaves it running. */
function ringcast(args: string[], env?: NodeJS.ProcessEnv): Proc {
  const proc = run(cli, args, env ? { env: { ...process.env, ...env } } : {});
  spawned.push(proc.child);
  return proc;
}

async function stat(path: string): Promise<{ policy: string; publisherState: string; subscribers: Array<{ pid: number; state: string }> } | null> {
  const probe = ringcast(['stat', path, '--json']);
  return (await probe.exited).code === 0 ? JSON.parse(probe.stdout()) : null;
}

/** Polls `stat --json` until `ready` holds (the bus's own view, not a sleep). */
async function until(path: string, ready: (s: NonNullable<Awaited<ReturnType<typeof stat>>>) => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const snapshot = await stat(path);
    if (snapshot && ready(snapshot)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`bus ${path} never got ready`);
}

async function socketExists(path: string): Promise<void> {
  for (let i = 0; i < 1000 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 10));
}

const COMMANDS = ['demo', 'pub', 'sub', 'stat', 'bench', 'bridge'] as const;

describe('help and version', () => {
  it.each([[['--help']], [['-h']], [['help']]])('`ringcast %s` prints the usage of every command on stdout and exits 0', async (args) => {
    const proc = ringcast(args);
    expect((await proc.exited).code).toBe(0);
    for (const command of COMMANDS) expect(proc.stdout()).toContain(`ringcast ${command}`);
    expect(proc.stderr()).toBe('');
  });

  it.each([['--version'], ['-V']])('`ringcast %s` prints the package version and exits 0', async (flag) => {
    const proc = ringcast([flag]);
    expect((await proc.exited).code).toBe(0);
    expect(proc.stdout().trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each(COMMANDS)('`ringcast %s --help` (and -h, and `ringcast help` it) prints that command’s usage only, exit 0', async (command) => {
    for (const args of [[command, '--help'], [command, '-h'], ['help', command]]) {
      const proc = ringcast(args);
      expect((await proc.exited).code, args.join(' ')).toBe(0);
      expect(proc.stdout()).toContain(`ringcast ${command}`);
      for (const other of COMMANDS) if (other !== command && !(command === 'bridge' && other === 'stat')) expect(proc.stdout()).not.toContain(`ringcast ${other} `);
    }
  });
});

describe('usage errors: exit 2 and the usage of the command at fault', () => {
  const path = '/nonexistent/ringcast.sock';
  it.each([
    ['demo', ['demo', '--messages', '-1'], /--messages must be an integer >= 1, got "-1"/],
    ['demo', ['demo', '--messages=-1'], /--messages must be an integer >= 1, got "-1"/],
    ['demo', ['demo', '--size', '200000000'], /--size must be at most/],
    ['demo', ['demo', '--frobnicate'], /Unknown option '--frobnicate'/],
    ['pub', ['pub', path, '--policy', 'fast'], /--policy must be block or drop/],
    ['pub', ['pub', path, '--evict-after-ms', 'soon'], /--evict-after-ms must be an integer/],
    ['pub', ['pub', path, '--policy', 'drop', '--evict-after-ms', '5', '--subscribers', '0'], /evictAfterMs/],
    ['pub', ['pub'], /pub needs a bus address/],
    ['sub', ['sub', path, 'extra'], /unexpected argument "extra"/],
    ['stat', ['stat', path, '--count', '2'], /--count needs --watch/],
    ['stat', ['stat', path, '--interval', '500'], /--interval needs --watch/],
    ['bridge', ['bridge', '--nats', 'nats://localhost'], /--nats needs --subject/],
    ['bridge', ['bridge', '--bogus'], /Unknown option '--bogus'/],
    // A negative value is a value, as for every other command, not parseArgs' "ambiguous".
    ['bridge', ['bridge', '--tcp-listen', '-1'], /--tcp-listen wants \[host:\]port with a port from 0 to 65535, got "-1"/],
    ['bridge', ['bridge', '--tcp-listen=-1'], /--tcp-listen wants \[host:\]port with a port from 0 to 65535, got "-1"/],
    ['bridge', ['bridge', '--tcp-connect', '-5'], /--tcp-connect wants host:port with a port from 0 to 65535, got "-5"/],
    ['bridge', ['bridge', '--tcp-listen', '0', '--forward', path, '--capacity', '-4096'], /--capacity must be a whole number, got "-4096"/],
    ['bridge', ['bridge', '--tcp-listen', '127.0.0.1:0', '--republish', path, '--policy', 'fast'], /option policy/],
    ['pub', ['pub', path, '--capacity', '1000'], /option capacity/],
    ['stat', ['stat', 'http://[::1]:99999'], /"http:\/\/\[::1\]:99999" is not a URL/],
  ] as const)('%s: ringcast %j', async (command, args, message) => {
    const proc = ringcast([...args]);
    expect((await proc.exited).code).toBe(2);
    expect(proc.stderr()).toMatch(message);
    expect(proc.stderr()).toContain(`ringcast ${command}`);
    for (const other of COMMANDS) if (other !== command && !(command === 'bridge' && other === 'stat')) expect(proc.stderr()).not.toContain(`ringcast ${other} `);
    expect(proc.stderr()).not.toMatch(/ERR_PARSE_ARGS|at .*\.js:\d+/);
  });

  it('an unknown command gets the whole usage, exit 2', async () => {
    const proc = ringcast(['frob']);
    expect((await proc.exited).code).toBe(2);
    expect(proc.stderr()).toMatch(/unknown command "frob"/);
    for (const command of COMMANDS) expect(proc.stderr()).toContain(`ringcast ${command}`);
  });
});

describe('ringcast pub: the bus policies from the command line', () => {
  it('--policy, --max-subscribers: the bus has them (stat shows the policy, a subscriber too many is refused)', async () => {
    const path = socketPath();
    const pub = ringcast(['pub', path, '--policy', 'drop', '--max-subscribers', '1', '--subscribers', '1']);
    await socketExists(path);
    const first = ringcast(['sub', path]);
    await until(path, (s) => s.subscribers.length === 1);
    expect((await stat(path))!.policy).toBe('drop');
    const second = ringcast(['sub', path]);
    expect((await second.exited).code).toBe(1);
    expect(second.stderr()).toMatch(/ERR_RINGCAST_REFUSED/);
    pub.child.stdin!.end('done');
    expect((await pub.exited).code).toBe(0);
    expect((await first.exited).code).toBe(0);
    expect(first.stdout()).toBe('done');
  });

  it('--allow-uid: a uid not on the list is refused', async () => {
    const path = socketPath();
    const pub = ringcast(['pub', path, '--allow-uid', String((process.getuid!() + 4242) % 60000), '--subscribers', '0']);
    await socketExists(path);
    const sub = ringcast(['sub', path]);
    expect((await sub.exited).code).toBe(1);
    expect(sub.stderr()).toMatch(/ERR_RINGCAST_REFUSED/);
    pub.child.stdin!.end();
    expect((await pub.exited).code).toBe(0);
  });

  it('--evict-after-ms: a stopped subscriber is evicted and the other gets everything', async () => {
    const path = socketPath();
    const pub = ringcast(['pub', path, '--subscribers', '2', '--capacity', '65536', '--evict-after-ms', '200']);
    await socketExists(path);
    const healthy = ringcast(['sub', path]);
    const stopped = ringcast(['sub', path]);
    await until(path, (s) => s.subscribers.length === 2);
    stopped.child.kill('SIGSTOP');
    onTestFinished(() => void stopped.child.kill('SIGCONT'));
    const data = Buffer.alloc(1 << 20, 'x');
    pub.child.stdin!.end(data);
    expect((await pub.exited).code).toBe(0);
    expect((await healthy.exited).code).toBe(0);
    expect(healthy.stdout().length).toBe(data.length);
    stopped.child.kill('SIGCONT');
    expect((await stopped.exited).code).toBe(1);
    expect(stopped.stderr()).toMatch(/ERR_RINGCAST_EVICTED: evicted \(slow\)/);
  });
});

describe('a stream cut short is not a complete one', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('pub killed by %s before its input ended: pub exits %i, sub delivers what was committed and exits 1', async (signal, pubCode) => {
    const path = socketPath();
    const pub = ringcast(['pub', path]);
    await socketExists(path);
    const sub = ringcast(['sub', path]);
    await until(path, (s) => s.subscribers.length === 1);
    pub.child.stdin!.write('first part\n'); // stdin stays open: the input has not ended
    await sub.line(/first part/);
    pub.child.kill(signal);
    expect((await pub.exited).code).toBe(pubCode);
    expect((await sub.exited).code).toBe(1);
    expect(sub.stdout()).toBe('first part\n');
    expect(sub.stderr()).toMatch(/ERR_RINGCAST_PUBLISHER_ABORTED/);
    expect(existsSync(path)).toBe(false); // no socket file left for the next pub to trip on
  });

  it('pub killed while it waits for its subscribers leaves no socket file behind', async () => {
    const path = socketPath();
    const pub = ringcast(['pub', path]);
    await socketExists(path);
    pub.child.kill('SIGTERM');
    expect((await pub.exited).code).toBe(143);
    expect(existsSync(path)).toBe(false);
  });
});

describe('ringcast pub --subscribers: a count the bus can never reach', () => {
  it('more than --max-subscribers is a usage error (exit 2) naming --subscribers, not a wait for ever', async () => {
    const path = socketPath();
    const pub = ringcast(['pub', path, '--max-subscribers', '2', '--subscribers', '3']);
    expect((await pub.exited).code).toBe(2);
    expect(pub.stderr()).toMatch(/^ringcast: --subscribers 3: expected at most 2/);
    expect(pub.stderr()).toContain('ringcast pub');
    expect(existsSync(path)).toBe(false);
  });
});

describe('ringcast sub: clear ends', () => {
  it('a closed stdout (sub | head -c 1000) ends it quietly with status 0', async () => {
    const path = socketPath();
    const pub = ringcast(['pub', path]);
    await socketExists(path);
    const sub = ringcast(['sub', path]);
    await until(path, (s) => s.subscribers.length === 1);
    pub.child.stdin!.on('error', () => {}); // pub may finish first
    pub.child.stdin!.end(Buffer.alloc(64 << 20, 'y'));
    await new Promise<void>((resolve) => sub.child.stdout!.once('data', () => resolve()));
    sub.child.stdout!.destroy(); // the reader goes away, as `head` does
    expect((await sub.exited).code).toBe(0);
    expect(sub.stderr()).toBe('');
    expect((await pub.exited).code).toBe(0);
  });

  it('a socket that is not a ringcast bus is named as such', async () => {
    const path = socketPath('stream.sock');
    const server = createServer().listen(path);
    onTestFinished(() => void server.close());
    await new Promise((r) => server.once('listening', r));
    const sub = ringcast(['sub', path]);
    expect((await sub.exited).code).toBe(1);
    expect(sub.stderr()).toMatch(/not a ringcast bus/);
    expect(sub.stderr()).not.toMatch(/Protocol wrong type/);
  });
});

describe('ringcast stat http://…: whatever answers is not trusted to be a bridge', () => {
  it.each([
    ['a 404', 404, 'text/plain', 'no such page', /it answered HTTP 404/],
    ['HTML', 200, 'text/html', '<html>not json</html>', /the answer is not JSON/],
    ['JSON that is not a bridge\'s stats', 200, 'application/json', '[1,2,3]', /the answer is not a bridge's stats/],
  ])('%s: exit 1 with ERR_RINGCAST_SYSTEM naming the problem', async (_name, status, type, body, message) => {
    const server = createHttpServer((_request, response) => response.writeHead(status, { 'content-type': type }).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => void server.close());
    const { port } = server.address() as { port: number };
    const proc = ringcast(['stat', `http://127.0.0.1:${port}`]);
    expect((await proc.exited).code).toBe(1);
    expect(proc.stderr()).toMatch(/^ringcast: ERR_RINGCAST_SYSTEM: cannot read a bridge's stats from http:\/\/127\.0\.0\.1:\d+\/stats\.json: /);
    expect(proc.stderr()).toMatch(message);
    expect(proc.stderr()).not.toMatch(/at .*\.js:\d+/);
  });
});

describe('ringcast stat http://…: what a browser would refuse is still read, within bounds', () => {
  it('a bridge on a port that fetch() blocks (10080, 6000, ...) is read like any other', async () => {
    const bridge = createHttpServer((_request, response) =>
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'ab', transport: 'tcp', connected: true, reconnects: 0, forward: null, republish: null })),
    );
    onTestFinished(() => void bridge.close());
    // Ports the Fetch standard calls bad; the first one free here.
    let port: number | undefined;
    for (const candidate of [10080, 6000, 6665, 6666, 6667, 6668, 6669, 6697, 4190, 6566]) {
      const bound = await new Promise<boolean>((resolve) => {
        bridge.once('error', () => resolve(false));
        bridge.listen(candidate, '127.0.0.1', () => resolve(true));
      });
      if (bound) {
        port = candidate;
        break;
      }
    }
    expect(port).toBeDefined();
    const proc = ringcast(['stat', `http://127.0.0.1:${port}`, '--json']);
    expect((await proc.exited).code).toBe(0);
    expect(JSON.parse(proc.stdout())).toMatchObject({ id: 'ab', connected: true });
  });

  it('an answer too large to be a bridge\'s stats is refused once past the bound, not read to the end', async () => {
    const chunk = Buffer.alloc(1 << 16, 0x20);
    const server = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const more = (): void => {
        while (response.write(chunk));
      };
      response.on('drain', more);
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as { port: number };
    const proc = ringcast(['stat', `http://127.0.0.1:${port}`]);
    expect((await proc.exited).code).toBe(1);
    expect(proc.stderr()).toMatch(/the answer is larger than 1048576 bytes/);
  });
});

describe('ringcast stat --watch', () => {
  it('--json: one JSON line per frame, with rates from the second frame on', async () => {
    const path = socketPath();
    const pub = ringcast(['pub', path, '--subscribers', '0']);
    await socketExists(path);
    const watch = ringcast(['stat', path, '--watch', '--json', '--count', '2', '--interval', '100']);
    expect((await watch.exited).code).toBe(0);
    const frames = watch.lines().map((line) => JSON.parse(line));
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatchObject({ path, policy: 'block', publisherState: 'open', rates: null });
    expect(frames[1].rates).toMatchObject({ messagesPerSecond: 0, bytesPerSecond: 0, subscribers: [] });
    pub.child.stdin!.end();
    expect((await pub.exited).code).toBe(0);
  });
});

describe('ringcast demo: bounded and tidy', () => {
  it('large messages are built a batch at a time: the publisher stays far below size × variants', async (ctx) => {
    // Under test/asan-node.sh the resident size is ASan's (shadow memory, freed-memory quarantine).
    if (/libasan/.test(process.env.LD_PRELOAD ?? '')) ctx.skip('AddressSanitizer is preloaded: resident memory is not the program\'s');
    const demo = ringcast(['demo', '--subscribers', '1', '--messages', '48', '--size', String(4 << 20), '--json']);
    expect((await demo.exited).code).toBe(0);
    const result = JSON.parse(demo.stdout().trim().split('\n').pop()!);
    expect(result).toMatchObject({ ok: true, messages: 48, size: 4 << 20 });
    // 48 messages × 4 MiB = 192 MiB published; the old demo held 64 bodies + a 256-message batch (> 400 MB).
    expect(result.publisherMaxRssBytes).toBeLessThan(250e6);
  });

  it('SIGTERM: exits 143, its subscriber processes and socket directory go too, no stack traces', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'ringcast-demo-tmp-'));
    onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
    const demo = ringcast(['demo', '--subscribers', '2', '--messages', '1000000000'], { TMPDIR: tmp });
    await demo.line(/subscriber processes attached/);
    demo.child.kill('SIGTERM');
    expect((await demo.exited).code).toBe(143);
    expect(readdirSync(tmp)).toEqual([]);
    expect(demo.stderr()).not.toMatch(/EPIPE|Error|at /);
  });
});
