// Nobody forges an ack without attaching (docs/security.md, "Same uid"): a
// process that is not on the bus, even one of the publisher's uid, finds no
// ack page it can open read-write through /proc/<pid>/fd or
// /proc/<pid>/map_files of the publisher or of any subscriber. The publisher
// closes its descriptor of each ack page once the welcome carried it; the
// subscriber closes its own once it mapped the page.
import { chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Publisher, type EvictionEvent } from '../src/index.js';
import { cleanup, numbered, opened, socketPath, type Proc } from './helpers.js';
import { NOBODY, OTHER, otherUidsUnavailable, runAs } from './other-uids.js';

const skipReason = otherUidsUnavailable();
const suffix = skipReason ? ` (skipped: ${skipReason})` : '';

afterEach(cleanup);

interface ForgeryReport {
  reachable: string[];
  written: number;
  refused: Record<string, string>;
  mem: Record<string, string>;
}

async function forge(uid: number, pids: number[]): Promise<ForgeryReport> {
  const forger = runAs(uid, 'ack-forger.mjs', pids.map(String));
  const { code } = await forger.exited;
  expect(code, forger.stderr()).toBe(0);
  return JSON.parse(forger.lines().at(-1)!) as ForgeryReport;
}

function lastJson(proc: Proc): unknown {
  return JSON.parse(proc.lines().filter((l) => l.startsWith('{')).at(-1) ?? 'null');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ack pages are reachable only by their subscriber', () => {
  it.runIf(!skipReason)(`a process of the publisher's uid that did not attach cannot write any ack page${suffix}`, async () => {
    const path = socketPath();
    chmodSync(dirname(path), 0o777); // the publisher runs as 65534 and creates its socket here
    const publisher = runAs(NOBODY, 'ticking-publisher.mjs', [path, '2', String(NOBODY)]);
    await publisher.line(/^listening/);
    const subscribers = [runAs(NOBODY, 'subscriber.mjs', [path, 'count']), runAs(NOBODY, 'subscriber.mjs', [path, 'count'])];
    for (const subscriber of subscribers) await subscriber.line(/^attached$/);
    await publisher.line(/^publishing$/);
    await sleep(100);

    const report = await forge(NOBODY, [publisher.child.pid!, ...subscribers.map((s) => s.child.pid!)]);
    expect(report.reachable.filter((r) => r.includes('ringcast-ack'))).toEqual([]);
    expect(report.written).toBe(0);
    // The ring is reachable (sealed against writes, test/hostile.test.ts); the mappings are not.
    expect(Object.entries(report.refused).filter(([where]) => where.includes('map_files')).every(([, code]) => code === 'EPERM')).toBe(true);

    await sleep(200); // the publisher re-reads every ack every 10 ms
    publisher.child.stdin!.write('close\n');
    expect((await publisher.exited).code, publisher.stderr()).toBe(0);
    const { published } = lastJson(publisher) as { published: number };
    expect(publisher.lines().filter((l) => l.startsWith('evict'))).toEqual([]);
    for (const subscriber of subscribers) {
      await subscriber.exited;
      expect(lastJson(subscriber)).toEqual({ received: published, inOrder: true, intact: true, error: null });
    }
  });

  it.runIf(!skipReason)(`refuseSameUidAccess(): a process of the same uid cannot even open its /proc/<pid>/mem or list its descriptors${suffix}`, async () => {
    const path = socketPath();
    chmodSync(dirname(path), 0o777);
    const publisher = runAs(NOBODY, 'ticking-publisher.mjs', [path, '1', String(NOBODY), 'refuse-same-uid']);
    await publisher.line(/^listening/);
    const subscriber = runAs(NOBODY, 'subscriber.mjs', [path, 'count']);
    await subscriber.line(/^attached$/);
    await publisher.line(/^publishing$/);
    const pid = publisher.child.pid!;
    const report = await forge(NOBODY, [pid]);
    expect(report.mem[pid]).toBe('EACCES');
    expect(report.refused).toMatchObject({ [`${pid}/fd`]: 'EACCES', [`${pid}/map_files`]: 'EACCES' });
    expect(report.reachable).toEqual([]);
    publisher.child.stdin!.write('close\n');
    expect((await publisher.exited).code, publisher.stderr()).toBe(0);
    const { published } = lastJson(publisher) as { published: number };
    await subscriber.exited;
    expect(lastJson(subscriber)).toEqual({ received: published, inOrder: true, intact: true, error: null });
  });

  it.runIf(!skipReason)(`subscribers of distinct uids: one uid's processes reach nothing of the other's or the publisher's${suffix}`, async () => {
    const path = socketPath();
    const publisher = await Publisher.listen({ path, capacity: 1 << 16, allow: { uids: [NOBODY, OTHER] } });
    opened.push(publisher);
    chmodSync(path, 0o777);
    const evictions: EvictionEvent[] = [];
    publisher.on('evict', (event: EvictionEvent) => evictions.push(event));
    const mine = runAs(NOBODY, 'subscriber.mjs', [path, 'count']);
    const theirs = runAs(OTHER, 'subscriber.mjs', [path, 'count']);
    await mine.line(/^attached$/);
    await theirs.line(/^attached$/);
    expect(publisher.stats().subscribers.map((s) => s.uid).sort()).toEqual([OTHER, NOBODY]);

    for (let seq = 0; seq < 200; seq++) await publisher.publish(numbered(seq, 64));
    const report = await forge(NOBODY, [process.pid, theirs.child.pid!, mine.child.pid!]);
    expect(report.written).toBe(0);
    expect(report.reachable.filter((r) => r.includes('ringcast-ack'))).toEqual([]);
    // The publisher (root) and the other uid's subscriber keep even their descriptor lists closed.
    expect(report.refused).toMatchObject({
      [`${process.pid}/fd`]: 'EACCES',
      [`${process.pid}/map_files`]: 'EACCES',
      [`${theirs.child.pid}/fd`]: 'EACCES',
      [`${theirs.child.pid}/map_files`]: 'EACCES',
    });

    for (let seq = 200; seq < 400; seq++) await publisher.publish(numbered(seq, 64));
    publisher.stats(); // re-reads every ack
    expect(evictions).toEqual([]);
    await publisher.close();
    for (const subscriber of [mine, theirs]) {
      await subscriber.exited;
      expect(lastJson(subscriber)).toEqual({ received: 400, inOrder: true, intact: true, error: null });
    }
  });
});
