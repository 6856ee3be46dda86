#!/usr/bin/env node
// Crash campaign: trials of one publisher process and 2-4 subscriber processes
// on one bus under load; each trial SIGKILLs a random party (the publisher, a
// subscriber, several subscribers, or the publisher with subscribers) at a
// random point of the stream, then checks that
//   - the survivors end on their own within the trial's time limit (a publisher
//     that lost subscribers finishes and closes; subscribers that lost the
//     publisher drain and fail with ERR_RINGCAST_PUBLISHER_GONE);
//   - every surviving subscriber that was not evicted received a contiguous,
//     in-order, intact prefix of the stream that covers every message the
//     publisher reported committed before it died (all of them when it lived);
//   - nothing leaks: survivors hold no ringcast memfd (descriptor or mapping)
//     and no more descriptors than before they attached once closed, no process
//     of the trial is left, the trial's directory can be removed, nothing new
//     appears in /dev/shm.
//
// Usage: node scripts/crash-campaign.mjs [--trials N] [--seed S] [--first K]
//          [--json FILE] [--timeout MS] [--verbose]
// Trial k's parameters depend only on (seed, k): `--seed S --first K --trials 1`
// replays trial K of a run (timing, of course, is never replayed exactly).
// Ends with "crash campaign: N passed, M failed"; exits 1 if any trial failed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { rng } from '../test/fixtures/campaign-lib.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'test', 'fixtures');

const KINDS = ['publisher', 'subscriber', 'subscribers', 'publisher+subscribers'];
const CAPACITIES = [1 << 16, 1 << 18, 1 << 20]; // the smallest ring allowed is 64 KiB
const MEMFD_MARK = 'memfd:ringcast';

const { values: options } = parseArgs({
  options: {
    trials: { type: 'string', default: '100' },
    seed: { type: 'string' },
    first: { type: 'string', default: '0' },
    json: { type: 'string' },
    timeout: { type: 'string', default: '20000' },
    verbose: { type: 'boolean', default: false },
  },
});
const trials = positiveInt('--trials', options.trials, 1);
const first = positiveInt('--first', options.first, 0);
const timeoutMs = positiveInt('--timeout', options.timeout, 1000);
const seed = options.seed === undefined ? Date.now() % 1_000_000_000 : positiveInt('--seed', options.seed, 0);

function positiveInt(name, text, min) {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    process.stderr.write(`crash campaign: ${name} expects an integer >= ${min}, got ${text}\n`);
    process.exit(2);
  }
  return value;
}

// The fixtures run ../dist/index.js: make sure it is there and loads here too.
try {
  await import('../dist/index.js');
} catch (error) {
  process.stderr.write(`crash campaign: cannot load dist/index.js (build with npx tsc -p tsconfig.json and npx node-gyp rebuild): ${error.message}\n`);
  process.exit(2);
}

/** Kinds come in shuffled rounds of four so that every run covers all of them evenly. */
function kindOf(index) {
  const random = rng((Math.imul(seed ^ 0x27d4eb2f, 0x165667b1) + Math.floor(index / KINDS.length)) >>> 0);
  const round = [...KINDS];
  for (let i = round.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [round[i], round[j]] = [round[j], round[i]];
  }
  return round[index % KINDS.length];
}

