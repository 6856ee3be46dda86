// Every example in examples/ runs as the README shows it (node examples/x.mjs,
// importing 'ringcast' through the package's own exports) and ends with "ok:".
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, run, spawned } from './helpers.js';

afterEach(cleanup);

const example = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

async function runExample(name: string, args: string[]): Promise<string[]> {
  const proc = run(example(name), args);
  spawned.push(proc.child);
  const { code } = await proc.exited;
  expect(code, `${name}: ${proc.stdout()}\n${proc.stderr()}`).toBe(0);
  return proc.lines();
}

describe('examples', () => {
  it('market-data: every subscriber process ends with the publisher’s book', async () => {
    const lines = await runExample('market-data.mjs', ['--subscribers', '3', '--ticks', '20000']);
    expect(lines.at(-1)).toBe('ok: 3 subscribers each received all 20000 ticks in order; every book matches');
  });

  it('log-fanout: the fast consumer gets every line; the stalled one is evicted, rejoins, and counts what it missed', async () => {
    // Only a consumer that stalls longer than --evict-after-ms holds the service that long.
    const lines = await runExample('log-fanout.mjs', ['--lines', '4000', '--evict-after-ms', '1000', '--stall-every', '500', '--stall-ms', '2500']);
    expect(lines.some((line) => /^service: evicted slot \d+ \(slow\) with \d+ lines in the ring it had not read yet$/.test(line))).toBe(true);
    // The table's columns say what they count, and the legend explains them.
    expect(lines.some((line) => line.includes('error-level lines') && line.includes('lines missed'))).toBe(true);
    expect(lines.some((line) => /^'lines missed': over all evictions, lines unread at the eviction plus lines published before the rejoin/.test(line))).toBe(true);
    expect(lines.at(-1)).toMatch(/^ok: the fast consumer got all 4000 lines; the slow one was evicted and rejoined \d+×: \d+ lines read \+ \d+ missed = 4000$/);
  });

  it('bridged-bus: both readers on the far side of a bridge get every price in order', async () => {
    const lines = await runExample('bridged-bus.mjs', ['--messages', '5000']);
    expect(lines.at(-1)).toBe('ok: both readers on host B received all 5000 prices from host A, in order');
  });

  it('pipe: the receiver process sees every byte in order', async () => {
    const lines = await runExample('pipe.mjs', ['--bytes', String(4 << 20)]);
    expect(lines.at(-1)).toBe('ok: the receiver got every byte, in order');
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^receiver saw: ${4 << 20} [0-9a-f]{64}$`)));
  });

  it('pipe: a tiny transfer still shows a rate that means something (not "0 MB/s")', async () => {
    const lines = await runExample('pipe.mjs', ['--bytes', '1000']);
    const sent = lines.find((line) => line.startsWith('sent 1000 bytes'));
    expect(sent).toMatch(/\(\d[\d.]* (B|kB|MB|GB)\/s\)$/);
    expect(sent).not.toMatch(/\(0 [kMG]?B\/s\)/);
  });
});
