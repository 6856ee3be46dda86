#!/usr/bin/env node
// The benchmark harness behind `ringcast bench` (and `node bench/harness.mjs`):
//
//   ringcast bench [--suite quick|full|smoke] [--json FILE] [--scenarios throughput,fanout,...]
//                  [--transports ringcast,uds,...]
//
// Every measurement that crosses processes runs in a fresh case process
// (bench/child.mjs, its own process group) with fresh subscriber processes,
// so no transport inherits another's JIT state, heap or sockets; a case that
// hangs is killed whole. Scenarios:
//
//   throughput  point-to-point, message size 64 B ... 64 MiB
//   fanout      N = 1, 2, 4, 8 subscribers: per-subscriber rate, publisher CPU per message
//   latency     ping-pong round trips (stored, sorted at the end): woken by the doorbell, or spinning;
//               the C core alone (limits latency) runs the same ping-pong without Node
//   cpu         sender and receiver CPU at fixed rates (the XenSocket paper's 136, 972, 3320 Mb/s)
//   stuck       one frozen (SIGSTOP) subscriber among healthy ones
//
// plus the C limits (bench/c/limits.c: memcpy, the C core alone) and
// in-process micro-benchmarks (tinybench). Copy vs zero-copy is the
// `ringcast` vs `ringcast-zerocopy` pair in every stream scenario.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ROOT, fmtNs, fmtRate, fmtSize, idleShare, machineInfo, sleep, spawnChild } from './lib.mjs';
import { runMicro } from './micro.mjs';
import { NODE_TRANSPORTS } from './transports.mjs';

const KiB = 1024;
const MiB = 1 << 20;
/** The XenSocket paper's fixed rates (its Table 1), in 10^6 bits/s. */
export const PAPER_RATES_MBPS = [136, 972, 3320];
const ALL_TRANSPORTS = [...NODE_TRANSPORTS, 'c-core', 'memcpy'];
/**
 * What the large-message lines compare (issue 17 target 2: copy and zero-copy
 * against uds, zero-copy against copy): the quick suite runs them in rounds.
 */
const LARGE_COMPARED = ['ringcast', 'ringcast-zerocopy', 'uds'];
const LARGE_ROUNDS = { times: 3, transports: LARGE_COMPARED };
const LARGE_SECONDS = { seconds: 0.2, warmupSeconds: 0.2 };
const SCENARIOS = ['throughput', 'fanout', 'latency', 'cpu', 'stuck', 'instr', 'micro'];

/**
 * What each suite measures. `seconds` is one run's sending time, after
 * `warmupSeconds` at full speed that are delivered but not timed; `repeat`
 * runs of a case take turns with the other transports and the median is kept.
 * `throughput.transports` run at every size except those listed in
 * `throughput.transportsFor` (size -> its own transports), and
 * `fanout.transports` at every subscriber count but those in
 * `fanout.transportsFor` (count -> its own transports);
 * `throughput.secondsFor` (size -> { seconds, warmupSeconds }) gives a size
 * its own run and warm-up times. `repeatFor`
 * (throughput: size, fanout: subscriber count -> { times, transports }) runs
 * those cases `times` rounds instead: the cases a target judges by a ratio,
 * which judgeTargets() takes round by round (medianRoundRatio).
 */
