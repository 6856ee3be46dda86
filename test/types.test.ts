// The type tests in test/types/ are compiled by tsc against the package's
// built declarations (`import ... from 'ringcast'`): each `@ts-expect-error`
// must meet an error, so a misspelled event, field, option combination or
// error code that compiles again fails here.
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

  it('tsc -p tsconfig.test.json: the tests themselves compile against the sources', async () => {
    const tsc = runCommand(fileURLToPath(new URL('../node_modules/.bin/tsc', import.meta.url)), ['-p', 'tsconfig.test.json', '--pretty', 'false'], { cwd: root });
    const { code } = await tsc.exited;
    expect(tsc.stdout() + tsc.stderr()).toBe('');
    expect(code).toBe(0);
  });
});
