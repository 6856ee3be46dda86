// The type tests in test/types/ are compiled by tsc against the package's
// built declarations (`import ... from 'ringcast'`): each `@ts-expect-error`
// must meet an error, so a misspelled event, field, option combination or
// error code that compiles again fails here.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCommand } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('type tests', () => {
  it('tsc -p test/types: every @ts-expect-error meets its error, everything else compiles', async () => {
    const tsc = runCommand(fileURLToPath(new URL('../node_modules/.bin/tsc', import.meta.url)), ['-p', 'test/types', '--pretty', 'false'], { cwd: root });
    const { code } = await tsc.exited;
    expect(tsc.stdout() + tsc.stderr()).toBe('');
    expect(code).toBe(0);
  });

  it('docs/api is the reference the current declarations generate (npm run docs:api)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ringcast-api-'));
    try {
      const bin = (name: string) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));
      const extractor = runCommand(bin('api-extractor'), ['run', '--local'], { cwd: root });
      expect((await extractor.exited).code, extractor.stdout() + extractor.stderr()).toBe(0);
      const documenter = runCommand(bin('api-documenter'), ['markdown', '--input-folder', 'build/api', '--output-folder', out], { cwd: root });
      expect((await documenter.exited).code, documenter.stderr()).toBe(0);
      const pages = (dir: string) => Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
      // A stale page names its file here: run npm run docs:api and commit docs/api.
      expect(pages(join(root, 'docs/api'))).toEqual(pages(out));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('tsc -p tsconfig.test.json: the tests themselves compile against the sources', async () => {
    const tsc = runCommand(fileURLToPath(new URL('../node_modules/.bin/tsc', import.meta.url)), ['-p', 'tsconfig.test.json', '--pretty', 'false'], { cwd: root });
    const { code } = await tsc.exited;
    expect(tsc.stdout() + tsc.stderr()).toBe('');
    expect(code).toBe(0);
  });
});
