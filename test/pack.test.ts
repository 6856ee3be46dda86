// The tarball check (scripts/test-pack.mjs) as part of the suite: pack,
// install into a fresh directory, run from there, publint, arethetypeswrong.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../scripts/test-pack.mjs', import.meta.url));

describe('the packed tarball', () => {
  it('installs into a fresh project and works there: every check of npm run test:pack passes', async () => {
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(process.execPath, [script], { maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: stdout + stderr }),
      );
    });
    const summary = stdout.trim().split('\n').at(-1) ?? '';
    expect(summary, stdout).toMatch(/^test:pack: \d+ passed, 0 failed$/);
    expect(Number(summary.match(/(\d+) passed/)![1]), stdout).toBeGreaterThanOrEqual(10);
    expect(code, stdout).toBe(0);
  }, 600_000);
});
