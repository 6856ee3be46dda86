// The benchmark harness as `ringcast bench` runs it, on its smoke suite: every
// transport and scenario once, for a few seconds. Figures are not judged here
// (performance belongs to the benchmarks); the shape and completeness are.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, run } from './helpers.js';

const SCENARIOS = ['throughput', 'fanout', 'latency', 'cpu', 'stuck', 'instr'];
const TRANSPORTS = ['ringcast', 'ringcast-batches', 'ringcast-reuse', 'ringcast-zerocopy', 'uds', 'uds-corked', 'tcp', 'zeromq', 'nats', 'c-core', 'memcpy'];

const dir = mkdtempSync(join(tmpdir(), 'ringcast-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Result {
  scenario: string;
  transport: string;
  subscribers: number;
  size: number;
  error?: string;
  skipped?: string;
  [figure: string]: unknown;
}

describe('ringcast bench --suite smoke', () => {
  const json = join(dir, 'bench.json');
  let doc: { machine: Record<string, unknown>; results: Result[]; micro: unknown; targets: unknown[] };

  it('runs every transport and scenario and writes the JSON', { timeout: 180_000 }, async () => {
    const bench = run(cli, ['bench', '--suite', 'smoke', '--json', json]);
    const { code } = await bench.exited;
    expect(bench.stderr()).not.toMatch(/FAILED/);
    expect(code, bench.stdout() + bench.stderr()).toBe(0);
    doc = JSON.parse(readFileSync(json, 'utf8'));

    expect(doc.machine).toMatchObject({ cpu: expect.any(String), cores: expect.any(Number), node: process.version, kernel: expect.any(String) });
    expect(doc.results.length).toBeGreaterThan(0);
    for (const r of doc.results) {
      expect(SCENARIOS).toContain(r.scenario);
      expect(TRANSPORTS).toContain(r.transport);
      expect(Number.isInteger(r.subscribers)).toBe(true);
      expect(Number.isInteger(r.size)).toBe(true);
      expect(r.error).toBeUndefined();
    }
    // Every transport measured something, and every scenario ran.
    for (const transport of TRANSPORTS) {
      const figures = doc.results.filter((r) => r.transport === transport && !r.skipped && ((r.msgsPerSec as number) > 0 || (r.publisherInstrPerMsg as number) > 0));
      expect(figures.length, transport).toBeGreaterThan(0);
    }
    for (const scenario of SCENARIOS) expect(doc.results.some((r) => r.scenario === scenario), scenario).toBe(true);
  });

  it('carries the figures each scenario promises', () => {
    const of = (scenario: string) => doc.results.filter((r) => r.scenario === scenario);
    for (const r of [...of('throughput'), ...of('fanout')].filter((r) => r.transport.startsWith('ringcast') || ['uds', 'uds-corked', 'tcp', 'zeromq', 'nats'].includes(r.transport))) {
      expect(r).toMatchObject({ msgsPerSec: expect.any(Number), mbPerSec: expect.any(Number), publisherCpuNsPerMsg: expect.any(Number) });
      // MB = 10^6 bytes per subscriber.
      expect(r.mbPerSec as number).toBeCloseTo(((r.msgsPerSec as number) * r.size) / 1e6, 0);
    }
    for (const r of of('latency')) {
      expect(r).toMatchObject({ p50Ns: expect.any(Number), p99Ns: expect.any(Number), p999Ns: expect.any(Number), wake: expect.any(String) });
      expect(r.p50Ns as number).toBeLessThanOrEqual(r.p99Ns as number);
      expect(r.p99Ns as number).toBeLessThanOrEqual(r.p999Ns as number);
    }
    expect(of('latency').map((r) => r.wake)).toEqual(expect.arrayContaining(['doorbell', 'spin']));
    // The C core's own round trip, the floor the woken target is read against.
    expect(of('latency').find((r) => r.transport === 'c-core')).toMatchObject({ wake: 'doorbell', p50Ns: expect.any(Number), cdf: expect.any(Array) });
    for (const r of of('cpu')) expect(r).toMatchObject({ senderCpuPct: expect.any(Number), receiverCpuPct: expect.any(Number), rateMbps: 136 });
    const [stuck] = of('stuck');
    // A frozen subscriber on a ringcast bus with evictAfterMs is evicted, and the healthy go on.
    expect(stuck).toMatchObject({ transport: 'ringcast', evicted: true, healthyThroughputRatio: expect.any(Number) });
    expect(stuck!.healthyThroughputRatio as number).toBeGreaterThan(0);
    // Instructions per message in the publish path, by callgrind, for the C core and the Node publisher
    // (skipped, with the reason, in the run under test/asan-node.sh: valgrind cannot run under ASan).
    const underAsan = /libasan/.test(process.env.LD_PRELOAD ?? '');
    for (const transport of ['c-core', 'ringcast']) {
      const counted = of('instr').filter((r) => r.transport === transport);
      expect(counted.map((r) => r.subscribers), transport).toEqual([1, 2]);
      for (const r of counted) {
        if (underAsan) expect(r.skipped).toMatch(/AddressSanitizer/);
        else expect(r.publisherInstrPerMsg as number).toBeGreaterThan(0);
      }
    }
    expect(Array.isArray(doc.micro)).toBe(true);
  });

  it('bench/docs.mjs turns the JSON into markdown and SVG plots', { timeout: 60_000 }, async () => {
    const out = join(dir, 'docs');
    const { writeDocs } = (await import(new URL('../bench/docs.mjs', import.meta.url).href)) as {
      writeDocs: (json: string, out: string) => Promise<{ markdown: string; images: string[] }>;
    };
    const written = await writeDocs(json, out);
    const markdown = readFileSync(written.markdown, 'utf8');
    expect(markdown).toMatch(/^# Benchmarks/);
    for (const heading of ['## Method', '## Machine', '## Throughput vs message size', '## Fan-out', '## Latency', '## CPU', '## A stuck subscriber', '## The XenSocket paper'])
      expect(markdown).toContain(heading);
    // A target this run missed is followed by what limits it.
    const missed = (doc.targets as { met: boolean | null; judged?: boolean; name: string }[]).filter((t) => t.judged !== false && !t.met);
    if (missed.length) for (const t of missed) expect(markdown).toContain(`- **${t.name}**: `);
    else expect(markdown).not.toContain('### What limits');
    expect(written.images.length).toBeGreaterThanOrEqual(4);
    for (const image of written.images) {
      expect(existsSync(image)).toBe(true);
      expect(readFileSync(image, 'utf8')).toMatch(/^<svg /);
      expect(markdown).toContain(`img/${image.split('/').pop()}`);
    }
    expect(readdirSync(join(out, 'img')).every((name) => name.endsWith('.svg'))).toBe(true);
  });
});

describe('judgeTargets', () => {
  // Figures as a quick run reports them: the time-based N=8 / N=1 ratio far over 1.2 (the scheduler on 2 cores), the instruction count at 1.0.
  const results = [
    { scenario: 'fanout', transport: 'ringcast', subscribers: 1, size: 1024, msgsPerSec: 1e6, publisherCpuNsPerMsg: 200 },
    { scenario: 'fanout', transport: 'ringcast', subscribers: 8, size: 1024, msgsPerSec: 1e6, publisherCpuNsPerMsg: 600 },
    { scenario: 'instr', transport: 'ringcast', subscribers: 1, size: 1024, publisherInstrPerMsg: 1000 },
    { scenario: 'instr', transport: 'ringcast', subscribers: 8, size: 1024, publisherInstrPerMsg: 1001 },
  ];

  it('shows the time-based publisher CPU ratio without judging it; the instruction count judges write-once', async () => {
    const { judgeTargets, verdict } = (await import(new URL('../bench/harness.mjs', import.meta.url).href)) as {
      judgeTargets: (results: unknown[]) => { name: string; value: number; met: boolean | null; judged?: boolean; goal: string }[];
      verdict: (target: unknown) => string;
    };
    const targets = judgeTargets(results);
    const byTime = targets.find((t) => t.name.startsWith('publisher CPU per message'));
    expect(byTime).toMatchObject({ value: 3, met: null, judged: false, goal: expect.stringMatching(/^shown, not judged/) });
    expect(verdict(byTime)).toBe('shown');
    const byInstructions = targets.find((t) => t.name.startsWith('publisher instructions per message'));
    expect(byInstructions).toMatchObject({ met: true });
    expect(byInstructions!.judged).toBeUndefined();
    expect(verdict(byInstructions)).toBe('met ');
  });

  it('bench/docs.mjs marks a shown figure as not judged, apart from the missed targets', async () => {
    const { judgeTargets } = (await import(new URL('../bench/harness.mjs', import.meta.url).href)) as { judgeTargets: (results: unknown[]) => unknown[] };
    const { writeDocs } = (await import(new URL('../bench/docs.mjs', import.meta.url).href)) as {
      writeDocs: (json: string, out: string) => Promise<{ markdown: string }>;
    };
    const json = join(dir, 'shown.json');
    const machine = { cpu: 'test', cores: 2, node: process.version, kernel: 'test', loadAvgBefore: [0, 0, 0], loadAvgAfter: [0, 0, 0] };
    const { writeFileSync } = await import('node:fs');
    writeFileSync(json, JSON.stringify({ suite: 'quick', machine, results, micro: [], targets: judgeTargets(results), durationSeconds: 1, startedAt: new Date().toISOString() }));
    const markdown = readFileSync((await writeDocs(json, join(dir, 'shown-docs'))).markdown, 'utf8');
    expect(markdown).toMatch(/\| publisher CPU per message, N=8 \/ N=1 \(1 KiB\) \| 3 \(.*\| shown, not judged[^|]*\| not judged \|/);
    expect(markdown).not.toContain('### What limits the targets missed here');
    expect(markdown).toContain('### Figures shown, not judged');
  });
});

describe('target 1 (the default API)', () => {
  type Target = { name: string; value: number; met: boolean | null; judged?: boolean; goal: string; detail: string };
  const harness = async () =>
    (await import(new URL('../bench/harness.mjs', import.meta.url).href)) as {
      judgeTargets: (results: unknown[]) => Target[];
      plan: (suite: unknown, scenarios: string[], transports: string[]) => { scenario: string; transport: string; subscribers: number; size: number; repeat: number }[];
      SUITES: Record<string, unknown>;
    };
  const KiB = 1024;
  const fan = (transport: string, msgsPerSec: number, runs?: number[]) => ({ scenario: 'fanout', transport, subscribers: 4, size: KiB, msgsPerSec, ...(runs ? { runs } : {}) });
  const p2p = (transport: string, msgsPerSec: number, runs?: number[]) => ({ scenario: 'throughput', transport, subscribers: 1, size: 16 * KiB, msgsPerSec, ...(runs ? { runs } : {}) });

  it('is judged on for await over batches({ reuseBuffer: true }); per message and batches() are shown beside it', async () => {
    const { judgeTargets } = await harness();
    const results = [
      fan('ringcast', 1.0e6), fan('ringcast-batches', 0.9e6), fan('ringcast-reuse', 2.6e6), fan('ringcast-zerocopy', 3e6), fan('uds-corked', 0.4e6), fan('uds', 0.2e6),
      p2p('ringcast', 0.3e6), p2p('ringcast-batches', 0.6e6), p2p('ringcast-reuse', 0.75e6), p2p('ringcast-zerocopy', 0.95e6), p2p('uds', 0.14e6), p2p('c-core', 1.3e6),
    ];
    const targets = judgeTargets(results);
    const line = (api: string, what: string) => targets.find((t) => t.name.startsWith(`default API (${api}), ${what}`));
    for (const what of ['N=4 at 1 KiB', '16 KiB point-to-point']) {
      expect(line('for await over batches({ reuseBuffer: true })', what)).toMatchObject({ met: true });
      expect(line('for await over batches({ reuseBuffer: true })', what)!.judged).toBeUndefined();
      for (const shown of ['for await over batches()', 'for await per message']) {
        expect(line(shown, what)).toMatchObject({ met: null, judged: false, goal: expect.stringMatching(/^shown, not judged/) });
      }
    }
    // Issue 4's lines stay judged on the zero-copy API (and reuse against the C core).
    expect(targets.find((t) => t.name === '16 KiB point-to-point: ringcast-zerocopy / uds')).toMatchObject({ met: true });
    expect(targets.filter((t) => t.name.endsWith('/ c-core')).map((t) => t.name)).toEqual([
      '16 KiB point-to-point: ringcast-zerocopy / c-core',
      '16 KiB point-to-point: ringcast-reuse / c-core',
    ]);
  });

  it('bench/docs.mjs explains each default-API line with what limits that API', { timeout: 60_000 }, async () => {
    const { judgeTargets } = await harness();
    const { writeDocs } = (await import(new URL('../bench/docs.mjs', import.meta.url).href)) as {
      writeDocs: (json: string, out: string) => Promise<{ markdown: string }>;
    };
    // The judged line missed, so its note is under the missed targets; the others are shown.
    const results = [fan('ringcast', 1.0e6), fan('ringcast-batches', 0.9e6), fan('ringcast-reuse', 1.6e6), fan('uds-corked', 0.4e6), p2p('ringcast', 0.3e6), p2p('ringcast-batches', 0.6e6), p2p('ringcast-reuse', 0.65e6), p2p('uds', 0.14e6)];
    const json = join(dir, 'default-api.json');
    const machine = { cpu: 'test', cores: 2, node: process.version, kernel: 'test', loadAvgBefore: [0, 0, 0], loadAvgAfter: [0, 0, 0] };
    const { writeFileSync } = await import('node:fs');
    writeFileSync(json, JSON.stringify({ suite: 'quick', machine, results, micro: [], targets: judgeTargets(results), durationSeconds: 1, startedAt: new Date().toISOString() }));
    const markdown = readFileSync((await writeDocs(json, join(dir, 'default-api-docs'))).markdown, 'utf8');
    const note = (name: string) => markdown.split('\n').find((line) => line.startsWith(`- **${name}`)) ?? '';
    expect(note('default API (for await over batches({ reuseBuffer: true })), N=4')).toContain('The judged line of target 1');
    expect(note('default API (for await over batches()), N=4')).toContain('mark-compacts');
    expect(note('default API (for await per message), N=4')).toContain('One promise per message');
    expect(note('default API (for await over batches({ reuseBuffer: true })), 16 KiB')).toContain('reuseBuffer');
    expect(markdown).not.toMatch(/\*\*default API[^\n]*no analysis yet/);
  });

  it('takes each ratio within a round and judges the median over rounds, not the ratio of medians', async () => {
    const { judgeTargets } = await harness();
    // Medians 1.8 M and 0.3 M (6x); round by round 4x, 5x, 6x.
    const results = [fan('ringcast-reuse', 1.8e6, [2.0e6, 1.0e6, 1.8e6]), fan('uds-corked', 0.3e6, [0.5e6, 0.2e6, 0.3e6]), fan('uds', 0.1e6, [0.1e6, 0.1e6, 0.1e6])];
    const reuse = judgeTargets(results).find((t) => t.name.startsWith('default API (for await over batches({ reuseBuffer: true })), N=4'));
    expect(reuse).toMatchObject({ value: 5, met: true, detail: expect.stringContaining('median of 3 rounds: 4, 5, 6') });
  });

  it('judges the large-message ratios round by round too: zero-copy / copy, both / uds, copy / memcpy', async () => {
    const { judgeTargets } = await harness();
    const MiB = 1 << 20;
    const large = (transport: string, mbPerSec: number, runs: number[], subscribers = 1) => ({
      scenario: 'throughput', transport, subscribers, size: 4 * MiB, mbPerSec, msgsPerSec: (mbPerSec * 1e6) / (4 * MiB), runs: runs.map((x) => (x * 1e6) / (4 * MiB)),
    });
    // Medians: zero-copy 9000 against copy 9500 MB/s (0.95x); round by round 1.2x, 0.9x, 1.1x (median 1.1x).
    // uds swings from 1000 to 4000: copy / uds round by round 2.5x, 3.17x, 9x.
    const results = [large('ringcast', 9500, [10000, 9500, 9000]), large('ringcast-zerocopy', 9000, [12000, 8550, 9900]), large('uds', 3000, [4000, 3000, 1000]), { ...large('memcpy', 11000, []), subscribers: 0, runs: undefined }];
    const targets = judgeTargets(results);
    const line = (name: string) => targets.find((t) => t.name === `4 MiB point-to-point: ${name}`);
    expect(line('zero-copy / copy')).toMatchObject({ value: 1.1, met: true, detail: expect.stringContaining('median of 3 rounds: 1.2, 0.9, 1.1') });
    expect(line('ringcast / uds')).toMatchObject({ value: 3.167, met: true, detail: expect.stringContaining('median of 3 rounds: 2.5, 3.17, 9') });
    expect(line('ringcast / memcpy')).toMatchObject({ met: true });
  });

  it('the quick suite runs the cases of the judged ratios three rounds, the others once, taking turns within a round', async () => {
    const { plan, SUITES } = await harness();
    const all = ['ringcast', 'ringcast-batches', 'ringcast-reuse', 'ringcast-zerocopy', 'uds', 'uds-corked', 'tcp', 'zeromq', 'nats', 'c-core', 'memcpy'];
    const cases = plan(SUITES.quick, ['throughput', 'fanout'], all);
    const runs = (scenario: string, transport: string, subscribers: number, size: number) =>
      cases.filter((c) => c.scenario === scenario && c.transport === transport && c.subscribers === subscribers && c.size === size).length;
    for (const t of ['ringcast-reuse', 'ringcast-zerocopy', 'uds', 'uds-corked']) expect(runs('fanout', t, 4, KiB)).toBe(3);
    for (const t of ['ringcast', 'ringcast-batches', 'tcp', 'zeromq', 'nats', 'c-core']) expect(runs('fanout', t, 4, KiB)).toBe(1);
    // N = 1 and 8 feed only the publisher's time per message: ringcast and the C core, once.
    for (const n of [1, 8]) {
      for (const t of ['ringcast', 'c-core']) expect(runs('fanout', t, n, KiB)).toBe(1);
      for (const t of ['ringcast-reuse', 'ringcast-zerocopy', 'uds', 'uds-corked', 'tcp', 'zeromq', 'nats']) expect(runs('fanout', t, n, KiB)).toBe(0);
    }
    for (const t of ['ringcast-reuse', 'ringcast-zerocopy', 'uds', 'c-core']) expect(runs('throughput', t, 1, 16 * KiB)).toBe(3);
    for (const t of ['ringcast', 'ringcast-batches', 'tcp']) expect(runs('throughput', t, 1, 16 * KiB)).toBe(1);
    // Target 2's lines: copy, zero-copy and uds three rounds at every large size; memcpy once, at 4 MiB.
    for (const size of [1 << 20, 4 << 20, 16 << 20, 64 << 20]) {
      for (const t of ['ringcast', 'ringcast-zerocopy', 'uds']) expect(runs('throughput', t, 1, size), `${t} at ${size}`).toBe(3);
      const large = cases.filter((c) => c.scenario === 'throughput' && c.size === size).map((c) => c.repeat);
      expect(large).toEqual([...large].sort((a, b) => a - b));
    }
    expect(cases.filter((c) => c.transport === 'memcpy' && c.size >= 1 << 20).map((c) => c.size)).toEqual([4 << 20]);
    // Round 1 of N = 4 follows round 0 whole: the ratios within a round compare neighbours in time.
    const n4 = cases.filter((c) => c.scenario === 'fanout' && c.subscribers === 4).map((c) => c.repeat);
    expect(n4).toEqual([...n4].sort((a, b) => a - b));
  });
});

describe('the full suite', () => {
  it('runs target 4\'s three round trips at 64 B in three rounds, back to back and not also once, the other latency cases once', async () => {
    const { plan, SUITES } = (await import(new URL('../bench/harness.mjs', import.meta.url).href)) as {
      plan: (suite: unknown, scenarios: string[], transports: string[]) => { transport: string; wake?: string; size: number; repeat: number }[];
      SUITES: Record<string, unknown>;
    };
    const cases = plan(SUITES.full, ['latency'], ['ringcast', 'uds', 'tcp', 'zeromq', 'nats', 'c-core']);
    const judged = [['ringcast', 'doorbell'], ['ringcast', 'blocking'], ['c-core', 'doorbell']];
    const isJudged = (c: { transport: string; wake?: string }) => judged.some(([t, w]) => c.transport === t && c.wake === w);
    const at64 = cases.filter((c) => c.size === 64);
    expect(at64.filter(isJudged).map((c) => [c.transport, c.wake, c.repeat])).toEqual([0, 1, 2].flatMap((r) => judged.map(([t, w]) => [t, w, r])));
    for (const c of at64.filter((c) => !isJudged(c))) expect(c.repeat).toBe(0);
    // The larger sizes, which no target judges, keep one run of every variant.
    for (const size of [1024, 16384]) {
      const atSize = cases.filter((c) => c.size === size);
      expect(atSize.map((c) => c.repeat)).toEqual(atSize.map(() => 0));
      expect(atSize.filter(isJudged)).toHaveLength(3);
    }
  });
});

describe('ringcast bench on a machine without a peer', () => {
  it('skips the peer with the reason in the table and the JSON, and exits 0', { timeout: 120_000 }, async () => {
    const json = join(dir, 'no-nats.json');
    const bench = run(cli, ['bench', '--suite', 'smoke', '--scenarios', 'throughput', '--transports', 'ringcast,nats', '--json', json], {
      env: { ...process.env, RINGCAST_NATS_SERVER: join(dir, 'no-such-nats-server') },
    });
    const { code } = await bench.exited;
    expect(code, bench.stdout() + bench.stderr()).toBe(0);
    expect(bench.stdout()).toMatch(/skipped: nats-server is not installed/);
    const { results } = JSON.parse(readFileSync(json, 'utf8')) as { results: Result[] };
    const nats = results.filter((r) => r.transport === 'nats');
    expect(nats.length).toBeGreaterThan(0);
    for (const r of nats) expect(r).toMatchObject({ skipped: expect.stringMatching(/nats-server is not installed/) });
    expect(results.some((r) => r.transport === 'ringcast' && !r.error && !r.skipped)).toBe(true);
  });
});
