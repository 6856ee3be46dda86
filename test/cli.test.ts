// The `ringcast` command as a user runs it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { cleanup, cli, run, socketPath } from './helpers.js';

afterEach(cleanup);

async function waitForSocket(path: string): Promise<void> {
  for (let i = 0; i < 500 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('ringcast demo', () => {
  it('--json: N subscriber processes get every message once, in order, intact', async () => {
    const demo = run(cli, ['demo', '--subscribers', '3', '--messages', '50000', '--size', '100', '--json']);
    const { code } = await demo.exited;
    const result = JSON.parse(demo.stdout().trim().split('\n').pop()!);
    expect(code).toBe(0);
    expect(result).toMatchObject({ ok: true, messages: 50000, size: 100 });
    expect(result.seconds).toBeGreaterThan(0);
    expect(result.subscribers).toHaveLength(3);
    for (const s of result.subscribers) expect(s).toMatchObject({ received: 50000, lost: 0, inOrder: true, checksumOk: true });
  });

  it('rejects bad arguments with usage and exit status 2', async () => {
    const demo = run(cli, ['demo', '--subscribers', 'many']);
    expect((await demo.exited).code).toBe(2);
    expect(demo.stderr()).toMatch(/--subscribers must be an integer/);
  });
});

describe('ringcast pub | ringcast sub', () => {
  it('a 256 MiB binary file arrives byte-exact (same sha256)', async () => {
    const file = join(tmpdir(), `ringcast-256m-${process.pid}.bin`);
    const hash = createHash('sha256');
    const chunk = randomBytes(1 << 20);
    const parts: Buffer[] = [];
    for (let i = 0; i < 256; i++) {
      chunk[i]! ^= 0x5a; // every MiB differs
      parts.push(Buffer.from(chunk));
    }
    const data = Buffer.concat(parts);
    hash.update(data);
    writeFileSync(file, data);
    onTestFinished(() => rmSync(file, { force: true }));
    const path = socketPath();
    const pub = run(cli, ['pub', path]);
    createReadStream(file).pipe(pub.child.stdin!);
    await waitForSocket(path);
    const sub = spawn(process.execPath, [cli, 'sub', path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const received = createHash('sha256');
    let bytes = 0;
    sub.stdout.on('data', (b: Buffer) => {
      bytes += b.length;
      received.update(b);
    });
    const [pubExit, [subCode]] = await Promise.all([pub.exited, once(sub, 'close')]);
    expect(pubExit.code).toBe(0);
    expect(subCode).toBe(0);
    expect(bytes).toBe(data.length);
    expect(received.digest('hex')).toBe(hash.digest('hex'));
  }, 120_000);
});

describe('ringcast pub on a xen: bus', () => {
  it('takes --receivers; outside a Xen domain it says which devices are missing (exit 1)', async ({ skip }) => {
    if (existsSync('/dev/xen/evtchn')) skip('inside a Xen domain the devices exist');
    const pub = run(cli, ['pub', 'xen:1/quotes', '--receivers', '2,2:pub,0']);
    expect((await pub.exited).code).toBe(1);
    expect(pub.stderr()).toMatch(/ERR_RINGCAST_SYSTEM: bus xen:1\/quotes: .*\/dev\/xen/);
  });

  it('refuses a malformed --receivers, and a xen: bus without it, before touching Xen', async () => {
    const bad = run(cli, ['pub', 'xen:1/quotes', '--receivers', '2:both']);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toMatch(/--receivers takes DOMID\[:sub\|:pub\]/);
    const none = run(cli, ['pub', 'xen:1/quotes']);
    expect((await none.exited).code).toBe(2);
    expect(none.stderr()).toMatch(/option xen: expected \{ receivers/);
  });
});

describe('ringcast stat', () => {
  it('shows the descriptor page: subscribers, state, lag', async () => {
    const path = socketPath();
    const pub = run(cli, ['pub', path, '--subscribers', '1']);
    await waitForSocket(path);
    const sub = run(cli, ['sub', path]);
    for (let i = 0; i < 200; i++) {
      const probe = run(cli, ['stat', path, '--json']);
      await probe.exited;
      const snapshot = JSON.parse(probe.stdout());
      if (snapshot.subscribers.length === 1) {
        expect(snapshot).toMatchObject({ publisherState: 'open', policy: 'block', head: 0 });
        expect(snapshot.subscribers[0]).toMatchObject({ slot: 0, state: 'active', lagBytes: 0, pid: sub.child.pid });
        break;
      }
      if (i === 199) throw new Error('subscriber never showed up');
    }
    const table = run(cli, ['stat', path]);
    await table.exited;
    expect(table.stdout()).toMatch(/policy block/);
    expect(table.stdout()).toMatch(/active/);
    pub.child.stdin!.end('bye');
    expect((await pub.exited).code).toBe(0);
    expect((await sub.exited).code).toBe(0);
    expect(sub.stdout()).toBe('bye');
  });

  it('says clearly when there is no bus', async () => {
    const probe = run(cli, ['stat', socketPath()]);
    expect((await probe.exited).code).toBe(1);
    expect(probe.stderr()).toMatch(/ERR_RINGCAST_SYSTEM: cannot connect to bus/);
  });
});
