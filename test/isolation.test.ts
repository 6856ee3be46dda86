// Isolation as deployed: a subscriber in a "container" -- another uid, its own
// user, PID and mount namespaces (setpriv + unshare), a fresh tmpfs, and only
// the bus socket bind-mounted in -- attaches when the allow list names its uid
// as the publisher sees it, and is refused when it does not.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Publisher } from '../src/index.js';
import { fixtures, numbered, removeTempDirs, runCommand, socketPath, type Proc } from './helpers.js';

const NOBODY = 65534;
const subscriberFixture = join(fixtures, 'subscriber.mjs');
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** The shell that plays the container's init: builds its file system view, then becomes the subscriber. */
const CONTAINER_SCRIPT = `
set -e
mount -t tmpfs -o mode=0755 ringcast-container "$ROOT"
touch "$ROOT/bus.sock"
mount --bind "$SOCK" "$ROOT/bus.sock"
mount -t tmpfs -o mode=0755 ringcast-hide "$SOCK_DIR"
if [ -e "$SOCK" ]; then echo "container: host socket visible"; exit 97; fi
echo "container: host socket hidden"
echo "container: root holds $(ls -A "$ROOT" | tr '\\n' ' ')"
echo "container: uid $(id -u) gid $(id -g) pid $$"
exec "$NODE" "$FIXTURE" "$ROOT/bus.sock" "$MODE"
`;

function containerArgs(): string[] {
  return [
    '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups',
    'unshare', '--user', '--map-root-user', '--mount', '--pid', '--fork', '--mount-proc',
    'sh', '-c', CONTAINER_SCRIPT,
  ];
}

/** Why the test cannot run here, or null. */
function unavailable(): string | null {
  for (const tool of ['setpriv', 'unshare']) {
    if (spawnSync(tool, ['--version']).status !== 0) return `${tool} is not installed`;
  }
  if (process.getuid?.() !== 0) return 'not root: setpriv cannot switch to uid 65534';
  const readable = spawnSync(
    process.execPath,
    ['-e', `require('fs').accessSync(${JSON.stringify(subscriberFixture)}); require('fs').accessSync(${JSON.stringify(dist)})`],
    { uid: NOBODY, gid: NOBODY },
  );
  if (readable.status !== 0) return 'the repository is not readable by uid 65534';
  const probeDir = mkdtempSync(join(tmpdir(), 'ringcast-userns-probe-'));
  const probe = spawnSync(
    'setpriv',
    [
      '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups',
      'unshare', '--user', '--map-root-user', '--mount', '--pid', '--fork', '--mount-proc',
      'sh', '-c', 'mount -t tmpfs none "$1" && echo ok', 'probe', probeDir,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  spawnSync('rmdir', [probeDir]);
  if (probe.stdout?.trim() !== 'ok') return `unshare cannot create user+pid+mount namespaces here (${(probe.stderr ?? '').trim() || probe.error?.message})`;
  return null;
}

const skipReason = unavailable();

const children: ChildProcess[] = [];
const publishers: Publisher[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const publisher of publishers.splice(0)) if (!publisher.closed) await publisher.close();
  removeTempDirs();
});

/** Starts the container with only `sock` bind-mounted at <root>/bus.sock, running the subscriber fixture in `mode`. */
function startContainer(sock: string, mode = 'count'): Proc {
  const root = dirname(socketPath('unused')); // a fresh, empty, world-traversable directory
  const container = runCommand('setpriv', containerArgs(), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      ROOT: root,
      SOCK: sock,
      SOCK_DIR: dirname(sock),
      NODE: process.execPath,
      FIXTURE: subscriberFixture,
      MODE: mode,
      // test/asan-node.sh: node in the container needs the preloaded runtime too.
      ...Object.fromEntries(
        ['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS'].flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])),
      ),
    },
  });
  children.push(container.child);
  return container;
}

/** A bus whose socket a uid-65534 process may reach (as test/helpers.ts socketPath prepares its directory). */
async function bus(allow: { uids?: number[]; gids?: number[] }): Promise<{ path: string; publisher: Publisher }> {
  const path = socketPath();
  const publisher = await Publisher.listen({ path, capacity: 1 << 16, allow });
  publishers.push(publisher);
  chmodSync(path, 0o777);
  return { path, publisher };
}

/** What /proc says of `pid` (read while it is alive): its uid, its pid in each namespace, its namespaces, its command. */
function procView(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))?.[1]?.trim().split(/\s+/).map(Number) ?? [];
  const ns = (kind: string, of: number | 'self') => readlinkSync(`/proc/${of}/ns/${kind}`);
  return {
    uid: field('Uid')[0],
    nspid: field('NSpid'),
    cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean),
    ownNamespaces: ['user', 'pid', 'mnt'].filter((kind) => ns(kind, pid) !== ns(kind, 'self')),
  };
}

