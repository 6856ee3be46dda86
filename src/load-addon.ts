// The one place that knows where the compiled addon lives.
//
// node-gyp-build looks, in this order, for build/Release and build/Debug (a
// git checkout after `npm ci`, or a package whose install script compiled it)
// and then for prebuilds/<platform>-<arch>/ringcast.napi.<glibc|musl>.node,
// which `npm pack` puts into the package (prebuildify, see the prepack
// script). The N-API tag means one binary serves every Node version; the libc
// tag keeps a glibc build from being loaded on musl (Alpine) and vice versa.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

type NodeGypBuild = ((root: string) => unknown) & { path(root: string): string };

/** Where the addon that loadAddon() loads is (for diagnostics and tests). */
export function addonPath(): string {
  return (require('node-gyp-build') as NodeGypBuild).path(packageRoot);
}

export function loadAddon(): unknown {
  let path: string;
  try {
    path = addonPath();
  } catch (cause) {
    const error = new Error(
      `ringcast: no native addon for this platform (${(cause as Error).message.trim()}); ` +
        'in a git checkout run `npm run build:native`; in an installed package allow its install script ' +
        '(it compiles the addon with node-gyp: needs python3 and a C/C++ toolchain)',
      { cause },
    );
    (error as Error & { code: string }).code = 'ERR_RINGCAST_NO_ADDON';
    throw error;
  }
  return require(path);
}
