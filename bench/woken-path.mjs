// The path of a read woken by the doorbell, in one process, for a profile or
// an instruction count that the machine's load cannot change:
//
//   node bench/woken-path.mjs <read> <wakes>
//   valgrind --tool=callgrind node --single-threaded bench/woken-path.mjs <read> <wakes>
//
// <read>: `recv` (recv()) or `iterate` (a step of for await). Each wake-up
// parks a read (nothing is there), publishes one 64-byte message, which rings
// our own doorbell, and awaits the read: the event loop's wake-up, the
// doorbell's callback, the read, the promise, the next wait's announcement
// and the publish, as one side of the woken round trip does them, without
// the other process's wake-up. Prints {"read", "wakes", "nsPerWake"} for the
// wakes after the first 2000 (JIT warm-up). Under callgrind, run two lengths
// and divide the difference of the totals by the difference of the wakes:
// instructions per wake (about 10 900 for recv and 10 400 for iterate;
// 13 100 and 12 700 while a read of one message went through the queue;
// 12 700 for recv and 12 100 for iterate in an earlier count;
// 15 200 and 15 800 while the wait's two calls into the addon unwrapped
// their objects and the doorbell's callback dereferenced a WeakRef, 13 200
// for iterate while a step of for await looked twice before it slept; 18 500
// for recv before the doorbell's watcher paused itself and left its ring and
// announcement for the next wait); totals move by a few hundred per wake
// with the JIT's and the collector's timing, so compare several runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Publisher, Subscriber } from '../dist/index.js';

const [read = 'recv', wakesArg = '100000'] = process.argv.slice(2);
if (read !== 'recv' && read !== 'iterate') throw new Error(`usage: node bench/woken-path.mjs recv|iterate <wakes>`);
const wakes = Number(wakesArg);
const WARMUP_WAKES = 2000;
const dir = mkdtempSync(join(tmpdir(), 'ringcast-woken-path-'));
const path = join(dir, 'bus');
const publisher = await Publisher.listen({ path, capacity: 1 << 20 });
const subscriber = await Subscriber.connect({ path });
await publisher.waitForSubscribers(1);
const message = Buffer.alloc(64, 0x5a);
const iterator = subscriber[Symbol.asyncIterator]();
const next = read === 'recv' ? () => subscriber.recv() : () => iterator.next();

let start = 0n;
for (let i = 0; i < WARMUP_WAKES + wakes; i++) {
  if (i === WARMUP_WAKES) start = process.hrtime.bigint();
  const woken = next(); // parked: nothing is there yet
  await publisher.publish(message); // rings our own doorbell
  await woken;
}
const nsPerWake = Number(process.hrtime.bigint() - start) / wakes;
console.log(JSON.stringify({ read, wakes, nsPerWake: Math.round(nsPerWake) }));
await subscriber.close();
await publisher.close();
rmSync(dir, { recursive: true, force: true });