/** Trial `index`'s parameters, from (seed, index) alone. */
function plan(index) {
  const random = rng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0);
  const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
  const pick = (list) => list[Math.floor(random() * list.length)];
  const subscribers = int(2, 4);
  const kind = kindOf(index);
  const order = Array.from({ length: subscribers }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  let victims;
  if (kind === 'publisher') victims = [];
  else if (kind === 'subscriber') victims = order.slice(0, 1);
  else if (kind === 'subscribers') victims = order.slice(0, int(2, subscribers));
  else victims = order.slice(0, int(1, subscribers - 1)); // with the publisher: leave a witness
  const count = int(8_000, 30_000);
  const policy = random() < 0.75 ? 'block' : 'drop';
  // Unpaced, a drop-policy publisher outruns every reader at once: pace it.
  const pauseEvery = policy === 'drop' ? pick([32, 128]) : pick([0, 0, 0, 512]);
  const capacity = policy === 'drop' ? pick(CAPACITIES.slice(1)) : pick(CAPACITIES);
  return {
    index,
    seed: int(0, 0x7fffffff),
    kind,
    killPublisher: kind.startsWith('publisher'),
    victims: victims.sort((a, b) => a - b),
    subscribers,
    count,
    capacity,
    policy,
    pauseEvery,
    pauseMs: 1,
    maxBatch: pick([1, 8, 64]),
    bigP: pick([0, 0, 0.001, 0.005]),
    yieldP: pick([0, 0.1, 0.5]),
    // Kill once the publisher reported this many committed, plus a short delay.
    killAt: Math.floor(random() * 0.9 * count),
    killDelayMs: pick([0, 0, 1, 2, 5]),
    pace: Array.from({ length: subscribers }, () =>
      random() < 0.35 ? { paceEvery: int(100, 2000), paceMs: int(1, 5) } : { paceEvery: 0, paceMs: 0 },
    ),
  };
}

/** A child process whose stdout is kept as lines. */
function start(name, script, args) {
  const child = spawn(process.execPath, [join(fixtures, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = {
    name,
    child,
    pid: child.pid,
    lines: [],
    stderr: '',
    committed: -1,
    exit: null,
    exitAt: 0,
    onLine: null,
  };
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop();
    for (const line of parts) {
      proc.lines.push(line);
      if (line.startsWith('c ')) proc.committed = Math.max(proc.committed, Number(line.slice(2)));
      proc.onLine?.(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    if (proc.stderr.length < 8000) proc.stderr += chunk;
  });
  proc.exited = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      if (partial) proc.lines.push(partial);
      proc.exit = { code, signal };
      proc.exitAt = performance.now();
      resolve(proc.exit);
    }),
  );
  proc.waitFor = (pattern) =>
    new Promise((resolve, reject) => {
      if (proc.lines.some((l) => pattern.test(l))) return resolve();
      const previous = proc.onLine;
      proc.onLine = (line) => {
        previous?.(line);
        if (pattern.test(line)) resolve();
      };
      proc.exited.then(() => reject(new Error(`${name} exited (${describeExit(proc.exit)}) before printing ${pattern}${said(proc)}${tail(proc)}`)));
    });
  return proc;
}

function describeExit(exit) {
  if (!exit) return 'running';
  return exit.signal ? exit.signal : `code ${exit.code}`;
}

/** What a child said last on stdout (a subscriber's {attachError, message}): why it gave up. */
function said(proc) {
  const last = proc.lines.filter((l) => l.trim()).slice(-1)[0];
  return last ? `; said: ${last.slice(0, 500)}` : '';
}

function tail(proc) {
  const err = proc.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^at |^\^+$|^Node\.js v/.test(l))
    .slice(-4)
    .join(' | ');
  return err ? `; stderr: ${err}` : '';
}

