// A short crash campaign (scripts/crash-campaign.mjs) as part of the suite:
// real publisher and subscriber processes SIGKILLed at random points of the
// stream, survivors checked for completeness, order, integrity, hangs and leaks.
// The full run is `node scripts/crash-campaign.mjs` (100 trials).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../scripts/crash-campaign.mjs', import.meta.url));
const TRIALS = 12;
const SEED = 20240601;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function runCampaign(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('crash campaign', () => {
  it(`${TRIALS} trials of SIGKILLs under load (seed ${SEED}): no loss of committed messages, no hang, no leak`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringcast-campaign-test-'));
    dirs.push(dir);
    const json = join(dir, 'summary.json');
    const { code, stdout, stderr } = await runCampaign(['--trials', String(TRIALS), '--seed', String(SEED), '--json', json]);
    const report = `\n${stdout}\n${stderr}`;
    expect(stdout, report).toContain(`crash campaign: ${TRIALS} passed, 0 failed`);
    expect(code, report).toBe(0);

    const summary = JSON.parse(readFileSync(json, 'utf8')) as {
      trials: number;
      passed: number;
      failed: number;
      kinds: Record<string, number>;
      survivorEndings: Record<string, number>;
      processesKilled: number;
    };
    expect(summary).toMatchObject({ trials: TRIALS, passed: TRIALS, failed: 0 });
    // Kinds come in shuffled rounds of four: every kind of kill was exercised.
    expect(summary.kinds).toEqual({ publisher: 3, subscriber: 3, subscribers: 3, 'publisher+subscribers': 3 });
    expect(summary.processesKilled).toBeGreaterThanOrEqual(TRIALS);
    // Survivors saw both endings: the orderly end and the publisher's death.
    expect(summary.survivorEndings.end).toBeGreaterThan(0);
    expect(summary.survivorEndings.ERR_RINGCAST_PUBLISHER_GONE).toBeGreaterThan(0);
  }, 120_000);
});
