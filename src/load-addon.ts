// The one place that knows where the compiled addon lives.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export function loadAddon(): unknown {
  const candidates = ['build/Release/ringcast.node', 'build/Debug/ringcast.node'];
  for (const candidate of candidates) {
    const path = join(packageRoot, candidate);
    if (existsSync(path)) return require(path);
  }
  const error = new Error(
    `ringcast: native addon not built (looked for ${candidates.join(', ')} under the package); run \`npm run build:native\``,
  );
  (error as Error & { code: string }).code = 'ERR_RINGCAST_NO_ADDON';
  throw error;
}