function lastJson(proc) {
  for (let i = proc.lines.length - 1; i >= 0; i--) {
    const line = proc.lines[i];
    if (line.startsWith('{')) {
      try {
        return JSON.parse(line);
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** Pids of live processes whose command line mentions `needle`. */
function processesMentioning(needle) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function shmEntries() {
  try {
    return new Set(readdirSync('/dev/shm'));
  } catch {
    return new Set();
  }
}

function checkCensus(who, report, failures) {
  if (!report || !report.before || !report.after) return failures.push(`${who}: no descriptor census`);
  const { before, after } = report;
  if (after.memfd !== 0) failures.push(`${who}: ${after.memfd} ringcast memfd descriptor(s) left after close`);
  if (after.maps !== 0) failures.push(`${who}: ${after.maps} ringcast memfd mapping(s) left after close`);
  if (after.fds > before.fds) {
    failures.push(`${who}: ${after.fds} descriptors after close, ${before.fds} before (${JSON.stringify(before.kinds)} -> ${JSON.stringify(after.kinds)})`);
  }
}

async function runTrial(p) {
  const failures = [];
  const notes = [];
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-campaign-'));
  const path = join(dir, 'bus.sock');
  const shmBefore = shmEntries();
  const t0 = performance.now();
  const procs = [];
  let timer;
  let hung = false;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(() => {
      hung = true;
      resolve('timeout');
    }, timeoutMs);
  });
  const beforeDeadline = (promise) => Promise.race([promise, deadline.then(() => Promise.reject(new Error('trial timed out')))]);

  let killedAt = 0;
  let committedAtKill = -1;
  let lateKill = false;
  const pub = start('publisher', 'campaign-publisher.mjs', [
    path,
    JSON.stringify({
      count: p.count,
      subscribers: p.subscribers,
      capacity: p.capacity,
      policy: p.policy,
      seed: p.seed,
      maxBatch: p.maxBatch,
      bigP: p.bigP,
      yieldP: p.yieldP,
      pauseEvery: p.pauseEvery,
      pauseMs: p.pauseMs,
    }),
  ]);
  procs.push(pub);
  const subs = [];
  try {
    await beforeDeadline(pub.waitFor(/^listening$/));
    for (let i = 0; i < p.subscribers; i++) {
      const sub = start(`s${i}`, 'campaign-subscriber.mjs', [path, JSON.stringify({ seed: p.seed + i + 1, ...p.pace[i] })]);
      subs.push(sub);
      procs.push(sub);
    }
    await beforeDeadline(Promise.all([pub.waitFor(/^publishing$/), ...subs.map((s) => s.waitFor(/^attached$/))]));

    // Arm the kill: once the publisher reported `killAt` committed (or, should
    // it get there first, once it starts closing), wait killDelayMs, SIGKILL.
    const victims = [...(p.killPublisher ? [pub] : []), ...p.victims.map((i) => subs[i])];
    await beforeDeadline(
      new Promise((resolve) => {
        let armed = true;
        const fire = () => {
          committedAtKill = pub.committed;
          killedAt = performance.now();
          for (const victim of victims) victim.child.kill('SIGKILL');
          resolve();
        };
        const check = (line) => {
          if (!armed || hung) return;
          const closing = line === 'closing';
          if (pub.committed >= p.killAt || closing || pub.exit) {
            armed = false;
            if (closing) lateKill = true;
            if (p.killDelayMs > 0 && !closing) setTimeout(fire, p.killDelayMs);
            else fire();
          }
        };
        const previous = pub.onLine;
        pub.onLine = (line) => {
          previous?.(line);
          check(line);
        };
        pub.exited.then(() => check(''));
        check('');
      }),
    );
    await beforeDeadline(Promise.all(procs.map((proc) => proc.exited)));
  } catch (error) {
    failures.push(hung ? `hang: still running after ${timeoutMs} ms: ${procs.filter((x) => !x.exit).map((x) => x.name).join(', ') || 'none'}` : error.message);
  }
  clearTimeout(timer);
  for (const proc of procs) if (!proc.exit) proc.child.kill('SIGKILL');
  let grace;
  await Promise.race([Promise.all(procs.map((proc) => proc.exited)), new Promise((r) => (grace = setTimeout(r, 5000)))]);
  clearTimeout(grace);
  const settledMs = killedAt ? Math.max(...procs.map((x) => x.exitAt)) - killedAt : 0;

  // ---- verdicts --------------------------------------------------------------
  const killedSet = new Set(procs.filter((x) => x.exit?.signal === 'SIGKILL').map((x) => x.name));
  const pubKilled = killedSet.has('publisher');
  const committed = pub.committed; // every "c" line was written after its commit
  const pubSaidClosing = pub.lines.includes('closing');
  const subResults = [];
  if (failures.length === 0) {
    if (p.killPublisher && !pubKilled) notes.push('publisher finished before the kill landed');
    // A victim that ended on its own before the signal landed (evicted under the
    // drop policy, or the stream was over: the campaign reads the publisher's
    // reports late on a busy machine) is judged as a survivor below.
    for (const i of p.victims) if (!killedSet.has(`s${i}`)) notes.push(`s${i} had ended before the kill landed`);

    if (!pubKilled) {
      const done = lastJson(pub);
      if (pub.exit.code !== 0 || !done?.done) failures.push(`publisher ended ${describeExit(pub.exit)} without its report${tail(pub)}`);
      else {
        if (done.committed !== p.count - 1 || committed !== p.count - 1) failures.push(`publisher committed ${committed} of ${p.count}`);
        if (!done.socketGone) failures.push('publisher closed but left its socket file');
        checkCensus('publisher', done, failures);
      }
    }
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i];
      if (killedSet.has(sub.name)) {
        subResults.push({ name: sub.name, killed: true });
        continue;
      }
      const r = lastJson(sub);
      if (sub.exit.code !== 0 || !r || r.received === undefined) {
        failures.push(`${sub.name} ended ${describeExit(sub.exit)} without its report${tail(sub)}`);
        subResults.push({ name: sub.name, broken: true });
        continue;
      }
      subResults.push({ name: sub.name, received: r.received, error: r.error, lost: r.lost });
      if (r.firstBad) failures.push(`${sub.name}: message ${r.firstBad.index}: ${r.firstBad.problem}`);
      if (r.received > p.count) failures.push(`${sub.name}: received ${r.received} of ${p.count} published`);
      checkCensus(sub.name, r, failures);
      if (r.error === 'ERR_RINGCAST_EVICTED') {
        if (p.policy !== 'drop') failures.push(`${sub.name}: evicted (${r.lost?.reason}) under the block policy`);
        continue; // an evicted subscriber owes only an intact in-order prefix
      }
      if (pubKilled) {
        const drainedAll = r.error === null && r.received === p.count && pubSaidClosing;
        if (r.error !== 'ERR_RINGCAST_PUBLISHER_GONE' && !drainedAll) {
          failures.push(`${sub.name}: ended with ${r.error} after the publisher was killed (expected ERR_RINGCAST_PUBLISHER_GONE)`);
        }
        if (r.received < committed + 1) failures.push(`${sub.name}: received ${r.received} but the publisher had committed ${committed + 1}`);
      } else if (r.error !== null || r.received !== p.count) {
        failures.push(`${sub.name}: received ${r.received} of ${p.count}, ended with ${r.error}`);
      }
    }
  }

  // ---- leaks -----------------------------------------------------------------
  const alive = processesMentioning(dir);
  if (alive.length > 0) {
    failures.push(`processes of the trial still alive: ${alive.join(', ')}`);
    for (const pid of alive) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  // The ivshmem tests' bus directories (test/ivshmem-bus.ts, `ringcast-vm-*`)
  // come and go in /dev/shm while other test files run beside the campaign; a
  // trial runs memfd buses only and can never create one.
  const newShm = [...shmEntries()].filter((name) => !shmBefore.has(name) && !name.startsWith('ringcast-vm-'));
  if (newShm.length > 0) failures.push(`new /dev/shm entries: ${newShm.join(', ')}`);
  try {
    rmSync(dir, { recursive: true });
    if (existsSync(dir)) failures.push(`${dir} still exists after removal`);
  } catch (error) {
    failures.push(`cannot remove ${dir}: ${error.message}`);
  }

  const victimsKilled = killedAt ? [pub, ...subs].filter((x) => x.exit?.signal === 'SIGKILL' && x.exitAt >= killedAt).length : 0;
  return {
    index: p.index,
    ok: failures.length === 0,
    victimsKilled,
    failures,
    notes,
    kind: p.kind,
    victims: p.victims.map((i) => `s${i}`),
    subscribers: p.subscribers,
    policy: p.policy,
    capacity: p.capacity,
    count: p.count,
    killAt: p.killAt,
    killDelayMs: p.killDelayMs,
    lateKill,
    committedAtKill,
    committed,
    subs: subResults,
    settledMs: Math.round(settledMs),
    durationMs: Math.round(performance.now() - t0),
  };
}

function trialLine(r) {
  const kill = r.kind === 'publisher' ? 'publisher' : `${r.kind}[${r.victims.join(',')}]`;
  const subs = r.subs
    .map((s) => {
      if (s.killed) return `${s.name}=killed`;
      if (s.broken) return `${s.name}=?`;
      const end = s.error === null ? 'end' : s.error.replace('ERR_RINGCAST_', '').toLowerCase();
      return `${s.name}=${s.received}/${end}`;
    })
    .join(' ');
  const cap = `${r.capacity >> 10}KiB`;
  const status = r.ok ? 'pass' : 'FAIL';
  return (
    `trial ${String(r.index).padStart(3)} ${status} kill=${kill} of ${r.subscribers} ${r.policy} ${cap} msgs=${r.count} ` +
    `at c>=${r.killAt}+${r.killDelayMs}ms killed@${r.committedAtKill} committed=${r.committed} ${subs} ` +
    `settled=${r.settledMs}ms ${(r.durationMs / 1000).toFixed(2)}s${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`
  );
}

const started = performance.now();
process.stdout.write(`crash campaign: seed ${seed}, trials ${first}..${first + trials - 1}, timeout ${timeoutMs} ms per trial\n`);
const results = [];
for (let index = first; index < first + trials; index++) {
  const p = plan(index);
  const result = await runTrial(p);
  results.push(result);
  process.stdout.write(`${trialLine(result)}\n`);
  for (const failure of result.failures) process.stdout.write(`    ${failure}\n`);
  if (options.verbose) process.stdout.write(`    plan ${JSON.stringify(p)}\n`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
const seconds = (performance.now() - started) / 1000;

const byKind = Object.fromEntries(KINDS.map((k) => [k, results.filter((r) => r.kind === k).length]));
const survivors = results.flatMap((r) => r.subs.filter((s) => !s.killed && !s.broken));
const summary = {
  seed,
  first,
  trials: results.length,
  passed,
  failed,
  seconds: Number(seconds.toFixed(1)),
  kinds: byKind,
  policies: { block: results.filter((r) => r.policy === 'block').length, drop: results.filter((r) => r.policy === 'drop').length },
  processesKilled: results.reduce((n, r) => n + r.victimsKilled, 0),
  survivingSubscribers: survivors.length,
  survivorEndings: survivors.reduce((acc, s) => ((acc[s.error ?? 'end'] = (acc[s.error ?? 'end'] ?? 0) + 1), acc), {}),
  lateKills: results.filter((r) => r.lateKill).length,
  killsNotLanded: results.reduce((n, r) => n + r.notes.filter((note) => note.includes('before the kill')).length, 0),
  maxSettledMs: Math.max(0, ...results.map((r) => r.settledMs)),
  maxTrialMs: Math.max(0, ...results.map((r) => r.durationMs)),
  failures: results.filter((r) => !r.ok).map((r) => ({ trial: r.index, failures: r.failures })),
  results,
};
if (options.json) writeFileSync(options.json, `${JSON.stringify(summary, null, 2)}\n`);
process.stdout.write(
  `kinds: ${KINDS.map((k) => `${k} ${byKind[k]}`).join(', ')}; processes killed ${summary.processesKilled}; ` +
    `surviving subscribers ${summary.survivingSubscribers} (${Object.entries(summary.survivorEndings).map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
    `max settle ${summary.maxSettledMs} ms; ${summary.seconds} s\n`,
);
process.stdout.write(`crash campaign: ${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