export const SUITES = {
  // A few seconds: every transport once, every scenario once (the test suite runs this).
  smoke: {
    repeat: 1,
    throughput: { sizes: [1 * KiB], seconds: 0.15, warmupSeconds: 0.05, transports: ALL_TRANSPORTS },
    fanout: { counts: [2], sizes: [1 * KiB], seconds: 0.15, transports: ['ringcast', 'c-core'] },
    latency: { sizes: [64], seconds: 0.2, iterations: 500, warmup: 50, variants: [['ringcast', 'doorbell'], ['ringcast', 'spin'], ['ringcast', 'busy-poll'], ['ringcast', 'blocking'], ['uds', 'epoll'], ['c-core', 'doorbell']] },
    cpu: { rates: [136], size: 16 * KiB, seconds: 0.3, transports: ['ringcast'] },
    stuck: { size: 1 * KiB, healthy: 2, seconds: 0.6, transports: ['ringcast'] },
    instr: { counts: [1, 2], size: 1 * KiB, messages: 2560, transports: ['ringcast', 'c-core'] },
    micro: { time: 25 },
  },
  // Under 3 minutes on 2 cores: what the speed targets need, every peer.
  quick: {
    repeat: 1,
    // Each size runs the transports its targets compare (judgeTargets), and a
    // few peers for scale: 16 KiB every transport (target 1, ringcast-reuse
    // included); 1, 4, 16 and 64 MiB the copy and zero-copy APIs against uds
    // (target 2), and memcpy at 4 MiB; 64 B the batch and zero-copy rates
    // (10 M msg/s). 1 KiB judges nothing here (the default-API target is
    // fan-out's; it made room for 16 KiB's rounds) and 256 KiB was dropped,
    // as were the peers no large-message line reads (uds-corked, tcp, the
    // batches() API; memcpy but at 4 MiB): they made room for the large
    // sizes' rounds, and the suite stays under 3 minutes. The full suite
    // runs every size with every transport.
    throughput: {
      sizes: [64, 16 * KiB, 1 * MiB, 4 * MiB, 16 * MiB, 64 * MiB],
      seconds: 0.4,
      warmupSeconds: 0.2,
      transports: LARGE_COMPARED,
      transportsFor: {
        [64]: ['ringcast', 'ringcast-batches', 'ringcast-zerocopy', 'uds-corked', 'c-core'],
        [16 * KiB]: ALL_TRANSPORTS,
        [4 * MiB]: [...LARGE_COMPARED, 'memcpy'],
      },
      // The 16 KiB ratios swing by 1.5x between single runs (uds itself 90
      // to 170 k msg/s): three rounds of the cases the judged lines compare.
      // So do the large sizes': on this shared machine a case's publisher
      // took 310 to 585 us of CPU per 4 MiB message from one minute to the
      // next, single runs of zero-copy against copy at 4 MiB came out at
      // 0.91 to 1.48 (five rounds of one run), uds at 16 MiB at 590 to
      // 3 200 MB/s. Three rounds each, their ratios taken within a round.
      repeatFor: {
        [16 * KiB]: { times: 3, transports: ['ringcast-reuse', 'ringcast-zerocopy', 'uds', 'c-core'] },
        [1 * MiB]: LARGE_ROUNDS,
        [4 * MiB]: LARGE_ROUNDS,
        [16 * MiB]: LARGE_ROUNDS,
        [64 * MiB]: LARGE_ROUNDS,
      },
      // Shorter runs make room for those rounds: a case's figure moves more
      // with the machine's state between cases than with its length. The
      // warm-up stays: with 0.1 s the copy API's subscriber still grew its
      // heap in the timed part (16 MiB: 4.0 ms of CPU and 490 faults per
      // message in one run, 3.1 GB/s, against 5.3 GB/s with 0.2 s).
      secondsFor: Object.fromEntries([1, 4, 16, 64].map((m) => [m * MiB, LARGE_SECONDS])),
    },
    // N = 4 judged, with every peer; N = 1 and 8 only for the publisher's
    // time per message (shown beside the instruction count), so only
    // ringcast and the C core there; N = 2, which no target reads, is not
    // run. That makes room for N = 4's rounds and the large sizes' rounds
    // in the 3 minutes.
    fanout: {
      counts: [1, 4, 8],
      sizes: [1 * KiB],
      seconds: 0.4,
      warmupSeconds: 0.3,
      transports: [...NODE_TRANSPORTS, 'c-core'],
      transportsFor: { 1: ['ringcast', 'c-core'], 8: ['ringcast', 'c-core'] },
      // N = 4 is judged (targets 1 and issue 4's) against the best Node peer,
      // which swings from 216 to 416 k msg/s between runs: three rounds of the
      // judged APIs and of the two peers that can be best (tcp, zeromq and
      // NATS are several times slower there).
      repeatFor: { 4: { times: 3, transports: ['ringcast-reuse', 'ringcast-zerocopy', 'uds', 'uds-corked'] } },
    },
    latency: {
      sizes: [64],
      seconds: 0.8,
      iterations: 50_000,
      warmup: 1000,
      variants: [['ringcast', 'spin'], ['ringcast', 'busy-poll'], ['uds', 'epoll'], ['tcp', 'epoll'], ['zeromq', 'epoll'], ['nats', 'epoll'], ['c-core', 'spin']],
      // Target 4's ratios: a woken round trip's p50 swings between runs with
      // where the two vCPUs' processes land (recvSync 44 to 58 us, the C core
      // steady, in three runs of one morning). So the three cases they
      // compare run back to back, three rounds of 20 000 round trips, and a
      // ratio is the median over rounds of the ratio within a round.
      repeatFor: { times: 3, iterations: 20_000, variants: [['ringcast', 'doorbell'], ['ringcast', 'blocking'], ['c-core', 'doorbell']] },
    },
    cpu: { rates: PAPER_RATES_MBPS, size: 16 * KiB, seconds: 0.8, transports: ['ringcast', 'uds', 'tcp', 'zeromq', 'nats'] },
    stuck: { size: 1 * KiB, healthy: 2, seconds: 1.2, transports: ['ringcast', 'uds', 'zeromq', 'nats'] },
    instr: { counts: [1, 8], size: 1 * KiB, messages: 5120, transports: ['ringcast', 'c-core'] },
    micro: { time: 150 },
  },
  // The whole sweep (docs/benchmarks.md is generated from it).
  full: {
    repeat: 3,
    throughput: {
      sizes: [64, 256, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 16 * MiB, 64 * MiB],
      seconds: 0.6,
      warmupSeconds: 0.3,
      transports: ALL_TRANSPORTS,
    },
    fanout: { counts: [1, 2, 4, 8], sizes: [64, 1 * KiB, 16 * KiB], seconds: 0.6, warmupSeconds: 0.4, transports: [...NODE_TRANSPORTS, 'c-core'] },
    latency: {
      sizes: [64, 1 * KiB, 16 * KiB],
      seconds: 2,
      iterations: 200_000,
      warmup: 2000,
      variants: [['ringcast', 'doorbell'], ['ringcast', 'spin'], ['ringcast', 'busy-poll'], ['ringcast', 'blocking'], ['uds', 'epoll'], ['tcp', 'epoll'], ['zeromq', 'epoll'], ['nats', 'epoll'], ['c-core', 'doorbell'], ['c-core', 'spin']],
      // Target 4's ratios at 64 B, as the quick suite judges them: three
      // rounds of the cases they compare, back to back, a ratio the median
      // over rounds of the ratio within a round. Run once, where the two
      // vCPUs' processes landed decided the line (recvSync 1.29x in one full
      // run, 1.05 to 1.09x in quick runs of the same code). 50 000 round
      // trips a round (the Node cases stop at `seconds` before that; the C
      // core, which counts round trips only, takes about 2 s, where its one
      // run of 200 000 took 8): about 10 s more in a run of 20 minutes.
      repeatFor: { times: 3, sizes: [64], iterations: 50_000, variants: [['ringcast', 'doorbell'], ['ringcast', 'blocking'], ['c-core', 'doorbell']] },
    },
    cpu: { rates: PAPER_RATES_MBPS, size: 16 * KiB, seconds: 2, transports: NODE_TRANSPORTS },
    stuck: { size: 1 * KiB, healthy: 2, seconds: 2, transports: ['ringcast', 'uds', 'uds-corked', 'tcp', 'zeromq', 'nats'] },
    instr: { counts: [1, 2, 4, 8], size: 1 * KiB, messages: 20480, transports: ['ringcast', 'c-core'] },
    micro: { time: 500 },
  },
};

const USAGE = `usage: ringcast bench [--suite quick|full|smoke] [--json FILE] [--scenarios ${SCENARIOS.join(',')}] [--transports ${ALL_TRANSPORTS.join(',')}]
  quick (default) finishes in under 3 minutes on 2 cores; full is the whole sweep (docs/benchmarks.json).
  Writes a summary to stdout, the figures to FILE (JSON), progress to stderr.`;

export class BenchUsageError extends Error {}

function parseArgs(argv) {
  const opts = { suite: 'quick', json: null, scenarios: SCENARIOS, transports: ALL_TRANSPORTS, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new BenchUsageError(`${arg} needs a value`);
      return argv[++i];
    };
    const list = (known) => {
      const items = value().split(',').map((x) => x.trim()).filter(Boolean);
      for (const item of items) if (!known.includes(item)) throw new BenchUsageError(`${arg}: unknown ${JSON.stringify(item)} (known: ${known.join(', ')})`);
      return items;
    };
    if (arg === '--suite') {
      opts.suite = value();
      if (!SUITES[opts.suite]) throw new BenchUsageError(`--suite must be one of ${Object.keys(SUITES).join(', ')}`);
    } else if (arg === '--json') opts.json = value();
    else if (arg === '--scenarios') opts.scenarios = list(SCENARIOS);
    else if (arg === '--transports') opts.transports = list(ALL_TRANSPORTS);
    else if (arg === '-h' || arg === '--help') opts.help = true;
    else throw new BenchUsageError(`unknown argument ${JSON.stringify(arg)}`);
  }
  return opts;
}

