// RingcastErrorCode lists every code the package can raise: the list in
// src/errors.ts against every ERR_RINGCAST_* string in the TypeScript sources
// and the addon's binding, both ways.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RINGCAST_ERROR_CODES, RingcastError } from '../src/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string, pattern: RegExp): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => pattern.test(name))
    .map((name) => join(root, dir, name));
}

describe('error codes', () => {
  it('RINGCAST_ERROR_CODES (and so RingcastErrorCode) is exactly the set of codes the sources raise', () => {
    const files = [...sources('src', /\.ts$/), ...sources('native/binding', /\.(cc|h)$/)];
    const raised = new Set<string>();
    for (const file of files) {
      // The list itself does not count as raising its codes.
      const text = readFileSync(file, 'utf8').replace(/RINGCAST_ERROR_CODES = \[[^\]]*\]/, '');
      for (const [code] of text.matchAll(/ERR_RINGCAST_[A-Z_]+/g)) raised.add(code);
    }
    expect([...raised].sort()).toEqual([...RINGCAST_ERROR_CODES].sort());
  });

  it('the codes the addon sets on its own errors are among them', () => {
    const error = new RingcastError('ERR_RINGCAST_NATIVE', 'from the addon');
    expect(RINGCAST_ERROR_CODES).toContain(error.code);
    expect(RINGCAST_ERROR_CODES).toEqual(expect.arrayContaining(['ERR_RINGCAST_NO_ADDON', 'ERR_RINGCAST_NATIVE', 'ERR_RINGCAST_MESSAGE_TOO_LONG']));
  });
});
