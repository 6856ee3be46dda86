// The path of a read woken by the doorbell, in one process, for a profile or
// an instruction count that the machine's load cannot change:
//
//   node bench/woken-path.mjs <read> <wakes> [relay]
//   valgrind --tool=callgrind node --hash-seed=1 --random-seed=1 --single-threaded bench/woken-path.mjs <read> <wakes> [relay]
//   node bench/woken-path.mjs recvsync <round trips> [paced]
//
// `recvsync`: recvSync() then offer(), the latency scenario's `blocking`
// variant, with a second process (recvSyncRelay, below); prints the round
// trip's time. bench/woken-split.mjs recvsync splits its hops.
//
// <read>: `recv` (recv()) or `iterate` (a step of for await). Each wake-up
// parks a read (nothing is there), publishes one 64-byte message, which rings
// our own doorbell, and awaits the read: the event loop's wake-up, the
// doorbell's callback, the read, the promise, the next wait's announcement
// and the publish, as one side of the woken round trip does them, without
// the other process's wake-up.
//
// `relay`: two buses in this process, two readers, each answering what it
// reads by publishing it on the other bus, in the order a side of the round
// trip does it (bench/transports.mjs, the ringcast pinger and ponger): woken,
// the reply published (which rings the other reader, parked already), then
// the next wait. The wake-up and everything up to the reply's doorbell write
// is a hop's critical path; what follows the write (the rest of publish(),
// the next wait's look and announcement, the loop's other phases, the next
// epoll_pwait) overlaps the other side's wake-up. Counted apart with
// callgrind's --dump-before=<the doorbell callback> and --dump-before=write
// (the only write() in the loop is the doorbell's): each dump holds one part
// of one hop (bench/woken-split.mjs takes the medians).
//
// Prints {"read", "wakes", "nsPerWake"} for the wakes after the first 2000
// (JIT warm-up). Under callgrind, run two lengths (5 000 and 15 000) and
// divide the difference of the totals by the difference of the wakes:
// instructions per wake. Fix V8's seeds: with a random hash seed V8 searches
// for a prime at start-up for a random time (HashSeed::InitializeRoots,
// detail::sprp: 4 to 12 million instructions, up to 800 per wake in the
// difference of two runs). With fixed seeds: about 11 200 for recv and
// 11 300 for iterate now, split in relay (bench/woken-split.mjs) 6 060
// before the reply's write and 6 840 after it for recv, 5 710 and 6 960
// for iterate; 11 330 and 11 080 (7 460 and 5 250, 7 100 and 5 370 in
// relay) while the doorbell's callback was called outside a callback
// scope, so the reader's code waited for the loop's check phase, its
// message was copied from a new view per message and readSmall built a
// Napi::CallbackInfo; 11 400 and 11 000 before the relay shape moved the
// parked wait after the reply; 11 650 and 11 300 while a parked read announced
// its wait and started the doorbell in two calls; 12 150 and 11 750 while a
// read of one message went through the subscriber's queue. Earlier counts,
// with random seeds: 12 700 for recv and 12 100 for iterate; 15 200 and
// 15 800 while the wait's two calls into the addon unwrapped their objects
// and the doorbell's callback dereferenced a WeakRef, 13 200 for iterate
// while a step of for await looked twice before it slept; 18 500 for recv
// before the doorbell's watcher paused itself and left its ring and
// announcement for the next wait. Totals still move by a hundred or two per
// wake with the JIT's and the collector's timing, so compare several runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Publisher, Subscriber } from '../dist/index.js';

const [read = 'recv', wakesArg = '100000', shape = 'self'] = process.argv.slice(2);
const recvSyncRole = { recvsync: 'echo', 'recvsync-pinger': 'pinger' }[read];
if (!recvSyncRole && ((read !== 'recv' && read !== 'iterate') || (shape !== 'self' && shape !== 'relay'))) {
  throw new Error(`usage: node bench/woken-path.mjs recv|iterate <wakes> [relay] | recvsync <wakes>`);
}
const wakes = Number(wakesArg);
const WARMUP_WAKES = 2000;
if (recvSyncRole) {
  await recvSyncRelay(recvSyncRole, Number(wakesArg), shape);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'ringcast-woken-path-'));
const message = Buffer.alloc(64, 0x5a);

/** A bus in this process: its publisher, a subscriber, and that subscriber's read. */
async function bus(name) {
  const path = join(dir, name);
  const publisher = await Publisher.listen({ path, capacity: 1 << 20 });
  const subscriber = await Subscriber.connect({ path });
  await publisher.waitForSubscribers(1);
  const iterator = subscriber[Symbol.asyncIterator]();
  const next = read === 'recv' ? () => subscriber.recv() : () => iterator.next();
  return { publisher, subscriber, next };
}