// ---------------------------------------------------------------------------
// The plan: every case of a suite, in the order they run

export function plan(suite, scenarios, transports) {
  const cases = [];
  const want = (t) => transports.includes(t);
  const on = (s) => scenarios.includes(s);
  const { repeat } = suite;
  // Rounds of one group of cases (a size, a subscriber count): every transport
  // `repeat` times, those `more` names up to `more.times`, taking turns.
  const rounds = (transports, more) => {
    const out = [];
    for (let r = 0; r < Math.max(repeat, more?.times ?? 0); r++)
      out.push(transports.filter((t) => want(t) && (r < repeat || (more.transports.includes(t) && r < more.times))));
    return out;
  };
  if (on('throughput')) {
    const { sizes, transportsFor = {}, repeatFor = {}, secondsFor = {} } = suite.throughput;
    for (const size of sizes) {
      const { seconds, warmupSeconds = 0 } = { ...suite.throughput, ...secondsFor[size] };
      rounds(transportsFor[size] ?? suite.throughput.transports, repeatFor[size]).forEach((transports, r) => {
        for (const transport of transports) cases.push({ scenario: 'throughput', transport, subscribers: 1, size, seconds, warmupSeconds, repeat: r });
      });
    }
  }
  if (on('fanout')) {
    const { sizes, counts, seconds, warmupSeconds = 0, transportsFor = {}, repeatFor = {} } = suite.fanout;
    for (const size of sizes)
      for (const subscribers of counts)
        rounds(transportsFor[subscribers] ?? suite.fanout.transports, repeatFor[subscribers]).forEach((transports, r) => {
          for (const transport of transports) cases.push({ scenario: 'fanout', transport, subscribers, size, seconds, warmupSeconds, repeat: r });
        });
  }
  if (on('latency')) {
    const { sizes, seconds, iterations, warmup, variants, repeatFor } = suite.latency;
    const latency = (transport, wake, size, iterations, repeat) =>
      cases.push({ scenario: 'latency', transport, wake, subscribers: 1, size, seconds, iterations, warmup, spin: wake === 'spin', busyPoll: wake === 'busy-poll', blocking: wake === 'blocking', repeat });
    for (const size of sizes) {
      // repeatFor: { times, iterations, variants, sizes? }: those variants in rounds, back to back
      // (at `sizes` only, when given), and not also once among the others.
      const rounded = repeatFor && (!repeatFor.sizes || repeatFor.sizes.includes(size)) ? repeatFor : null;
      const inRounds = ([t, w]) => rounded?.variants.some(([rt, rw]) => rt === t && rw === w);
      for (const [transport, wake] of variants.filter((v) => want(v[0]) && !inRounds(v))) latency(transport, wake, size, iterations, 0);
      for (let r = 0; r < (rounded?.times ?? 0); r++)
        for (const [transport, wake] of rounded.variants.filter(([t]) => want(t))) latency(transport, wake, size, rounded.iterations ?? iterations, r);
    }
  }
  if (on('cpu')) {
    const { rates, size, seconds } = suite.cpu;
    for (const rateMbps of rates)
      for (const transport of suite.cpu.transports.filter(want))
        cases.push({ scenario: 'cpu', transport, subscribers: 1, size, seconds, rateMbps, repeat: 0 });
  }
  if (on('stuck')) {
    const { size, healthy, seconds } = suite.stuck;
    for (const transport of suite.stuck.transports.filter(want))
      cases.push({ scenario: 'stuck', transport, subscribers: healthy, size, seconds, evictAfterMs: 100, repeat: 0 });
  }
  if (on('instr') && suite.instr) {
    const { counts, size, messages } = suite.instr;
    for (const transport of suite.instr.transports.filter(want))
      for (const subscribers of counts) cases.push({ scenario: 'instr', transport, subscribers, size, messages, repeat: 0 });
  }
  if (on('micro')) cases.push({ scenario: 'micro', transport: 'ringcast', subscribers: 0, size: 0, repeat: 0, time: suite.micro.time });
  return cases;
}

/** Rough seconds a case takes, for the progress bar. */
function estimate(c) {
  if (c.scenario === 'micro') return 8 * (c.time / 150);
  if (c.scenario === 'instr') return c.transport === 'c-core' ? 2 : 20 + c.messages / 2000;
  if (c.transport === 'memcpy') return c.seconds + 0.05;
  if (c.transport === 'c-core' && c.scenario === 'latency') return (c.iterations + c.warmup) * (c.wake === 'spin' ? 1e-6 : 25e-6) + 0.1;
  if (c.transport === 'c-core') return c.seconds + 0.1;
  if (c.scenario === 'stuck') return 2 * (c.seconds + 0.6);
  return c.seconds + (c.warmupSeconds ?? 0) + 0.3 + 0.08 * c.subscribers;
}

// ---------------------------------------------------------------------------
// Running cases

/**
 * The nats-server to run: RINGCAST_NATS_SERVER if set (a path; empty or
 * missing means none), else the first on PATH or in the usual places.
 */
function natsServerProgram() {
  const chosen = process.env.RINGCAST_NATS_SERVER;
  if (chosen !== undefined) return chosen && existsSync(chosen) ? chosen : null;
  return findProgram('nats-server', ['/usr/sbin', '/usr/bin', '/usr/local/bin']);
}

/**
 * Why a peer transport cannot run on this machine (a fresh one has no
 * nats-server; an installed package has no devDependencies such as zeromq;
 * the C limits need make and a C compiler), or null if it can. Such cases are
 * skipped with that reason, never failed: they measure the machine, not
 * ringcast.
 */
function unavailable(transport, scenario) {
  if (scenario === 'instr' && !findProgram('valgrind', ['/usr/bin', '/usr/local/bin'])) {
    return 'valgrind is not installed (callgrind counts the instructions)';
  }
  if (scenario === 'instr' && /libasan/.test(process.env.LD_PRELOAD ?? '')) {
    return 'AddressSanitizer is preloaded (test/asan-node.sh): valgrind cannot run under it';
  }
  if (transport === 'nats' && !natsServerProgram()) {
    return 'nats-server is not installed (the nats-server package, or RINGCAST_NATS_SERVER=path)';
  }
  if (transport === 'zeromq') {
    try {
      createRequire(import.meta.url).resolve('zeromq');
    } catch {
      return 'the zeromq package is not installed (a devDependency: npm install zeromq)';
    }
  }
  if (transport === 'memcpy' || transport === 'c-core') {
    try {
      limitsProgram();
    } catch (error) {
      return `cannot build bench/c/limits (make, a C compiler): ${String(error.stderr ?? error.message).trim().split('\n').pop()}`;
    }
  }
  return null;
}

