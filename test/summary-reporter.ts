// Ends the run with every skipped test and its reason, then one plain line,
// "vitest: N passed, N failed, N skipped", so a reader (or CI) that does not
// know vitest's format sees the counts.
//
// Skips: a test that cannot run here calls ctx.skip(reason). With CI set
// (CI=true), a skip is a failure unless test/expected-skips lists the test
// with its reason: the reporter says which and sets a failing exit status.
// A developer's run only prints them. Tests left out by a name filter (-t)
// are counted, not listed.
import { readFileSync } from 'node:fs';
import type { Reporter, TestCase, TestModule } from 'vitest/node';

const EXPECTED_SKIPS = new URL('./expected-skips', import.meta.url);

/** The test names test/expected-skips lists, each with its reason. */
function expectedSkips(): Map<string, string> {
  const expected = new Map<string, string>();
  for (const line of readFileSync(EXPECTED_SKIPS, 'utf8').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const bar = line.lastIndexOf(' | ');
    if (bar < 0) throw new Error(`test/expected-skips: no " | reason" in: ${line}`);
    expected.set(line.slice(0, bar).trim(), line.slice(bar + 3).trim());
  }
  return expected;
}

function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const noted: Array<{ name: string; reason: string | undefined }> = [];
    for (const module of testModules) {
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) failed++;
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failed++;
        else {
          skipped++;
          // A skip decided in the test (ctx.skip) or by a flag in the file,
          // not a test left out by a name filter.
          if (result.state === 'skipped' && (result.note !== undefined || !filteredOut(test))) {
            noted.push({ name: `${module.relativeModuleId} > ${test.fullName}`, reason: result.note });
          }
        }
      }
    }
    const ci = inCi();
    const expected = ci ? expectedSkips() : new Map<string, string>();
    let unexpected = 0;
    for (const { name, reason } of noted) {
      const allowed = expected.get(name);
      if (ci && allowed === undefined) unexpected++;
      const verdict = !ci ? '' : allowed === undefined ? ' -- UNEXPECTED in CI (not in test/expected-skips)' : ` -- expected: ${allowed}`;
      process.stdout.write(`skipped: ${name}: ${reason ?? 'no reason given'}${verdict}\n`);
    }
    if (unexpected > 0) {
      process.stdout.write(`vitest: ${unexpected} unexpected skip(s) in CI: a skip fails CI unless test/expected-skips lists it\n`);
      process.exitCode = 1;
    }
    process.stdout.write(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped${ci ? `, ${unexpected} unexpected` : ''}\n`);
  }
}

/** A test left out by a name filter: skipped, without a note, although nothing in the file skips it. */
function filteredOut(test: TestCase): boolean {
  return test.options.mode === 'skip' && process.argv.some((arg) => arg === '-t' || arg.startsWith('--testNamePattern'));
}
