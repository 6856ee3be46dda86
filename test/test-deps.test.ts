// scripts/test-deps.sh, which `npm test` runs before vitest: silent when the
// programs the suite starts are there; a clear failure, naming the packages,
// where it cannot install them (here: not root).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCommand } from './helpers.js';

const script = fileURLToPath(new URL('../scripts/test-deps.sh', import.meta.url));
const asRoot = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

describe('scripts/test-deps.sh', () => {
  it('says nothing and exits 0 when every program the tests start is here', async () => {
    const deps = runCommand('bash', [script]);
    expect((await deps.exited).code).toBe(0);
    expect(deps.stdout() + deps.stderr()).toBe('');
  });

  it.runIf(asRoot)('a missing program and no root: exit 1, naming the package and how to install it', async () => {
    const deps = runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', script], {
      env: { ...process.env, RINGCAST_TEST_NEEDS: '/nonexistent/ringcast-probe ringcast-probe-package' },
    });
    expect((await deps.exited).code).toBe(1);
    expect(deps.stderr()).toMatch(/cannot install the Debian packages the tests need \(ringcast-probe-package\): not root/);
    expect(deps.stderr()).toMatch(/apt-get install ringcast-probe-package/);
  });
});