let start = 0n;
const buses = [await bus('a')];
if (shape === 'self') {
  const [{ publisher, next }] = buses;
  for (let i = 0; i < WARMUP_WAKES + wakes; i++) {
    if (i === WARMUP_WAKES) start = process.hrtime.bigint();
    const woken = next(); // parked: nothing is there yet
    await publisher.publish(message); // rings our own doorbell
    await woken;
  }
} else {
  buses.push(await bus('b'));
  const [a, b] = buses;
  // Each side answers on the other bus, as the round trip's sides do: a hop per message, woken in all.
  const hops = (WARMUP_WAKES + wakes) / 2;
  const side = async (from, to) => {
    let i = 0;
    const answer = async (got) => {
      if (from === a && i === WARMUP_WAKES / 2) start = process.hrtime.bigint();
      await to.publisher.publish(got);
      return ++i === hops;
    };
    if (read === 'iterate') {
      for await (const got of from.subscriber) if (await answer(got)) break;
    } else while (!(await answer(await from.subscriber.recv())));
  };
  const sides = [side(a, b), side(b, a)];
  await a.publisher.publish(message);
  await Promise.all(sides);
  // The last answer went to a reader that no longer reads: take it.
  await a.subscriber.recv();
}
const nsPerWake = Number(process.hrtime.bigint() - start) / wakes;
console.log(JSON.stringify({ read, wakes, shape, nsPerWake: Math.round(nsPerWake) }));
for (const { subscriber, publisher } of buses) {
  await subscriber.close();
  await publisher.close();
}
rmSync(dir, { recursive: true, force: true });

/**
 * `recvsync`: the blocking read (recvSync(), then offer()), as the latency
 * scenario's `blocking` variant does it. A thread blocked in poll() cannot
 * wake itself, so the other side is a child process of its own (this
 * script as `recvsync-pinger`, not under callgrind: valgrind does not trace
 * children), and this process is the echo side: woken out of poll(), it
 * reads and answers, then waits again. Its critical path runs from poll()'s
 * return to the answer's doorbell write (bench/woken-split.mjs recvsync).
 */
async function recvSyncRelay(role, rounds, dirArg, paced = process.argv[5] === 'paced') {
  const { spawn } = await import('node:child_process');
  const { once } = await import('node:events');
  const sideDir = role === 'echo' ? mkdtempSync(join(tmpdir(), 'ringcast-woken-path-')) : dirArg;
  const [mine, theirs] = role === 'echo' ? ['echo', 'ping'] : ['ping', 'echo'];
  const publisher = await Publisher.listen({ path: join(sideDir, mine), capacity: 1 << 20 });
  let child = null;
  if (role === 'echo') {
    // Under callgrind this side is many times slower than the pinger, whose answer would then be
    // there before this side sleeps: `paced`, the pinger waits PACE_MS before each ping.
    child = spawn(process.execPath, [new URL(import.meta.url).pathname, 'recvsync-pinger', String(rounds), sideDir, shape], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  // Each side listens first, then connects to the other's (it may not listen yet).
  let subscriber;
  for (;;) {
    try {
      subscriber = await Subscriber.connect({ path: join(sideDir, theirs) });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  while (publisher.subscriberCount < 1) await once(publisher, 'subscribe');
  // As the latency scenario's `blocking` variant: no time limit (undefined: the other side is gone).
  const receive = () => {
    const got = subscriber.recvSync();
    if (got === undefined) throw new Error('recvsync: the other side is gone');
    return got;
  };
  const offer = (m) => {
    while (!publisher.offer(m));
  };
  const ping = Buffer.alloc(64, 0x5a);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  // The JIT's warm-up (the echo side's code optimized) runs unpaced: PACE_FROM round trips.
  const PACE_MS = 2;
  const PACE_FROM = 30_000;
  let start = 0n;
  if (role === 'pinger') {
    for (let i = 0; i < rounds; i++) {
      if (i === WARMUP_WAKES / 2) start = process.hrtime.bigint();
      if (paced && i >= PACE_FROM) {
        if (i === PACE_FROM) console.error('recvsync: pacing');
        Atomics.wait(pause, 0, 0, PACE_MS);
      }
      offer(ping);
      receive();
    }
    offer(Buffer.alloc(0)); // the end
    const nsPerRound = Number(process.hrtime.bigint() - start) / (rounds - WARMUP_WAKES / 2);
    console.log(JSON.stringify({ read: 'recvsync', rounds, nsPerRoundTrip: Math.round(nsPerRound) }));
  } else {
    for (;;) {
      const got = receive();
      if (got === null || got.length === 0) break;
      offer(got);
    }
  }
  await subscriber.close();
  await publisher.close();
  if (child) {
    if (child.exitCode === null) await once(child, 'exit');
    rmSync(sideDir, { recursive: true, force: true });
  }
}
