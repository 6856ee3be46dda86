// Counts a process's garbage collections by kind, for profiling benchmark
// children (not loaded by the harness itself):
//
//   RINGCAST_BENCH_NODE_FLAGS="--import ./bench/gc-observer.mjs" node bench/harness.mjs ...
//
// At exit each process writes {pid, argv, gc: {kind: {count, ms}}}
// to gc-PID.json in RINGCAST_BENCH_GC_DIR (default: the temporary directory).
// `ms` is the pauses' wall time, which on a loaded machine includes time the
// process was not running: compare counts.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
const gc = {};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = KINDS[entry.detail?.kind] ?? String(entry.detail?.kind);
    const seen = (gc[kind] ??= { count: 0, ms: 0 });
    seen.count++;
    seen.ms += entry.duration;
  }
}).observe({ entryTypes: ['gc'] });

process.on('exit', () => {
  const dir = process.env.RINGCAST_BENCH_GC_DIR || tmpdir();
  writeFileSync(join(dir, `gc-${process.pid}.json`), `${JSON.stringify({ pid: process.pid, argv: process.argv.slice(2, 3), gc })}\n`);
});
