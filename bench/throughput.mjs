#!/usr/bin/env node
// Cross-process fan-out throughput: one publisher (this process) and N
// subscriber processes, ringcast against Node `net` over a Unix domain socket.
//
//   node bench/throughput.mjs [--quick] [--out DIR] [--seconds S] [--repeat R] [--messages M]
//                             [--sizes 64,1024] [--subscribers 1,4] [--transports ringcast,uds]
//
// Every case gets a fresh bus or server and fresh subscriber processes. The
// publisher sends batches of BATCH messages for about --seconds (or exactly
// --messages), then ends the stream; each subscriber counts what it got and
// reports on stdout. The time of a case runs from the first message sent to
// the moment the last subscriber saw the end of the stream (right after its
// last message); both ends read CLOCK_MONOTONIC (process.hrtime), which is
// shared by every process on the host.
//
// Child mode (internal): node bench/throughput.mjs --child <transport> <path> <size>

import { execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ringcast is imported only where it is used, so the socket cases (and their
// subscriber processes) never load the addon.
const ringcast = () => import('../dist/index.js');

const SELF = fileURLToPath(import.meta.url);
const BATCH = 256;
const CAPACITY = 4 << 20;
const HEADER = 4; // u32 LE length prefix of a socket frame
const POOL_BYTES = 8 << 20; // distinct message buffers cycled through, at most this many bytes
const TRANSPORTS = ['ringcast', 'ringcast-zerocopy', 'uds', 'uds-corked'];
const READY_TIMEOUT_MS = 20_000;
const CASE_TIMEOUT_MS = 120_000;

const now = () => process.hrtime.bigint();

// ---------------------------------------------------------------------------
// Subscriber processes

async function child(transport, path, size) {
  const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  let count = 0;
  let badLength = 0;
  let first = 0n;
  let cpu0, usage0; // taken when ready: only the receiving is counted
  const ready = () => {
    cpu0 = process.cpuUsage();
    usage0 = process.resourceUsage();
    out({ ready: true });
  };

  if (transport === 'ringcast' || transport === 'ringcast-zerocopy') {
    const { Subscriber } = await ringcast();
    const subscriber = await Subscriber.connect({ path });
    ready();
    if (transport === 'ringcast') {
      for await (const message of subscriber) {
        if (count === 0) first = now();
        if (message.length !== size) badLength++;
        count++;
      }
    } else {
      let ended = false;
      subscriber.on('end', () => (ended = true));
      const handler = (view) => {
        if (view.length !== size) badLength++;
        count++;
      };
      for (;;) {
        if (count === 0) {
          if (subscriber.poll(handler) > 0) first = now();
          else if (ended) break;
          else await subscriber.readable();
          continue;
        }
        if (subscriber.poll(handler) === 0) {
          if (ended) break;
          await subscriber.readable();
        }
      }
    }
    const end = now();
    await subscriber.close();
    out(result(end));
    return;
  }

  // uds / uds-corked: the subscriber side is the same; parse length-prefixed frames.
  const socket = net.createConnection(path);
  socket.on('connect', ready);
  let pending = []; // chunks of an incomplete frame
  let pendingLength = 0;
  let want = 0; // bytes needed before the pending frame can be parsed
  socket.on('data', (chunk) => {
    if (pendingLength > 0) {
      pending.push(chunk);
      pendingLength += chunk.length;
      if (pendingLength < want) return;
      chunk = Buffer.concat(pending, pendingLength);
      pending = [];
      pendingLength = 0;
    }
    let offset = 0;
    for (;;) {
      const rest = chunk.length - offset;
      if (rest < HEADER) {
        if (rest > 0) keep(chunk.subarray(offset), HEADER);
        return;
      }
      const length = chunk.readUInt32LE(offset);
      if (rest < HEADER + length) {
        keep(chunk.subarray(offset), HEADER + length);
        return;
      }
      const message = chunk.subarray(offset + HEADER, offset + HEADER + length);
      if (count === 0) first = now();
      if (message.length !== size) badLength++;
      count++;
      offset += HEADER + length;
    }
  });
  function keep(part, need) {
    pending = [part];
    pendingLength = part.length;
    want = need;
  }
  socket.on('end', () => {
    const end = now();
    if (pendingLength > 0) badLength++; // a torn frame at the end
    out(result(end));
    socket.end();
  });
  socket.on('error', (error) => {
    out({ error: `${error.code ?? 'ERROR'}: ${error.message}`, count });
    process.exitCode = 1;
  });

  function result(end) {
    const cpu = process.cpuUsage(cpu0);
    const usage = process.resourceUsage();
    return {
      count,
      badLength,
      firstNs: String(first),
      endNs: String(end),
      elapsedMs: first ? Number(end - first) / 1e6 : 0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      minorFaults: usage.minorPageFault - usage0.minorPageFault,
      sleeps: usage.voluntaryContextSwitches - usage0.voluntaryContextSwitches,
    };
  }
}

// ---------------------------------------------------------------------------
// Publisher side

function spawnSubscribers(transport, path, size, n) {
  return Array.from({ length: n }, () => {
    const proc = spawn(process.execPath, [SELF, '--child', transport, path, String(size)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const state = { proc, lines: [], ready: null, done: null };
    state.ready = new Promise((resolveReady, rejectReady) => {
      state.done = new Promise((resolveDone) => {
        let buffered = '';
        proc.stdout.setEncoding('utf8');
        proc.stdout.on('data', (text) => {
          buffered += text;
          let nl;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            let obj;
            try {
              obj = JSON.parse(line);
            } catch {
              continue;
            }
            if (obj.ready) resolveReady();
            else state.lines.push(obj);
          }
        });
        proc.on('close', (code, signal) => {
          const said = state.lines.find((line) => line.error)?.error;
          rejectReady(new Error(`subscriber process exited (code ${code}, signal ${signal}) before it was ready${said ? `: ${said}` : ''}`));
          const last = state.lines.at(-1);
          resolveDone(last ? { ...last, exitCode: code } : { error: `no result (exit code ${code}, signal ${signal})`, exitCode: code });
        });
      });
    });
    state.ready.catch(() => undefined);
    return state;
  });
}

function timeout(ms, what) {
  let timer;
  const promise = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  promise.clear = () => clearTimeout(timer);
  promise.catch(() => undefined);
  return promise;
}

function messagePool(size) {
  const distinct = Math.max(1, Math.min(BATCH, Math.floor(POOL_BYTES / size)));
  const payloads = [];
  const frames = [];
  for (let i = 0; i < distinct; i++) {
    const frame = Buffer.allocUnsafeSlow(HEADER + size);
    frame.writeUInt32LE(size, 0);
    randomFillSync(frame, HEADER);
    frames.push(frame);
    payloads.push(Buffer.from(frame.subarray(HEADER))); // its own copy, same bytes
  }
  // One batch: BATCH entries cycling through the distinct buffers.
  return {
    payloads: Array.from({ length: BATCH }, (_, i) => payloads[i % distinct]),
    frames: Array.from({ length: BATCH }, (_, i) => frames[i % distinct]),
  };
}

/** Sends batches until the budget is spent; returns [messages sent, start time]. */
async function sendLoop(budget, sendBatch) {
  const deadline = performance.now() + budget.seconds * 1000;
  let sent = 0;
  const start = now();
  for (;;) {
    let count = BATCH;
    if (budget.messages) count = Math.min(BATCH, budget.messages - sent);
    await sendBatch(count);
    sent += count;
    if (budget.messages ? sent >= budget.messages : performance.now() >= deadline) break;
  }
  return { sent, start };
}

async function runRingcast(transport, path, size, n, budget) {
  const { payloads } = messagePool(size);
  const { Publisher } = await ringcast();
  const publisher = await Publisher.listen({ path, capacity: CAPACITY });
  const subs = spawnSubscribers(transport, path, size, n);
  try {
    const attached = new Promise((resolveAttached) => {
      const check = () => {
        if (publisher.subscriberCount >= n) {
          publisher.off('subscribe', check);
          resolveAttached();
        }
      };
      publisher.on('subscribe', check);
      check();
    });
    const limit = timeout(READY_TIMEOUT_MS, `${n} subscribers to attach`);
    await Promise.race([Promise.all([attached, ...subs.map((s) => s.ready)]), limit]);
    limit.clear();

    const usage0 = process.resourceUsage();
    const { sent, start } = await sendLoop(budget, (count) =>
      publisher.publishBatch(count === BATCH ? payloads : payloads.slice(0, count)),
    );
    await publisher.close(); // subscribers drain what was committed, then see the end
    return await collect(subs, sent, start, usage0);
  } finally {
    for (const s of subs) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
    await publisher.close();
  }
}

async function runSocket(transport, path, size, n, budget) {
  const { frames } = messagePool(size);
  const corked = transport === 'uds-corked';
  const sockets = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined); // surfaced through the drain wait and the subscriber's report
    server.emit('peer');
  });
  server.listen(path);
  await once(server, 'listening');
  const subs = spawnSubscribers(transport, path, size, n);
  try {
    const connected = new Promise((resolveConnected) => {
      const check = () => sockets.length >= n && resolveConnected();
      server.on('peer', check);
      check();
    });
    const limit = timeout(READY_TIMEOUT_MS, `${n} subscribers to connect`);
    await Promise.race([Promise.all([connected, ...subs.map((s) => s.ready)]), limit]);
    limit.clear();

    const drain = (socket) => {
      if (socket.destroyed) throw new Error('a subscriber socket was destroyed');
      return once(socket, 'drain');
    };
    const sendBatch = corked
      ? async (count) => {
          let blocked = null;
          for (const socket of sockets) {
            socket.cork();
            let ok = true;
            for (let i = 0; i < count; i++) ok = socket.write(frames[i]);
            socket.uncork();
            if (!ok) (blocked ??= []).push(socket);
          }
          if (blocked) await Promise.all(blocked.map(drain));
        }
      : async (count) => {
          for (let i = 0; i < count; i++) {
            const frame = frames[i];
            let blocked = null;
            for (const socket of sockets) if (!socket.write(frame)) (blocked ??= []).push(socket);
            if (blocked) await Promise.all(blocked.map(drain));
          }
        };
    const usage0 = process.resourceUsage();
    const { sent, start } = await sendLoop(budget, sendBatch);
    for (const socket of sockets) socket.end();
    return await collect(subs, sent, start, usage0);
  } finally {
    for (const s of subs) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
    for (const socket of sockets) socket.destroy();
    server.close();
  }
}

