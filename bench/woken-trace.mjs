// What a woken round trip is made of, from a scheduler trace of the whole
// machine (perf, Debian's linux-perf; root):
//
//   node bench/woken-trace.mjs ringcast|blocking|c-core [round trips]
//
// Runs one latency case (bench/child.mjs, or bench/c/limits for the C core)
// under `perf record -a` with the system-call and scheduler tracepoints, then
// follows the two sides' threads (the two that wake each other most often)
// and prints medians of:
//   wake-up   from one side's doorbell `write` to the other side's return
//             from its wait (epoll_wait, epoll_pwait, read), bucketed by how
//             long the woken side had been asleep;
//   hop       from that return to the woken side's own doorbell `write`: the
//             work of a hop, which starts with whatever the caches kept.
// RINGCAST_BENCH_PIN=cross|same places the two sides (bench/lib.mjs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT, median } from './lib.mjs';

const [kind, roundsArg = '3000'] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (!['ringcast', 'blocking', 'c-core'].includes(kind) || !(Number.isInteger(rounds) && rounds >= 100)) {
  console.error('usage: node bench/woken-trace.mjs ringcast|blocking|c-core [round trips >= 100]');
  process.exit(2);
}
try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('woken-trace needs perf (Debian: apt-get install linux-perf)');
  process.exit(2);
}

const limits = join(ROOT, 'native', 'build-bench', 'limits');
if (kind === 'c-core') execFileSync('make', ['-s', '-C', join(ROOT, 'bench', 'c')], { stdio: 'inherit' });
const command =
  kind === 'c-core'
    ? [limits, 'latency', '64', String(rounds), '100', 'doorbell']
    : [process.execPath, join(ROOT, 'bench', 'child.mjs'), 'case', JSON.stringify({ scenario: 'latency', transport: 'ringcast', wake: kind === 'blocking' ? 'blocking' : 'doorbell', blocking: kind === 'blocking', subscribers: 1, size: 64, seconds: 30, iterations: rounds, warmup: 100 })];
const dir = mkdtempSync(join(tmpdir(), 'ringcast-woken-trace-'));
let text;
try {
  const data = join(dir, 'perf.data');
  const events = ['raw_syscalls:sys_enter', 'raw_syscalls:sys_exit', 'sched:sched_switch', 'sched:sched_waking'];
  const result = execFileSync('perf', ['record', '-q', '-a', ...events.flatMap((e) => ['-e', e]), '-o', data, '--', ...command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const p50 = /"p50Ns":(\d+)/.exec(result);
  console.log(`${kind}: round trip p50 ${p50 ? (Number(p50[1]) / 1000).toFixed(1) : '?'} µs under the trace`);
  text = execFileSync('perf', ['script', '--ns', '-i', data, '-F', 'tid,time,event,trace'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// "  1234  5678.123456789:  raw_syscalls:sys_enter: NR 1 (1b, 7ffe..., 8, ...)"
const LINE = /^\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$/;
const rows = [];
const wakes = new Map(); // "waker>woken" -> count
for (const line of text.split('\n')) {
  const m = LINE.exec(line);
  if (!m) continue;
  const row = { tid: m[1], t: Number(m[2]) * 1e6, event: m[3], trace: m[4] };
  rows.push(row);
  const woken = row.event === 'sched:sched_waking' ? / pid=(\d+) /.exec(row.trace) : null;
  if (woken) wakes.set(`${row.tid}>${woken[1]}`, (wakes.get(`${row.tid}>${woken[1]}`) ?? 0) + 1);
}
// The two sides wake each other once per hop; nothing else on the machine (perf itself included) does.
let sides = null;
let best = 0;
for (const [pair, count] of wakes) {
  const [a, b] = pair.split('>');
  const both = Math.min(count, wakes.get(`${b}>${a}`) ?? 0);
  if (a !== b && both > best) [sides, best] = [[a, b], both];
}
if (sides === null) throw new Error('no two threads waking each other in the trace');
const other = new Map([[sides[0], sides[1]], [sides[1], sides[0]]]);

const WAIT_EXIT = /^NR (232|281|0) = /; // epoll_wait, epoll_pwait, read
const asleepSince = new Map();
const rungAt = new Map(); // woken tid -> { at, asleep }
const wokenAt = new Map();
const wakeUps = [];
const hops = [];
for (const { tid, t, event, trace } of rows) {
  if (!other.has(tid)) continue;
  if (event === 'sched:sched_switch' && trace.includes(`prev_pid=${tid} `) && trace.includes('prev_state=S')) {
    asleepSince.set(tid, t);
  } else if (event === 'raw_syscalls:sys_enter' && trace.startsWith('NR 1 (')) {
    if (wokenAt.has(tid)) hops.push(t - wokenAt.get(tid));
    wokenAt.delete(tid);
    const peer = other.get(tid);
    if (asleepSince.has(peer)) rungAt.set(peer, { at: t, asleep: t - asleepSince.get(peer) });
  } else if (event === 'raw_syscalls:sys_exit' && WAIT_EXIT.test(trace) && rungAt.has(tid)) {
    const { at, asleep } = rungAt.get(tid);
    rungAt.delete(tid);
    wakeUps.push({ asleep, took: t - at });
    wokenAt.set(tid, t);
  }
}

// The first quarter is start-up and JIT warm-up.
const steady = (xs) => xs.slice(Math.floor(xs.length / 4));
const w = steady(wakeUps);
const h = steady(hops);
console.log(`wake-up (write to the woken side's return): p50 ${median(w.map((x) => x.took)).toFixed(1)} µs over ${w.length}`);
for (const [lo, hi] of [[0, 20], [20, 40], [40, 80], [80, Infinity]]) {
  const b = w.filter((x) => x.asleep >= lo && x.asleep < hi).map((x) => x.took);
  if (b.length) console.log(`  asleep ${lo}-${hi === Infinity ? '' : hi} µs: p50 ${median(b).toFixed(1)} µs (${b.length})`);
}
console.log(`hop (return to its own write): p50 ${median(h).toFixed(1)} µs over ${h.length}`);