function lastJson(lines: string[]): Record<string, unknown> {
  return JSON.parse(lines.filter((l) => l.startsWith('{')).pop() ?? 'null') as Record<string, unknown>;
}

function expectContainerView(container: Proc): void {
  const lines = container.lines();
  expect(lines, `stdout: ${container.stdout().slice(-1000)} stderr: ${container.stderr().slice(-1000)}`).toContain('container: host socket hidden');
  expect(lines).toContain('container: root holds bus.sock ');
  expect(lines).toContain('container: uid 0 gid 0 pid 1'); // root inside, init of its own PID namespace
}

describe('isolation as deployed (user + PID + mount namespaces, only the socket bind-mounted)', () => {
  it('a container subscriber running as uid 65534 attaches when 65534 is allowed', async ({ skip }) => {
    if (skipReason) skip(skipReason);
    const { path, publisher } = await bus({ uids: [NOBODY] });
    const subscribed = once(publisher, 'subscribe') as Promise<[{ slot: number; pid: number; uid: number }]>;
    const container = startContainer(path);
    await container.line(/^attached$/);
    const [event] = await subscribed;
    expectContainerView(container);

    // The publisher sees the subscriber as uid 65534 with its pid outside the
    // container's PID namespace, where that very process is pid 1.
    const [stats] = publisher.stats().subscribers;
    expect(stats).toMatchObject({ uid: NOBODY, pid: event.pid, state: 'active' });
    expect(event).toMatchObject({ uid: NOBODY });
    expect(event.pid).not.toBe(1);
    expect(event.pid).not.toBe(container.child.pid); // that is setpriv/unshare, outside
    const seen = procView(event.pid);
    expect(seen.uid).toBe(NOBODY);
    expect(seen.nspid).toEqual([event.pid, 1]);
    expect(seen.ownNamespaces).toEqual(['user', 'pid', 'mnt']);
    expect(seen.cmdline).toEqual([process.execPath, subscriberFixture, expect.stringMatching(/\/bus\.sock$/), 'count']);
    expect(seen.cmdline[2]).not.toBe(path); // it reached the bus through the bind mount

    for (let seq = 0; seq < 500; seq++) await publisher.publish(numbered(seq, 64 + (seq % 200)));
    await publisher.close();
    expect((await container.exited).code, `stdout: ${container.stdout().slice(-1000)} stderr: ${container.stderr().slice(-1000)}`).toBe(0);
    expect(lastJson(container.lines())).toEqual({ received: 500, inOrder: true, intact: true, error: null });
  });

  it('the same container is refused when 65534 is not allowed, even though it is root inside', async ({ skip }) => {
    if (skipReason) skip(skipReason);
    // uid 0 and gid 0 are what the container believes it is; the publisher sees 65534.
    const { path, publisher } = await bus({ uids: [0], gids: [0] });
    const refused = once(publisher, 'refuse') as Promise<[{ reason: string; pid: number; uid: number }]>;
    let subscribes = 0;
    publisher.on('subscribe', () => subscribes++);
    // count-or-wait: once refused, the subscriber prints why and waits for
    // SIGTERM, so /proc can be read while the refused process is alive.
    const container = startContainer(path, 'count-or-wait');
    const [event] = await refused;
    await container.line(/attachError/);
    const seen = procView(event.pid);
    process.kill(event.pid, 'SIGTERM');
    const { code } = await container.exited;
    expectContainerView(container);
    expect(code, `stdout: ${container.stdout().slice(-1000)} stderr: ${container.stderr().slice(-1000)}`).toBe(3);
    expect(lastJson(container.lines())).toMatchObject({ attachError: 'ERR_RINGCAST_REFUSED', reason: 'allow-list' });
    expect(String(lastJson(container.lines()).message)).toMatch(/uid 65534 gid 65534 is not allowed/);

    expect(event).toMatchObject({ reason: 'allow-list', uid: NOBODY });
    expect(event.pid).not.toBe(1);
    expect(seen.uid).toBe(NOBODY);
    expect(seen.nspid).toEqual([event.pid, 1]);
    expect(seen.ownNamespaces).toEqual(['user', 'pid', 'mnt']);
    expect(seen.cmdline).toEqual([process.execPath, subscriberFixture, expect.stringMatching(/\/bus\.sock$/), 'count-or-wait']);
    expect(subscribes).toBe(0);
    expect(publisher.subscriberCount).toBe(0);
  });
});