async function collect(subs, sent, start, usage0) {
  const usage = process.resourceUsage(); // the publisher's work ends here: the rest is waiting
  const publisher = {
    cpuMs: (usage.userCPUTime + usage.systemCPUTime - usage0.userCPUTime - usage0.systemCPUTime) / 1000,
    minorFaults: usage.minorPageFault - usage0.minorPageFault,
    sleeps: usage.voluntaryContextSwitches - usage0.voluntaryContextSwitches,
  };
  const limit = timeout(CASE_TIMEOUT_MS, 'the subscribers to finish');
  const reports = await Promise.race([Promise.all(subs.map((s) => s.done)), limit]);
  limit.clear();
  const problems = [];
  reports.forEach((r, i) => {
    if (r.error) problems.push(`subscriber ${i}: ${r.error}`);
    else if (r.count !== sent) problems.push(`subscriber ${i} got ${r.count} of ${sent} messages`);
    if (r.badLength) problems.push(`subscriber ${i}: ${r.badLength} messages of the wrong length`);
    if (r.exitCode !== 0 && !r.error) problems.push(`subscriber ${i} exited with code ${r.exitCode}`);
  });
  const ends = reports.filter((r) => r.endNs).map((r) => BigInt(r.endNs));
  const end = ends.length ? ends.reduce((a, b) => (a > b ? a : b)) : now();
  const seconds = Number(end - start) / 1e9;
  return {
    ok: problems.length === 0,
    problems,
    messages: sent,
    seconds,
    publisher,
    subscriberCpuMs: reports.map((r) => r.cpuMs ?? null),
    subscriberElapsedMs: reports.map((r) => r.elapsedMs ?? null),
    subscriberMinorFaults: reports.map((r) => r.minorFaults ?? null),
    subscriberSleeps: reports.map((r) => r.sleeps ?? null),
  };
}