/** nats-server on a free loopback port for the run's NATS cases; stop() ends it. */
async function startNats(dir) {
  const binary = natsServerProgram();
  if (!binary) throw new Error('nats-server is not installed');
  const port = await freePort();
  const config = join(dir, 'nats.conf');
  // Payloads up to the sweep's 64 MiB (the server's own ceiling); deep enough
  // per-client buffers that a fast publisher is not cut off as a slow consumer.
  writeFileSync(config, 'max_payload: 67108864\nmax_pending: 268435456\n');
  const server = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr.setEncoding('utf8').on('data', (text) => {
    if (log.length < 8192) log += text;
  });
  const exited = new Promise((resolveExit) => server.on('exit', resolveExit));
  for (let i = 0; ; i++) {
    if (server.exitCode !== null) throw new Error(`nats-server exited: ${log.trim().split('\n').pop()}`);
    if (await canConnect(port)) break;
    if (i > 100) {
      server.kill('SIGKILL');
      throw new Error('nats-server did not start listening within 5 s');
    }
    await sleep(50);
  }
  return {
    url: `127.0.0.1:${port}`,
    pid: server.pid,
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
        if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      }
    },
  };
}

function findProgram(name, fallbacks) {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...fallbacks]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolveConnect) => {
    const socket = net.createConnection(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.on('error', () => resolveConnect(false));
  });
}

/** Runs one case process; kills its whole process group if it overruns. */
async function runCaseProcess(args, limitMs) {
  const child = spawnChild('case', args, { detached: true });
  let timer;
  const overrun = new Promise((resolveOverrun) => {
    timer = setTimeout(() => {
      killGroup(child.proc.pid);
      resolveOverrun({ error: `case did not finish within ${Math.round(limitMs / 1000)} s (killed)` });
    }, limitMs);
  });
  running.add(child.proc.pid);
  try {
    return await Promise.race([child.done, overrun]);
  } finally {
    clearTimeout(timer);
    running.delete(child.proc.pid);
    killGroup(child.proc.pid); // subscribers a failed case left behind
  }
}

/** Case process groups running now (the harness started each; killed on Ctrl-C). */
const running = new Set();

function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The C limits program, built from bench/c on first use. */
function limitsProgram() {
  const program = join(ROOT, 'native', 'build-bench', 'limits');
  execFileSync('make', ['--no-print-directory', '-s', '-C', join(ROOT, 'bench', 'c')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return program;
}

function runLimits(c) {
  let program;
  try {
    program = limitsProgram();
  } catch (error) {
    return { error: `cannot build bench/c/limits (make, gcc): ${String(error.stderr ?? error.message).trim().split('\n').pop()}` };
  }
  const args =
    c.transport === 'memcpy'
      ? ['memcpy', String(c.size), String(c.seconds)]
      : c.scenario === 'latency'
        ? ['latency', String(c.size), String(c.iterations), String(c.warmup), c.wake]
        : ['core', String(c.size), String(c.subscribers), String(c.seconds)];
  return new Promise((resolveRun) => {
    const proc = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (t) => (out += t));
    proc.stderr.setEncoding('utf8').on('data', (t) => (err += t));
    // Latency: up to 200 µs per round trip on a busy machine.
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000 + c.seconds * 10_000 + (c.iterations ?? 0) * 0.2);
    proc.on('close', (code) => {
      clearTimeout(timer);
      // 64: a size the C core takes only as one whole record (it does not fragment).
      if (code === 64) return resolveRun({ skipped: 'larger than one record: the C limit does not fragment' });
      try {
        const line = JSON.parse(out.trim().split('\n').pop());
        resolveRun(code === 0 ? line : { error: `limits exited with ${code}: ${err.trim()}` });
      } catch {
        resolveRun({ error: `limits exited with ${code}: ${err.trim() || 'no output'}` });
      }
    });
  });
}

// ---------------------------------------------------------------------------
// Figures

const round = (x, digits = 0) => (x === null || x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));
const sig = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Number(x.toPrecision(4)));

function streamFigures(r, size) {
  const msgsPerSec = r.sent / r.elapsedSeconds;
  const wallNs = r.elapsedSeconds * 1e9;
  // What each subscriber received and the time it spent on it, warm-up included.
  const received = r.sent + (r.warmSent ?? 0);
  const subscriberWallNs = r.subscriberWallNs ?? wallNs;
  return {
    msgsPerSec: round(msgsPerSec),
    mbPerSec: round((msgsPerSec * size) / 1e6, 2),
    publisherCpuNsPerMsg: sig(r.publisherCpuNs / r.sent),
    subscriberCpuNsPerMsg: sig(r.subscriberCpuNs / received),
    brokerCpuNsPerMsg: r.brokerCpuNs === null ? null : sig(r.brokerCpuNs / r.sent),
    senderCpuPct: round((r.publisherCpuNs / wallNs) * 100, 1),
    receiverCpuPct: round((r.subscriberCpuNs / subscriberWallNs) * 100, 1),
    publisherFaultsPerMsg: sig(r.publisherMinorFaults / r.sent),
    subscriberFaultsPerMsg: sig(r.subscriberMinorFaults / received),
    publisherSleepsPerMsg: sig(r.publisherSleeps / r.sent),
    publisherDoorbellsPerMsg: r.publisherDoorbells === null || r.publisherDoorbells === undefined ? null : sig(r.publisherDoorbells / r.sent),
    subscriberSleepsPerMsg: sig(r.subscriberSleeps / received),
    messages: r.sent,
    seconds: round(r.elapsedSeconds, 4),
  };
}

/**
 * Instructions the publish path executes per message, counted by callgrind
 * (user space, deterministic: the machine's load does not change it). Only the
 * publish functions are counted (--toggle-collect, callees included): the C
 * core's publish_batch (bench/c/limits.c publish-path: rc_pub_offer per
 * message, one rc_pub_commit per batch of 256) and the Node publisher's addon
 * entry points that publishBatch() crosses into (reserveBatch, commit,
 * offerBatch, writePart: the binding plus the core) and V8's
 * TypedArray.prototype.set builtin, with which publishBatch() copies each
 * message below 4 KiB into its reserved record (the JavaScript loop around
 * those calls is not counted). The N subscribers read in the same
 * process between batches, so the publisher never waits: the count holds
 * what writing once costs with N readers, not the scheduler.
 */
const PUBLISH_FUNCTIONS = {
  'c-core': ['publish_batch*'],
  // The socket Publisher's entry points live in PublisherWrites<Publisher>
  // (native/binding/publisher_writes.h), shared with the Xen publisher.
  ringcast: ['*PublisherWrites<*::Publisher>::ReserveBatch(*', '*PublisherWrites<*::Publisher>::Commit(*', '*PublisherWrites<*::Publisher>::OfferBatch(*', '*PublisherWrites<*::Publisher>::WritePart(*', 'Builtins_TypedArrayPrototypeSet'],
};

