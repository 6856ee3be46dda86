// Process entry of every benchmark child (internal; the harness spawns it):
//
//   node bench/child.mjs case <json>   one measurement: the publisher (or pinger) side,
//                                      which spawns its own subscriber (or ponger) processes
//   node bench/child.mjs sub <json>    one subscriber of a stream
//   node bench/child.mjs pong <json>   the echo side of a latency measurement
//
// Each prints JSON lines on stdout: {ready: true} once attached, then its
// result as the last line. A case runs in its own process group so the
// harness can end it and all its subscribers at once if it hangs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';


import { cpuNs, latencyCpu, messagePool, now, report, sleep, spawnChild, timeout } from './lib.mjs';
import { openPinger, openPublisher, runPonger, runSubscriber } from './transports.mjs';

const READY_TIMEOUT_MS = 20_000;
/** After a stalled stream, how long healthy subscribers get to drain before they are asked for their counts. */
const DRAIN_GRACE_MS = 1500;
/** A send blocked this long past the deadline counts as stalled. */
const STALL_GRACE_MS = 300;

// ---------------------------------------------------------------------------
// Subscriber process

async function subscriberProcess(args) {
  let count = 0;
  let badLength = 0;
  let first = 0n;
  let readyAt = 0n;
  let cpu0 = 0;
  let usage0 = null;
  const result = (end, terminated = false) => {
    const usage = process.resourceUsage();
    return {
      count,
      badLength,
      terminated,
      readyNs: String(readyAt),
      firstNs: String(first),
      endNs: String(end),
      cpuNs: cpuNs() - cpu0,
      minorFaults: usage0 ? usage.minorPageFault - usage0.minorPageFault : null,
      sleeps: usage0 ? usage.voluntaryContextSwitches - usage0.voluntaryContextSwitches : null,
    };
  };
  // A stalled stream never ends: the case asks for the count so far.
  process.on('SIGTERM', () => {
    report(result(now(), true));
    process.exit(0);
  });
  const size = args.size;
  await runSubscriber(args.transport, args, {
    ready() {
      cpu0 = cpuNs();
      usage0 = process.resourceUsage();
      readyAt = now();
      report({ ready: true });
    },
    message(length) {
      if (count === 0) first = now();
      if (length !== size) badLength++;
      count++;
    },
  });
  report(result(now()));
}

// ---------------------------------------------------------------------------
// Streams: throughput, fan-out, fixed-rate CPU, stuck subscriber

/**
 * One publisher, `subscribers` healthy subscriber processes (+1 stopped with
 * SIGSTOP when `stuck`), sending for `seconds` as fast as it can, or at
 * `rateMbps` (10^6 bits/s of payload) when given.
 */