async function runCase(transport, n, size, budget) {
  const dir = mkdtempSync(join(os.tmpdir(), 'ringcast-bench-'));
  const path = join(dir, 'bus.sock');
  try {
    const run = transport.startsWith('ringcast') ? runRingcast : runSocket;
    return await run(transport, path, size, n, budget);
  } catch (error) {
    return { ok: false, problems: [error instanceof Error ? error.message : String(error)], messages: 0, seconds: 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function withoutStatus({ ok, problems, ...figures }) {
  return figures;
}

/** One run's figures: per-subscriber rates, and CPU, faults and sleeps per message. */
function summarize(r, size) {
  const mean = (list) => {
    const xs = (list ?? []).filter((x) => x !== null);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  };
  const perMessage = (x) => (x === null || x === undefined || !r.messages ? null : Number((x / r.messages).toPrecision(3)));
  const round = (x, digits) => (x === null ? null : Number(x.toFixed(digits)));
  const msgsPerSec = r.ok ? r.messages / r.seconds : 0;
  const subCpuMs = mean(r.subscriberCpuMs);
  return {
    ok: r.ok,
    problems: r.problems,
    msgsPerSec: Math.round(msgsPerSec),
    mbPerSec: round((msgsPerSec * size) / 1e6, 2),
    messages: r.messages,
    seconds: round(r.seconds, 4),
    publisherCpuPct: r.publisher && r.seconds ? round(r.publisher.cpuMs / 10 / r.seconds, 1) : null,
    subscriberCpuPct: subCpuMs !== null && r.seconds ? round(subCpuMs / 10 / r.seconds, 1) : null,
    // CPU time, minor page faults and voluntary context switches (sleeps) per message sent;
    // subscriber figures are the mean over the subscribers.
    publisherCpuNsPerMsg: perMessage(r.publisher ? r.publisher.cpuMs * 1e6 : null),
    subscriberCpuNsPerMsg: perMessage(subCpuMs === null ? null : subCpuMs * 1e6),
    publisherFaultsPerMsg: perMessage(r.publisher?.minorFaults),
    subscriberFaultsPerMsg: perMessage(mean(r.subscriberMinorFaults)),
    publisherSleepsPerMsg: perMessage(r.publisher?.sleeps),
    subscriberSleepsPerMsg: perMessage(mean(r.subscriberSleeps)),
    loadAvg1: round(os.loadavg()[0], 2), // this benchmark's own processes count too
  };
}

// ---------------------------------------------------------------------------
// Reporting

function fmtSize(size) {
  if (size >= 1 << 20 && size % (1 << 20) === 0) return `${size >> 20} MiB`;
  if (size >= 1024 && size % 1024 === 0) return `${size >> 10} KiB`;
  return `${size} B`;
}

function fmtRate(x) {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(0);
}

function fmtMB(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    arch: process.arch,
    totalMemory: os.totalmem(),
    loadAvgBefore: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Share of CPU time idle over `ms` (Linux /proc/stat), to show how busy the machine was; null elsewhere. */
async function idleShare(ms) {
  const sample = () => {
    try {
      const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
      return { total: fields.reduce((a, b) => a + b, 0), idle: fields[3] + fields[4] };
    } catch {
      return null;
    }
  };
  const a = sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = sample();
  if (!a || !b || b.total === a.total) return null;
  return Number(((b.idle - a.idle) / (b.total - a.total)).toFixed(2));
}

/** The commit measured, and whether the sources that make dist/ and the addon differ from it. */
function revision() {
  const git = (...args) => execFileSync('git', args, { cwd: join(SELF, '..', '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return { commit: git('rev-parse', '--short=12', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'native/src', 'native/binding', 'native/include', 'binding.gyp') !== '' };
  } catch {
    return { commit: 'unknown', dirty: null };
  }
}

function markdown(doc) {
  const { machine, results, transports } = doc;
  const lines = [];
  lines.push('# Benchmarks', '');
  lines.push('> Generated by `npm run bench` (`bench/throughput.mjs`); regenerated on every run — edit the script, not this file.', '');
  lines.push(
    '**First figures; the full suite with zeromq/NATS/C limits comes with the benchmark issue.**',
    '',
  );
  lines.push('## Method', '');
  lines.push(
    `- Scenario \`fanout\`: one publisher in the parent process, N subscriber **processes** (spawned with \`child_process\`), every subscriber receives every message. Fresh bus/server and fresh processes for every case.`,
    `- \`ringcast\`: publisher \`publishBatch()\` with batches of ${BATCH} messages, ring capacity ${CAPACITY >> 20} MiB; subscriber uses the copy API (\`for await (const m of subscriber)\`), default options (no spinning before sleeping).`,
    `- \`ringcast-zerocopy\`: same publisher; subscriber calls \`poll()\` in a loop and awaits \`readable()\` when it returns 0.`,
    `- \`uds\`: Node \`net\` over a Unix domain socket, one socket per subscriber, fan-out = one \`write()\` per message per subscriber of a ${HEADER}-byte length prefix + payload (one buffer), subscriber parses the frames; \`await 'drain'\` whenever a write returns false.`,
    `- \`uds-corked\`: same, with \`cork()\`/\`uncork()\` around each batch of ${BATCH} messages per socket.`,
    `- Messages are taken from a pool of pre-filled random buffers (the same bytes for every transport); subscribers check the count and the length of every message, and a case fails if any subscriber did not get exactly the number sent.`,
    `- The publisher sends for about ${doc.budget.messages ? `${doc.budget.messages} messages` : `${doc.budget.seconds} s (the message count follows from the rate; it is in the JSON)`} per run, then ends the stream. Every case runs ${doc.repeat} time${doc.repeat === 1 ? '' : 's'}, the transports of one size taking turns, and the table shows the median run (all runs' rates are in the JSON). Time runs from the first message sent to the moment the last subscriber saw the end of the stream (right after its last message), both read from CLOCK_MONOTONIC (\`process.hrtime\`).`,
    `- Subscribers look only at each message's length: the copy API copies every message out of the ring and the sockets copy through the kernel, but \`ringcast-zerocopy\` touches no payload byte, so at large sizes it measures the ring's coordination, not memory bandwidth.`,
    `- Figures are **per subscriber**: msg/s and MB/s (MB = 10^6 bytes of payload; the socket's 4-byte prefix is not counted). The aggregate delivered rate is N times that.`,
    `- Noisy shared machine: other jobs may run tests at the same time, and the host moves the vCPUs near/far for minutes at a time; compare transports within one run only. Load average before the run: ${machine.loadAvgBefore.join(', ')} (CPU idle ${machine.idleBefore === null ? 'unknown' : `${Math.round(machine.idleBefore * 100)}%`} in the second before it); after: ${machine.loadAvgAfter.join(', ')}.`,
    '',
  );
  lines.push('## Machine', '');
  lines.push(`- CPU: ${machine.cpu}, ${machine.cores} cores (${machine.arch})`);
  lines.push(`- Node.js ${machine.node}, kernel ${machine.kernel}`);
  lines.push(`- Date: ${doc.date}`);
  lines.push(`- ringcast: commit ${doc.source.commit}${doc.source.dirty ? ' with uncommitted changes to the sources of dist/ or the addon' : ''}`, '');
  const counts = [...new Set(results.map((r) => r.subscribers))];
  const sizes = [...new Set(results.map((r) => r.size))];
  for (const n of counts) {
    lines.push(`## Fan-out to ${n} subscriber process${n === 1 ? '' : 'es'} (per subscriber)`, '');
    lines.push(`| size | ${transports.join(' | ')} |`);
    lines.push(`|---|${transports.map(() => '---:').join('|')}|`);
    for (const size of sizes) {
      const cells = transports.map((t) => {
        const r = results.find((x) => x.subscribers === n && x.size === size && x.transport === t);
        if (!r) return '—';
        if (!r.ok) return '**FAILED**';
        return `${fmtRate(r.msgsPerSec)} msg/s · ${fmtMB(r.mbPerSec)} MB/s`;
      });
      lines.push(`| ${fmtSize(size)} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    lines.push('## Failed cases', '');
    for (const r of failed) lines.push(`- ${r.transport}, N=${r.subscribers}, ${fmtSize(r.size)}: ${r.problems.join('; ')}`);
    lines.push('');
  }
  lines.push('Raw figures (messages per case, seconds, CPU time of publisher and subscribers): [`benchmarks.json`](benchmarks.json).', '');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Main

function parseList(text, flag) {
  return text.split(',').map((x) => {
    const v = Number(x.trim().replace(/k$/i, '') ) * (/k$/i.test(x.trim()) ? 1024 : 1);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${flag}: bad value ${JSON.stringify(x)}`);
    return v;
  });
}

function parseArgs(argv) {
  const opts = { quick: false, out: 'docs', seconds: null, repeat: null, messages: null, sizes: null, subscribers: null, transports: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--out') opts.out = value();
    else if (arg === '--seconds') opts.seconds = Number(value());
    else if (arg === '--repeat') opts.repeat = Number(value());
    else if (arg === '--messages') opts.messages = parseList(value(), '--messages')[0];
    else if (arg === '--sizes') opts.sizes = parseList(value(), '--sizes');
    else if (arg === '--subscribers') opts.subscribers = parseList(value(), '--subscribers');
    else if (arg === '--transports') opts.transports = value().split(',');
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: node bench/throughput.mjs [--quick] [--out DIR] [--seconds S] [--repeat R] [--messages M] [--sizes 64,1k,16k] [--subscribers 1,4] [--transports ringcast,ringcast-zerocopy,uds,uds-corked]');
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  if (opts.seconds !== null && !(opts.seconds > 0)) throw new Error('--seconds must be > 0');
  if (opts.repeat !== null && !(Number.isInteger(opts.repeat) && opts.repeat >= 1)) throw new Error('--repeat must be an integer >= 1');
  for (const t of opts.transports ?? []) if (!TRANSPORTS.includes(t)) throw new Error(`unknown transport ${t}`);
  for (const n of opts.subscribers ?? []) if (n > 64) throw new Error('--subscribers: at most 64');
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const sizes = opts.sizes ?? (opts.quick ? [64, 16 << 10] : [64, 1 << 10, 16 << 10, 256 << 10]);
  const counts = opts.subscribers ?? [1, 4];
  const transports = opts.transports ?? TRANSPORTS;
  const budget = { seconds: opts.seconds ?? (opts.quick ? 0.4 : 0.6), messages: opts.messages };
  const repeat = opts.repeat ?? (opts.quick ? 1 : 3);
  const outDir = resolve(opts.out);
  const machine = machineInfo();
  const date = new Date().toISOString();
  const source = revision();
  machine.idleBefore = await idleShare(1000);

  console.log(`ringcast ${source.commit}${source.dirty ? ' (dirty)' : ''} fan-out throughput — ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.kernel}`);
  console.log(`load average ${machine.loadAvgBefore.join(' ')}, CPU idle ${machine.idleBefore === null ? '?' : `${Math.round(machine.idleBefore * 100)}%`} over the last second; ${budget.messages ? `${budget.messages} messages` : `~${budget.seconds} s`} per run, median of ${repeat} run${repeat === 1 ? '' : 's'} (spread: half the min–max range); per-subscriber figures\n`);
  const header = ['N', 'size', 'transport', 'messages', 'seconds', 'msg/s', 'MB/s', 'spread', 'pub cpu', 'sub cpu'];
  const widths = [3, 8, 18, 10, 8, 10, 9, 6, 8, 8];
  const row = (cells) => cells.map((c, i) => (i < 3 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(row(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));

  const results = [];
  const t0 = performance.now();
  // Counts and sizes outside, repetitions next, transports inside: the transports of one size run
  // close together in time and take turns, so a burst of noise does not land on one transport only.
  for (const n of counts) {
    for (const size of sizes) {
      const runs = new Map(transports.map((t) => [t, []]));
      for (let rep = 0; rep < repeat; rep++) {
        for (const transport of transports) runs.get(transport).push(summarize(await runCase(transport, n, size, budget), size));
      }
      for (const transport of transports) {
        const list = runs.get(transport);
        const failed = list.filter((r) => !r.ok);
        // The median run by throughput stands for the case; all runs' rates are kept.
        const ordered = list.filter((r) => r.ok).sort((a, b) => a.msgsPerSec - b.msgsPerSec);
        const median = ordered[(ordered.length - 1) >> 1];
        const rates = list.map((r) => (r.ok ? r.msgsPerSec : null));
        const result = {
          scenario: 'fanout',
          transport,
          subscribers: n,
          size,
          ...(failed.length === 0 ? withoutStatus(median) : { msgsPerSec: 0, mbPerSec: 0, messages: failed[0].messages }),
          runsMsgsPerSec: rates,
          ok: failed.length === 0,
          ...(failed.length ? { problems: failed.flatMap((r) => r.problems) } : {}),
        };
        results.push(result);
        if (result.ok) {
          const lo = ordered[0].msgsPerSec;
          const hi = ordered.at(-1).msgsPerSec;
          console.log(
            row([
              n,
              fmtSize(size),
              transport,
              result.messages,
              result.seconds.toFixed(3),
              fmtRate(result.msgsPerSec),
              fmtMB(result.mbPerSec),
              repeat > 1 ? `±${Math.round(((hi - lo) / 2 / result.msgsPerSec) * 100)}%` : '',
              result.publisherCpuPct === null ? '' : `${result.publisherCpuPct.toFixed(0)}%`,
              result.subscriberCpuPct === null ? '' : `${result.subscriberCpuPct.toFixed(0)}%`,
            ]),
          );
        } else {
          console.log(row([n, fmtSize(size), transport, result.messages, '', 'FAILED', '', '', '', '']));
          for (const p of result.problems) console.error(`  !! FAILED ${transport} N=${n} ${fmtSize(size)}: ${p}`);
          process.exitCode = 1;
        }
      }
    }
  }
  machine.loadAvgAfter = os.loadavg().map((x) => Number(x.toFixed(2)));
  const doc = { date, source, machine, budget, repeat, batch: BATCH, capacity: CAPACITY, transports, results };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'benchmarks.json'), `${JSON.stringify(doc, null, 2)}\n`);
  writeFileSync(join(outDir, 'benchmarks.md'), markdown(doc));
  const failed = results.filter((r) => !r.ok).length;
  console.log(`\n${results.length} cases × ${repeat} run${repeat === 1 ? "" : "s"} in ${((performance.now() - t0) / 1000).toFixed(1)} s${failed ? `, ${failed} FAILED` : ''}; wrote ${join(outDir, 'benchmarks.json')} and benchmarks.md`);
}

if (process.argv[2] === '--child') {
  const [, , , transport, path, size] = process.argv;
  child(transport, path, Number(size)).catch((error) => {
    process.stdout.write(`${JSON.stringify({ error: `${error?.code ?? 'ERROR'}: ${error?.message ?? error}` })}\n`);
    process.exitCode = 1;
  });
} else {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