function runPublishPath(c) {
  const out = join(mkdtempSync(join(os.tmpdir(), 'ringcast-callgrind-')), 'callgrind.out');
  let target;
  if (c.transport === 'c-core') {
    try {
      target = [limitsProgram(), 'publish-path'];
    } catch (error) {
      return { error: `cannot build bench/c/limits: ${String(error.stderr ?? error.message).trim().split('\n').pop()}` };
    }
  } else {
    target = [process.execPath, join(ROOT, 'bench', 'publish-path.mjs')];
  }
  const args = [
    '--tool=callgrind',
    '--smc-check=all-non-file', // V8 writes the code it runs
    ...PUBLISH_FUNCTIONS[c.transport].map((f) => `--toggle-collect=${f}`),
    `--callgrind-out-file=${out}`,
    ...target,
    String(c.size),
    String(c.subscribers),
    String(c.messages),
  ];
  return new Promise((resolveRun) => {
    const child = spawn('valgrind', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', (error) => resolveRun({ error: `valgrind: ${error.message}` }));
    child.on('close', (code) => {
      try {
        const messages = JSON.parse(stdout.trim().split('\n').pop()).messages;
        const totals = /^totals:\s+(\d+)/m.exec(readFileSync(out, 'utf8'));
        if (code !== 0 || !totals || !messages) throw new Error(`exit ${code}`);
        resolveRun({ messages, instructions: Number(totals[1]) });
      } catch (error) {
        resolveRun({ error: `callgrind run failed (${error.message}): ${stderr.trim().split('\n').slice(-3).join(' ')}` });
      } finally {
        rmSync(dirname(out), { recursive: true, force: true });
      }
    });
  });
}

/** The result object of one case: what was run and what it measured. */
function figures(c, raw) {
  const base = { scenario: c.scenario, transport: c.transport, subscribers: c.subscribers, size: c.size };
  if (c.scenario === 'latency') base.wake = c.wake;
  if (c.scenario === 'cpu') base.rateMbps = c.rateMbps;
  if (raw.skipped) return { ...base, skipped: raw.skipped };
  if (raw.error) return { ...base, error: raw.error };
  if (c.scenario === 'instr') {
    return { ...base, messages: raw.messages, publisherInstructions: raw.instructions, publisherInstrPerMsg: round(raw.instructions / raw.messages, 1) };
  }
  if (c.transport === 'memcpy') return { ...base, subscribers: 0, msgsPerSec: round(raw.msgsPerSec), mbPerSec: round(raw.mbPerSec, 1) };
  if (c.scenario === 'latency') {
    const { samples, p50Ns, p99Ns, p999Ns, meanNs, maxNs, cdf } = raw;
    return { ...base, samples, p50Ns, p99Ns, p999Ns, meanNs, maxNs, cdf };
  }
  if (c.transport === 'c-core') {
    return { ...base, msgsPerSec: round(raw.msgsPerSec), mbPerSec: round(raw.mbPerSec, 1), publisherCpuNsPerMsg: sig(raw.publisherCpuNsPerMsg), messages: raw.messages, seconds: raw.seconds };
  }
  if (c.scenario === 'stuck') {
    const { baseline, withStuck } = raw;
    const problems = [...baseline.problems, ...withStuck.problems];
    const healthy = withStuck.stalled ? (withStuck.secondHalfRate ?? 0) : withStuck.secondHalfRate;
    const evicted = withStuck.evictions === null ? null : withStuck.evictions.length > 0;
    return {
      ...base,
      ...(problems.length ? { error: problems.join('; ') } : {}),
      msgsPerSec: round(baseline.secondHalfRate),
      msgsPerSecWithStuck: round(healthy),
      healthyThroughputRatio: baseline.secondHalfRate ? round(healthy / baseline.secondHalfRate, 3) : null,
      evicted,
      evictedAfterMs: evicted ? round(withStuck.evictions[0].afterMs, 1) : null,
      stalled: withStuck.stalled,
      healthyReceived: withStuck.received,
      publishedWithStuck: withStuck.sent,
    };
  }
  const out = { ...base, ...(raw.problems.length ? { error: raw.problems.join('; ') } : {}), ...streamFigures(raw, c.size) };
  if (c.scenario === 'cpu') {
    const sendNs = raw.sendSeconds * 1e9;
    out.achievedMbps = round((raw.sent * c.size * 8) / 1e6 / raw.sendSeconds, 1);
    out.senderCpuPct = round((raw.publisherCpuNs / sendNs) * 100, 1);
    out.receiverCpuPct = round((raw.subscriberCpuNs / sendNs) * 100, 1);
    if (raw.brokerCpuNs !== null) out.brokerCpuPct = round((raw.brokerCpuNs / sendNs) * 100, 1);
  }
  return out;
}

/** Repeats of one case -> the median run (by rate), with every run's rate kept. */
function mergeRepeats(results) {
  const groups = new Map();
  for (const r of results) {
    const key = JSON.stringify([r.scenario, r.transport, r.subscribers, r.size, r.wake ?? null, r.rateMbps ?? null]);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  return [...groups.values()].map((runs) => {
    if (runs.length === 1) return runs[0];
    const ok = runs.filter((r) => !r.error && !r.skipped);
    if (ok.length === 0) return runs[0];
    // A round trip's figure is its p50; everything else's, its rate.
    const figure = runs[0].scenario === 'latency' ? 'p50Ns' : 'msgsPerSec';
    const sorted = [...ok].sort((a, b) => (a[figure] ?? 0) - (b[figure] ?? 0));
    return { ...sorted[Math.floor(sorted.length / 2)], runs: runs.map((r) => r[figure] ?? null) };
  });
}

/**
 * `result`'s rate over the best of `peers`' in the same round (the cases of a
 * round run back to back: mergeRepeats keeps each round's rate in `runs`),
 * the median over the rounds both ran; one round when either ran once.
 * `detail`: each round's ratio, when there was more than one. `figureOf`:
 * what `runs` holds (a round trip's p50Ns for latency results).
 */
export function medianRoundRatio(result, peers, figureOf = (r) => r.msgsPerSec) {
  const roundsOf = (r) => r.runs ?? [figureOf(r)];
  const ratios = [];
  roundsOf(result).forEach((rate, i) => {
    const peerRates = peers.map((p) => roundsOf(p)[i]).filter((x) => typeof x === 'number' && x > 0);
    if (typeof rate === 'number' && peerRates.length) ratios.push(rate / Math.max(...peerRates));
  });
  if (ratios.length === 0) return { value: null, detail: '' };
  const sorted = [...ratios].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const value = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { value, detail: ratios.length > 1 ? `; median of ${ratios.length} rounds: ${ratios.map((x) => round(x, 2)).join(', ')}` : '' };
}

/** The issue's speed targets, judged on this run's figures. */
export function judgeTargets(results) {
  const find = (scenario, transport, subscribers, size, extra = {}) =>
    results.find(
      (r) =>
        r.scenario === scenario &&
        r.transport === transport &&
        r.subscribers === subscribers &&
        r.size === size &&
        !r.error &&
        !r.skipped &&
        Object.entries(extra).every(([k, v]) => r[k] === v),
    );
  const targets = [];
  const add = (name, value, goal, met, detail) => targets.push({ name, value: value === null ? null : round(value, 3), goal, met, detail });
  // A figure shown beside the targets but judged by another line (`judged:
  // false`, `met: null`): summaries print it as shown, never as met or missed.
  const show = (name, value, goal, detail) => targets.push({ name, value: value === null ? null : round(value, 3), goal, met: null, judged: false, detail });
  const ratio = (a, b) => (a && b ? a / b : null);

  // Issue 4's 16 KiB and N = 4 targets name no API: the zero-copy one is
  // judged, and the copy API that reaches them (batches({ reuseBuffer: true }))
  // against the C core's copying subscribers, the like-for-like pair.
  //
  // Issue 17, target 1 (the default API): `for await` with publishBatch, or
  // "a batch-at-a-time iterator or a reusable-buffer read ... as a documented
  // API". The judged line is that documented iterator, `for await` over
  // batches({ reuseBuffer: true }) (ringcast-reuse); `for await` per message
  // and over batches() (a fresh buffer per batch) are shown beside it. Each
  // ratio is the median over rounds of the ratio within a round (cases of a
  // round run back to back), so a peer or a machine state that drifts between
  // rounds does not decide it.
  const DEFAULT_APIS = [
    ['ringcast-reuse', 'for await over batches({ reuseBuffer: true })', true],
    ['ringcast-batches', 'for await over batches()', false],
    ['ringcast', 'for await per message', false],
  ];
  const SHOWN_DEFAULT = 'shown, not judged: target 1 is judged on for await over batches({ reuseBuffer: true })';
  const uds16 = find('throughput', 'uds', 1, 16 * KiB);
  const core16 = find('throughput', 'c-core', 1, 16 * KiB);
  const zero16 = find('throughput', 'ringcast-zerocopy', 1, 16 * KiB);
  if (zero16 && uds16) {
    const x = medianRoundRatio(zero16, [uds16]);
    add('16 KiB point-to-point: ringcast-zerocopy / uds', x.value, '>= 5', x.value >= 5, `${fmtRate(zero16.msgsPerSec)} vs ${fmtRate(uds16.msgsPerSec)} msg/s${x.detail}`);
  }
  for (const r of [zero16, find('throughput', 'ringcast-reuse', 1, 16 * KiB)].filter(Boolean)) {
    if (!core16) break;
    const x = medianRoundRatio(r, [core16]);
    add(`16 KiB point-to-point: ${r.transport} / c-core`, x.value, '>= 0.5', x.value >= 0.5, `${fmtRate(r.msgsPerSec)} vs ${fmtRate(core16.msgsPerSec)} msg/s${x.detail}`);
  }
  for (const [transport, api, judged] of DEFAULT_APIS) {
    const r = find('throughput', transport, 1, 16 * KiB);
    if (!r || !uds16) continue;
    const x = medianRoundRatio(r, [uds16]);
    const name = `default API (${api}), 16 KiB point-to-point: ${transport} / uds`;
    const detail = `${fmtRate(r.msgsPerSec)} vs ${fmtRate(uds16.msgsPerSec)} msg/s${x.detail}`;
    if (judged) add(name, x.value, '>= 5', x.value >= 5, detail);
    else show(name, x.value, SHOWN_DEFAULT, detail);
  }
  const small = ['ringcast', 'ringcast-zerocopy'].map((t) => find('throughput', t, 1, 64)).filter(Boolean);
  if (small.length) {
    const best = small.reduce((a, b) => (a.msgsPerSec >= b.msgsPerSec ? a : b));
    add('64 B batch / zero-copy: msg/s', best.msgsPerSec, '>= 10 M', best.msgsPerSec >= 10e6, `${best.transport}`);
  }
  const fan = ['ringcast', 'ringcast-batches', 'ringcast-reuse', 'ringcast-zerocopy'].map((t) => find('fanout', t, 4, 1 * KiB)).filter(Boolean);
  const peers = ['uds', 'uds-corked', 'tcp', 'zeromq', 'nats'].map((t) => find('fanout', t, 4, 1 * KiB)).filter(Boolean);
  const bestPeer = peers.length ? peers.reduce((a, b) => (a.msgsPerSec >= b.msgsPerSec ? a : b)) : null;
  if (fan.length && bestPeer) {
    const best = fan.reduce((a, b) => (a.msgsPerSec >= b.msgsPerSec ? a : b));
    const x = medianRoundRatio(best, peers);
    add('N=4 at 1 KiB: ringcast / best Node peer (per subscriber)', x.value, '>= 5', x.value >= 5, `${best.transport} ${fmtRate(best.msgsPerSec)} vs ${bestPeer.transport} ${fmtRate(bestPeer.msgsPerSec)} msg/s${x.detail}`);
  }
  for (const [transport, api, judged] of DEFAULT_APIS) {
    const r = find('fanout', transport, 4, 1 * KiB);
    if (!r || !bestPeer) continue;
    const x = medianRoundRatio(r, peers);
    const name = `default API (${api}), N=4 at 1 KiB: ${transport} / best Node peer (per subscriber)`;
    const detail = `${fmtRate(r.msgsPerSec)} vs ${bestPeer.transport} ${fmtRate(bestPeer.msgsPerSec)} msg/s${x.detail}`;
    if (judged) add(name, x.value, '>= 5', x.value >= 5, detail);
    else show(name, x.value, SHOWN_DEFAULT, detail);
  }
  // Large messages, fragmented through the default ring (target 2): both
  // APIs against uds, memcpy at 4 MiB, zero-copy against copy. Each ratio is
  // the median over rounds of the ratio within a round, as target 1's.
  for (const size of [1 * MiB, 4 * MiB, 16 * MiB, 64 * MiB]) {
    const uds = find('throughput', 'uds', 1, size);
    const copy = find('throughput', 'ringcast', 1, size);
    const zero = find('throughput', 'ringcast-zerocopy', 1, size);
    const line = (name, r, peer, goal, least) => {
      const x = medianRoundRatio(r, [peer]);
      add(`${fmtSize(size)} point-to-point: ${name}`, x.value, goal, x.value >= least, `${r.mbPerSec} vs ${peer.mbPerSec} MB/s${x.detail}`);
    };
    for (const r of [copy, zero].filter(Boolean)) if (uds) line(`${r.transport} / uds`, r, uds, '>= 2', 2);
    const memcpy = find('throughput', 'memcpy', 0, size);
    if (size === 4 * MiB && copy && memcpy) line('ringcast / memcpy', copy, memcpy, '>= 0.5', 0.5);
    if (copy && zero) line('zero-copy / copy', zero, copy, '>= 1', 1);
  }
  const n1 = find('fanout', 'ringcast', 1, 1 * KiB);
  const n8 = find('fanout', 'ringcast', 8, 1 * KiB);
  if (n1 && n8) {
    const x = ratio(n8.publisherCpuNsPerMsg, n1.publisherCpuNsPerMsg);
    const c1 = find('fanout', 'c-core', 1, 1 * KiB);
    const c8 = find('fanout', 'c-core', 8, 1 * KiB);
    const core = c1 && c8 ? `; the C core alone: ${c8.publisherCpuNsPerMsg} vs ${c1.publisherCpuNsPerMsg}` : '';
    // Issue 17: by time, on 2 cores shared by nine processes, this measures the
    // scheduler; the instruction count below judges write-once. The figure stays.
    show(
      'publisher CPU per message, N=8 / N=1 (1 KiB)',
      x,
      'shown, not judged: the instruction count (next lines) judges write-once',
      `${n8.publisherCpuNsPerMsg} vs ${n1.publisherCpuNsPerMsg} ns/msg${core}`,
    );
  }
  // The same question by instruction count (callgrind), which the load of a
  // shared machine does not change: write-once shown without the scheduler.
  for (const transport of ['c-core', 'ringcast']) {
    const counted = results.filter((r) => r.scenario === 'instr' && r.transport === transport && !r.error && !r.skipped);
    const one = counted.find((r) => r.subscribers === 1);
    const most = counted.reduce((a, b) => (!a || b.subscribers > a.subscribers ? b : a), null);
    if (one && most && most.subscribers > 1) {
      const x = ratio(most.publisherInstrPerMsg, one.publisherInstrPerMsg);
      add(
        `publisher instructions per message, N=${most.subscribers} / N=1 (${transport}, callgrind)`,
        x,
        '<= 1.1',
        x <= 1.1,
        `${most.publisherInstrPerMsg} vs ${one.publisherInstrPerMsg} instructions/msg`,
      );
    }
  }
  const woken = results.find((r) => r.scenario === 'latency' && r.transport === 'ringcast' && r.wake === 'doorbell' && r.size === 64 && !r.error);
  // Spinning: the better of the async API spinning before it sleeps (`spin`)
  // and the synchronous one polling without pause (`busy-poll`).
  const spinners = results.filter((r) => r.scenario === 'latency' && r.transport === 'ringcast' && (r.wake === 'spin' || r.wake === 'busy-poll') && r.size === 64 && !r.error);
  if (woken) {
    const c = results.find((r) => r.scenario === 'latency' && r.transport === 'c-core' && r.wake === 'doorbell' && r.size === 64 && !r.error && !r.skipped);
    add('RTT p50 woken by the doorbell (64 B)', woken.p50Ns, '<= 20000 ns', woken.p50Ns <= 20_000, `${fmtNs(woken.p50Ns)}${c ? `; the C core alone: ${fmtNs(c.p50Ns)}` : ''}`);
    if (c) {
      // Rounds (repeatFor): the median of each round's ratio; p50s shown are the median rounds'.
      const p50 = (r) => r.p50Ns;
      const x = medianRoundRatio(woken, [c], p50);
      add('RTT p50 woken: ringcast / the C core\'s doorbell round trip (64 B)', x.value, '<= 1.2', x.value !== null && x.value <= 1.2, `${fmtNs(woken.p50Ns)} vs ${fmtNs(c.p50Ns)}${x.detail}`);
      // The same doorbell waking a thread blocked in recvSync(), as the C core's reader blocks in read().
      const blocked = results.find((r) => r.scenario === 'latency' && r.transport === 'ringcast' && r.wake === 'blocking' && r.size === 64 && !r.error && !r.skipped);
      if (blocked) {
        const y = medianRoundRatio(blocked, [c], p50);
        add('RTT p50 woken, blocking wait (recvSync): ringcast / the C core\'s doorbell round trip (64 B)', y.value, '<= 1.2', y.value !== null && y.value <= 1.2, `${fmtNs(blocked.p50Ns)} vs ${fmtNs(c.p50Ns)}${y.detail}`);
      }
    }
  }
  if (spinners.length) {
    const best = spinners.reduce((a, b) => (b.p50Ns < a.p50Ns ? b : a));
    const all = spinners.map((r) => `${r.wake} ${fmtNs(r.p50Ns)}`).join(', ');
    add('RTT p50 spinning (64 B)', best.p50Ns, '<= 2000 ns', best.p50Ns <= 2000, `${fmtNs(best.p50Ns)} with ${best.wake} (${all})`);
  }
  return targets;
}

// ---------------------------------------------------------------------------
// Progress on a terminal

class Progress {
  constructor(total, stream = process.stderr) {
    this.total = total;
    this.done = 0;
    this.stream = stream;
    this.tty = Boolean(stream.isTTY);
    this.started = Date.now();
  }

  step(label) {
    if (!this.tty) return;
    const width = 28;
    const share = this.total ? Math.min(1, this.done / this.total) : 1;
    const filled = Math.round(share * width);
    const elapsed = (Date.now() - this.started) / 1000;
    const left = share > 0.02 ? Math.max(0, elapsed / share - elapsed) : null;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(share * 100)).padStart(3)}% ${left === null ? '' : `~${Math.ceil(left)} s left `}${label}`;
    const columns = this.stream.columns || 100;
    this.stream.write(`\r${line.slice(0, columns - 1).padEnd(Math.min(columns - 1, this.lastLength ?? 0))}`);
    this.lastLength = Math.min(line.length, columns - 1);
  }

  advance(weight) {
    this.done += weight;
  }

  finish() {
    if (this.tty) this.stream.write(`\r${' '.repeat(this.lastLength ?? 0)}\r`);
  }
}

function label(c) {
  const parts = [c.scenario, c.transport];
  if (c.scenario === 'fanout' || c.scenario === 'stuck' || c.scenario === 'instr') parts.push(`N=${c.subscribers}`);
  if (c.scenario === 'latency') parts.push(c.wake);
  if (c.scenario === 'cpu') parts.push(`${c.rateMbps} Mb/s`);
  if (c.size) parts.push(fmtSize(c.size));
  return parts.join(' ');
}

// ---------------------------------------------------------------------------

/** The commit measured, and whether the sources of dist/ and the addon differ from it. */
function revision() {
  const git = (...args) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return {
      commit: git('rev-parse', '--short=12', 'HEAD'),
      dirty: git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'native/src', 'native/binding', 'native/include', 'binding.gyp') !== '',
    };
  } catch {
    return { commit: null, dirty: null };
  }
}

/** Runs a suite; returns the document written to --json. */
export async function runBench({ suite: suiteName = 'quick', scenarios = SCENARIOS, transports = ALL_TRANSPORTS, log = () => undefined } = {}) {
  const suite = SUITES[suiteName];
  const cases = plan(suite, scenarios, transports);
  const machine = { ...machineInfo(), loadAvgBefore: os.loadavg().map((x) => round(x, 2)), idleBefore: await idleShare(500) };
  const startedAt = new Date();
  const dir = mkdtempSync(join(os.tmpdir(), 'ringcast-bench-run-'));
  const progress = new Progress(cases.reduce((sum, c) => sum + estimate(c), 0));
  let nats = null;
  const onSignal = (signal) => {
    for (const pid of running) killGroup(pid);
    void nats?.stop();
    progress.finish();
    process.stderr.write(`ringcast bench: interrupted (${signal})\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const raw = [];
  let micro = null;
  try {
    const skip = new Map([...new Set(cases.map((c) => c.transport))].map((t) => [t, unavailable(t)]));
    const instrSkip = cases.some((c) => c.scenario === 'instr') ? unavailable(null, 'instr') : null;
    if (cases.some((c) => c.transport === 'nats') && !skip.get('nats')) {
      try {
        nats = await startNats(dir);
      } catch (error) {
        skip.set('nats', `nats-server did not start: ${error.message}`);
      }
    }
    for (const c of cases) {
      const weight = estimate(c);
      progress.step(label(c));
      let result;
      if (c.scenario === 'micro') {
        try {
          micro = await runMicro({ time: c.time });
        } catch (error) {
          micro = { error: error.message };
        }
        progress.advance(weight);
        continue;
      }
      if (skip.get(c.transport)) result = { skipped: skip.get(c.transport) };
      else if (c.scenario === 'instr') result = instrSkip ? { skipped: instrSkip } : await runPublishPath(c);
      else if (c.transport === 'memcpy' || c.transport === 'c-core') result = await runLimits(c);
      else result = await runCaseProcess({ ...c, natsUrl: nats?.url, natsPid: nats?.pid }, 60_000 + c.seconds * 20_000);
      const r = figures(c, result);
      raw.push(r);
      log(r);
      progress.advance(weight);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.finish();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const results = mergeRepeats(raw);
  machine.loadAvgAfter = os.loadavg().map((x) => round(x, 2));
  return {
    suite: suiteName,
    date: startedAt.toISOString(),
    durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 1),
    machine,
    source: revision(),
    settings: { ...suite, ringCapacity: 4 * MiB },
    results,
    micro,
    targets: judgeTargets(results),
  };
}

/** A target line's verdict: met, MISS, or shown (a figure judged by another line). */
export function verdict(target) {
  if (target.judged === false) return 'shown';
  return target.met ? 'met ' : 'MISS';
}

function summary(doc) {
  const lines = [];
  const failed = doc.results.filter((r) => r.error);
  lines.push(
    `ringcast bench --suite ${doc.suite}: ${doc.results.length} results in ${doc.durationSeconds} s on ${doc.machine.cpu} (${doc.machine.cores} cores), ` +
      `load ${doc.machine.loadAvgBefore.join('/')} before, ${doc.machine.loadAvgAfter.join('/')} after`,
  );
  for (const r of doc.results) {
    let figure;
    if (r.error) figure = `FAILED: ${r.error}`;
    else if (r.skipped) figure = `skipped: ${r.skipped}`;
    else if (r.scenario === 'latency') figure = `p50 ${fmtNs(r.p50Ns)}  p99 ${fmtNs(r.p99Ns)}  p99.9 ${fmtNs(r.p999Ns)}`;
    else if (r.scenario === 'stuck') figure = `healthy ratio ${r.healthyThroughputRatio}${r.evicted ? `, evicted after ${r.evictedAfterMs} ms` : ''}${r.stalled ? ', publisher stalled' : ''}`;
    else if (r.scenario === 'instr') figure = `${r.publisherInstrPerMsg} instructions/msg in the publish path (callgrind)`;
    else if (r.scenario === 'cpu') figure = `${r.achievedMbps} Mb/s: sender ${r.senderCpuPct}% receiver ${r.receiverCpuPct}%${r.brokerCpuPct !== undefined ? ` broker ${r.brokerCpuPct}%` : ''}`;
    else figure = `${fmtRate(r.msgsPerSec)} msg/s  ${r.mbPerSec} MB/s${r.publisherCpuNsPerMsg ? `  pub ${r.publisherCpuNsPerMsg} ns/msg` : ''}`;
    lines.push(`  ${label(r).padEnd(40)} ${figure}`);
  }
  if (doc.micro && !doc.micro.error) for (const m of doc.micro) lines.push(`  micro ${m.name.padEnd(34)} ${fmtNs(m.nsPerOp)}/op`);
  if (doc.micro?.error) lines.push(`  micro FAILED: ${doc.micro.error}`);
  if (doc.targets.length) {
    lines.push('targets:');
    for (const t of doc.targets) lines.push(`  ${verdict(t)} ${t.name}: ${t.value} (goal ${t.goal}; ${t.detail})`);
  }
  const skipped = doc.results.filter((r) => r.skipped);
  if (skipped.length) {
    const reasons = new Map(skipped.map((r) => [r.transport, r.skipped]));
    lines.push(`${skipped.length} case(s) skipped: ${[...reasons].map(([t, why]) => `${t}: ${why}`).join('; ')}`);
  }
  if (failed.length) lines.push(`${failed.length} case(s) FAILED`);
  return lines.join('\n');
}

/** `ringcast bench ...`: returns the exit status (1 if a case failed; a skipped one is no failure). */
export async function main(argv) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (error) {
    if (error instanceof BenchUsageError) {
      process.stderr.write(`ringcast bench: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) {
    process.stderr.write('ringcast bench: dist/ is missing; run `npm run build` first\n');
    return 1;
  }
  const doc = await runBench(opts);
  if (opts.json) {
    const file = resolve(opts.json);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  }
  process.stdout.write(`${summary(doc)}\n`);
  const failed = doc.results.some((r) => r.error) || Boolean(doc.micro?.error);
  return failed ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`ringcast bench: ${error.stack ?? error}\n`);
      process.exitCode = 1;
    },
  );
}