async function streamRun(args) {
  const { transport, size, subscribers, seconds, rateMbps, stuck, warmupSeconds = 0 } = args;
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-bench-'));
  const pool = messagePool(size);
  let publisher = null;
  const children = [];
  try {
    publisher = await openPublisher(transport, { dir, pool, natsUrl: args.natsUrl, natsPid: args.natsPid, evictAfterMs: stuck ? args.evictAfterMs : undefined });
    const subArgs = { transport, address: publisher.address, size };
    for (let i = 0; i < subscribers; i++) children.push(spawnChild('sub', subArgs));
    const stopped = stuck ? spawnChild('sub', subArgs) : null;
    const everyone = stopped ? [...children, stopped] : children;
    const limit = timeout(READY_TIMEOUT_MS, `${everyone.length} subscribers to attach`);
    await Promise.race([Promise.all([...everyone.map((c) => c.ready), publisher.waitForSubscribers(everyone.length)]), limit]);
    limit.clear();
    // Stuck: alive, attached, never reading again (a frozen process).
    stopped?.proc.kill('SIGSTOP');

    // Full speed: every process reaches its steady state (JIT tiers, heap
    // sizes, socket buffers) before the clocks start; what the warm-up sent
    // is delivered and checked like the rest, but not timed.
    const warmSent = warmupSeconds > 0 && !rateMbps && !stuck ? (await fullSpeedLoop(publisher, pool.count, warmupSeconds)).sent : 0;
    const cpu0 = cpuNs();
    const broker0 = publisher.brokerCpuNs?.() ?? null;
    const usage0 = process.resourceUsage();
    const loop = rateMbps ? pacedLoop : fullSpeedLoop;
    const sending = await loop(publisher, pool.count, seconds, rateMbps ? (rateMbps * 1e6) / 8 / size : 0, stuck);
    let endError = null;
    if (!sending.stalled) {
      await publisher.end().catch((error) => (endError = error));
    }
    const publisherCpuNs = cpuNs() - cpu0;
    const usage = process.resourceUsage();

    // Subscribers finish draining; a stalled stream's never will.
    const reports = await collect(children, sending.stalled ? DRAIN_GRACE_MS : 60_000 + seconds * 4000);
    const broker1 = publisher.brokerCpuNs?.() ?? null;
    stopped?.kill();
    const problems = [];
    if (endError) problems.push(`end of stream: ${endError.message}`);
    reports.forEach((r, i) => {
      if (r.error) problems.push(`subscriber ${i}: ${r.error}`);
      else if (!sending.stalled && r.count !== warmSent + sending.sent) problems.push(`subscriber ${i} got ${r.count} of ${warmSent + sending.sent} messages`);
      if (r.badLength) problems.push(`subscriber ${i}: ${r.badLength} messages of the wrong length`);
    });
    const ends = reports.filter((r) => r.endNs && r.endNs !== '0').map((r) => BigInt(r.endNs));
    const end = ends.length ? ends.reduce((a, b) => (a > b ? a : b)) : now();
    const elapsedSeconds = Number(end - sending.start) / 1e9;
    const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    // The subscribers' own figures cover their whole run, warm-up included.
    const subscriberCpuNs = mean(reports.filter((r) => typeof r.cpuNs === 'number').map((r) => r.cpuNs));
    const subscriberWallNs = mean(reports.filter((r) => r.firstNs && r.firstNs !== '0' && r.endNs && r.endNs !== '0').map((r) => Number(BigInt(r.endNs) - BigInt(r.firstNs))));
    return {
      problems,
      sent: sending.sent,
      warmSent,
      stalled: sending.stalled,
      elapsedSeconds,
      sendSeconds: sending.seconds,
      secondHalfRate: sending.secondHalfRate,
      publisherCpuNs,
      brokerCpuNs: broker0 !== null && broker1 !== null ? broker1 - broker0 : null,
      publisherMinorFaults: usage.minorPageFault - usage0.minorPageFault,
      publisherSleeps: usage.voluntaryContextSwitches - usage0.voluntaryContextSwitches,
      publisherDoorbells: publisher.doorbells?.() ?? null,
      subscriberCpuNs,
      subscriberWallNs,
      subscriberMinorFaults: mean(reports.filter((r) => r.minorFaults !== null && r.minorFaults !== undefined).map((r) => r.minorFaults)),
      subscriberSleeps: mean(reports.filter((r) => r.sleeps !== null && r.sleeps !== undefined).map((r) => r.sleeps)),
      received: reports.map((r) => r.count ?? null),
      evictions: publisher.evictions ? publisher.evictions.map((e) => ({ reason: e.reason, afterMs: Number(BigInt(e.atNs) - sending.start) / 1e6 })) : null,
    };
  } finally {
    for (const child of children) child.kill();
    await publisher?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same stream twice: healthy subscribers alone, then with a stuck one among them. */
async function stuckRun(args) {
  const baseline = await streamRun({ ...args, stuck: false });
  const withStuck = await streamRun({ ...args, stuck: true });
  return { baseline, withStuck };
}

/** Healthy subscribers' final reports; those still running after `ms` are asked (SIGTERM) for their count. */
async function collect(children, ms) {
  const timer = setTimeout(() => {
    for (const child of children) child.kill('SIGTERM');
  }, ms);
  const reports = await Promise.all(children.map((c) => c.done));
  clearTimeout(timer);
  return reports;
}

/**
 * Sends batches until `seconds` have passed. `stoppable`: a send may stall
 * for good (a stuck subscriber on a transport that waits for it); give up at
 * the deadline instead of waiting with it.
 */
async function fullSpeedLoop(publisher, batch, seconds, _rate, stoppable) {
  const start = now();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  const half = start + BigInt(Math.round(seconds * 5e8));
  let sent = 0;
  let sentAtHalf = null;
  let halfAt = 0n;
  let stalled = false;
  let deadlineTimer;
  const deadlineReached = stoppable
    ? new Promise((resolve) => (deadlineTimer = setTimeout(() => resolve('deadline'), seconds * 1000)))
    : null;
  for (;;) {
    const pending = publisher.sendBatch(batch);
    if (pending) {
      if (deadlineReached) {
        // A send still waiting at the deadline gets a grace period: only one
        // that stays blocked means the publisher is stalled.
        if ((await Promise.race([pending, deadlineReached])) === 'deadline' && (await Promise.race([pending, sleep(STALL_GRACE_MS).then(() => 'stalled')])) === 'stalled') {
          pending.catch(() => undefined);
          stalled = true;
          break;
        }
      } else await pending;
    }
    sent += batch;
    const t = now();
    if (sentAtHalf === null && t >= half) {
      sentAtHalf = sent;
      halfAt = t;
    }
    if (t >= deadline) break;
  }
  clearTimeout(deadlineTimer);
  const end = now();
  const secondHalfRate = sentAtHalf === null ? null : (sent - sentAtHalf) / (Number((stalled ? deadline : end) - halfAt) / 1e9);
  return { sent, start, seconds: Number(end - start) / 1e9, stalled, secondHalfRate };
}

/** Sends `rate` messages per second for `seconds`, sleeping between 1 ms ticks (so CPU use is what the rate costs). */
async function pacedLoop(publisher, batch, seconds, rate) {
  const start = now();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let sent = 0;
  for (;;) {
    const t = now();
    if (t >= deadline) break;
    let due = Math.floor((Number(t - start) / 1e9) * rate) - sent;
    while (due > 0) {
      const count = Math.min(batch, due);
      await publisher.sendBatch(count);
      sent += count;
      due -= count;
    }
    await sleep(1);
  }
  return { sent, start, seconds: Number(now() - start) / 1e9, stalled: false, secondHalfRate: null };
}

// ---------------------------------------------------------------------------
// Latency

async function latencyRun({ transport, size, iterations, warmup, seconds, spin, busyPoll, blocking, natsUrl }) {
  const cpu = latencyCpu('ping');
  // All of this process's threads, as taskset pins the pong side's.
  if (cpu !== null) execFileSync('taskset', ['-a', '-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-bench-'));
  let ponger = null;
  let pinger = null;
  try {
    pinger = await openPinger(transport, { dir, size, spin, busyPoll, blocking, natsUrl }, (args) => (ponger = spawnChild('pong', args)));
    const message = Buffer.alloc(size, 0x5a);
    // Each round trip is stored as it comes and sorted afterwards, as the C
    // core's ping-pong does (bench/c/limits.c): the pinger's work between two
    // pings is one store, so the ponger sleeps no longer than its C
    // counterpart (a vCPU woken from a longer halt takes longer to wake).
    const rtt = new Float64Array(iterations);
    const deadline = now() + BigInt(Math.round(seconds * 1e9));
    let done = 0;
    if (pinger.pingSync) {
      // The same loop without an await: a busy-polling or blocking caller never yields.
      const { pingSync } = pinger;
      for (let i = 0; i < warmup; i++) pingSync(message);
      while (done < iterations) {
        const t0 = now();
        pingSync(message);
        rtt[done++] = Number(now() - t0);
        if ((done & 63) === 0 && now() >= deadline) break;
      }
    } else {
      for (let i = 0; i < warmup; i++) await pinger.ping(message);
      while (done < iterations) {
        const t0 = now();
        await pinger.ping(message);
        rtt[done++] = Number(now() - t0);
        if ((done & 63) === 0 && now() >= deadline) break;
      }
    }
    const sorted = rtt.subarray(0, done).sort();
    // The rank rule of bench/c/limits.c's at_percentile(): the smallest sample
    // with at least p% of the samples at or below it.
    const at = (p) => sorted[Math.min(done, Math.max(1, Math.ceil((p / 100) * done - 1e-6))) - 1];
    const percentiles = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];
    return {
      samples: done,
      p50Ns: at(50),
      p99Ns: at(99),
      p999Ns: at(99.9),
      meanNs: Math.round(sorted.reduce((sum, x) => sum + x, 0) / done),
      maxNs: at(100),
      cdf: percentiles.map((p) => [p, at(p)]),
    };
  } finally {
    await pinger?.close().catch(() => undefined);
    if (ponger) await Promise.race([ponger.done, sleep(2000)]);
    ponger?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------

const [role, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}');
try {
  if (role === 'sub') await subscriberProcess(args);
  else if (role === 'pong') await runPonger(args, () => report({ ready: true }));
  else if (role === 'case') report(await (args.scenario === 'latency' ? latencyRun : args.scenario === 'stuck' ? stuckRun : streamRun)(args));
  else throw new Error(`unknown role ${role}`);
  process.exit(0);
} catch (error) {
  report({ error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
