// Shared by the benchmark harness, its case processes and its subscriber
// processes: the wire between them (one JSON object per stdout line), the
// message pool, CPU accounting and the machine's description.
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** Where the process entry of every benchmark child lives. */
export const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
/** Package root: dist/ (the library) and native/ (the C limits) are found from here. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** u32 LE length prefix of a stream-socket frame (uds, uds-corked, tcp). */
export const FRAME_HEADER = 4;
/** Messages per publishBatch / cork / flush; smaller for big messages so a batch stays near RING_CAPACITY. */
export const BATCH = 256;
/** ringcast ring data area for every case (4 MiB: the size the design measured best at N = 4). */
export const RING_CAPACITY = 4 << 20;
/** Distinct message buffers are cycled through, at most this many bytes of them. */
const POOL_BYTES = 8 << 20;

export const now = () => process.hrtime.bigint();

/** The middle value of `xs` (the upper of the two middle ones for an even count); NaN for none. */
export function median(xs) {
  return xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1] : NaN;
}

/** Messages per batch at `size` bytes: whole batches of about a ring's worth, never fewer than 1. */
export function batchFor(size) {
  return Math.max(1, Math.min(BATCH, Math.floor(RING_CAPACITY / size)));
}

/**
 * One batch of messages, the same random bytes for every transport: `payloads`
 * (for message transports) and `frames` (the same bytes behind a length prefix,
 * for stream sockets). Entries cycle through at most POOL_BYTES of distinct buffers.
 */
export function messagePool(size) {
  const count = batchFor(size);
  const distinct = Math.max(1, Math.min(count, Math.floor(POOL_BYTES / size)));
  const payloads = [];
  const frames = [];
  for (let i = 0; i < distinct; i++) {
    const frame = Buffer.allocUnsafeSlow(FRAME_HEADER + size);
    frame.writeUInt32LE(size, 0);
    randomFillSync(frame, FRAME_HEADER);
    frames.push(frame);
    payloads.push(frame.subarray(FRAME_HEADER));
  }
  return {
    count,
    payloads: Array.from({ length: count }, (_, i) => payloads[i % distinct]),
    frames: Array.from({ length: count }, (_, i) => frames[i % distinct]),
  };
}

/** This process's CPU time (user + system) in nanoseconds. */
export function cpuNs() {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

/** Another process's CPU time in nanoseconds from /proc (null where there is none). */
export function processCpuNs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1e9) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
// USER_HZ: 100 on every Linux architecture Node supports.
const CLOCK_TICKS = 100;

/** Writes one result line for the parent. */
export function report(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/**
 * RINGCAST_BENCH_PIN=cross|same, as bench/c/limits.c reads it: the latency
 * cases' pinger on CPU 0, the pong side on CPU 1 (`cross`) or also on 0
 * (`same`), with taskset (util-linux). Unset (the default): null, the
 * scheduler places them. Where it puts the two sides decides a woken round
 * trip's p50 (a context switch on one CPU, a wake-up from halt across two).
 */
export function latencyCpu(side) {
  const pin = process.env.RINGCAST_BENCH_PIN;
  if (pin !== 'cross' && pin !== 'same') return null;
  return side === 'pong' && pin === 'cross' ? '1' : '0';
}

/**
 * Spawns `node bench/child.mjs <role> <json>` and follows its stdout lines:
 * `ready` resolves at its first {ready} line, `done` with its last other line
 * once it exited. `detached` makes it a process group leader (a case process:
 * its subscribers die with it when the harness kills the group).
 */
export function spawnChild(role, args, { detached = false } = {}) {
  // RINGCAST_BENCH_NODE_FLAGS: node flags for the subscriber and pong processes of a case, to profile
  // them (e.g. "--cpu-prof --cpu-prof-dir=DIR"; their stdout is the wire, so nothing that prints there).
  const flags = (process.env.RINGCAST_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const cpu = role === 'pong' ? latencyCpu('pong') : null;
  const command = [...(cpu === null ? [] : ['taskset', '-c', cpu]), process.execPath, ...(role === 'case' ? [] : flags), CHILD, role, JSON.stringify(args)];
  const proc = spawn(command[0], command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  const lines = [];
  const events = [];
  let stderr = '';
  let onLine = null;
  proc.stderr.setEncoding('utf8').on('data', (text) => {
    if (stderr.length < 8192) stderr += text;
  });
  const ready = new Promise((resolveReady, rejectReady) => {
    let buffered = '';
    proc.stdout.setEncoding('utf8').on('data', (text) => {
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
        if (obj.ready) resolveReady(obj);
        else if (obj.event) {
          events.push(obj);
          onLine?.(obj);
        } else lines.push(obj);
      }
    });
    proc.on('close', (code, signal) => rejectReady(new Error(`${role} process exited (code ${code}, signal ${signal}) before it was ready${tail(stderr)}`)));
  });
  ready.catch(() => undefined);
  const done = new Promise((resolveDone) => {
    proc.on('close', (code, signal) => {
      const last = lines.at(-1);
      if (last && code === 0) resolveDone(last);
      else resolveDone({ error: last?.error ?? `${role} process exited (code ${code}, signal ${signal})${tail(stderr)}`, ...last });
    });
  });
  return {
    proc,
    ready,
    done,
    events,
    onEvent(fn) {
      onLine = fn;
    },
    kill(signal = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
}

function tail(stderr) {
  const text = stderr.trim();
  return text ? `: ${text.split('\n').slice(-3).join(' | ')}` : '';
}

/** A promise that rejects after `ms` (clear() disarms it). */
export function timeout(ms, what) {
  let timer;
  const promise = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  promise.clear = () => clearTimeout(timer);
  promise.catch(() => undefined);
  return promise;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU model, cores, Node, kernel, and how busy the machine was. */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    arch: process.arch,
    totalMemoryBytes: os.totalmem(),
  };
}

/** Share of CPU time idle over `ms` (/proc/stat); null where unavailable. */
export async function idleShare(ms) {
  const sample = () => {
    try {
      const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
      return { total: fields.reduce((a, b) => a + b, 0), idle: fields[3] + fields[4] };
    } catch {
      return null;
    }
  };
  const a = sample();
  await sleep(ms);
  const b = sample();
  if (!a || !b || b.total === a.total) return null;
  return Number(((b.idle - a.idle) / (b.total - a.total)).toFixed(2));
}

export function fmtSize(size) {
  if (size >= 1 << 20 && size % (1 << 20) === 0) return `${size >> 20} MiB`;
  if (size >= 1024 && size % 1024 === 0) return `${size >> 10} KiB`;
  return `${size} B`;
}

export function fmtRate(x) {
  if (x === null || x === undefined) return '—';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(0);
}

export function fmtMB(x) {
  if (x === null || x === undefined) return '—';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function fmtNs(ns) {
  if (ns === null || ns === undefined) return '—';
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${Math.round(ns)} ns`;
}
