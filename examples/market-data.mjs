// Market-data fan-out: one publisher process writes each tick once into a
// shared ring; several subscriber processes each keep their own book of the
// last price per symbol. At the end every book must equal the publisher's.
//
//   node examples/market-data.mjs [--subscribers 3] [--ticks 200000]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Publisher, Subscriber } from 'ringcast';

const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOG', 'META', 'TSLA', 'ORCL'];
/** A tick on the wire: u32 sequence, u32 symbol index, f64 price, u32 size, u32 reserved. */
const TICK_BYTES = 24;
/** Ticks per publishBatch(): one head store, and at most one wake-up per sleeping subscriber, per batch. */
const BATCH = 256;

if (process.argv[2] === 'subscriber') await subscriber(process.argv[3]);
else await publisher();

async function publisher() {
  const { values } = parseArgs({ options: { subscribers: { type: 'string', default: '3' }, ticks: { type: 'string', default: '200000' } } });
  const subscribers = Number(values.subscribers);
  const ticks = Number(values.ticks);
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-market-'));
  const path = join(dir, 'quotes.sock');
  const bus = await Publisher.listen({ path, capacity: 1 << 20 });
  const children = Array.from({ length: subscribers }, () => fork(fileURLToPath(import.meta.url), ['subscriber', path]));
  const reports = children.map((child) => once(child, 'message').then(([report]) => report));
  while (bus.subscriberCount < subscribers) await once(bus, 'subscribe');

  const book = new Map();
  const prices = SYMBOLS.map(() => 100);
  const started = performance.now();
  for (let first = 0; first < ticks; first += BATCH) {
    const batch = [];
    for (let seq = first; seq < Math.min(first + BATCH, ticks); seq++) {
      const symbol = (seq * 7) % SYMBOLS.length;
      prices[symbol] = Math.round((prices[symbol] + Math.sin(seq) * 0.05) * 100) / 100;
      const tick = Buffer.alloc(TICK_BYTES);
      tick.writeUInt32LE(seq, 0);
      tick.writeUInt32LE(symbol, 4);
      tick.writeDoubleLE(prices[symbol], 8);
      tick.writeUInt32LE(100 + (seq % 900), 16);
      batch.push(tick);
      book.set(SYMBOLS[symbol], prices[symbol]);
    }
    await bus.publishBatch(batch); // waits only while the slowest subscriber is a whole ring behind
  }
  await bus.close(); // subscribers read what is left, then their iteration ends
  const seconds = (performance.now() - started) / 1000;

  const results = await Promise.all(reports);
  rmSync(dir, { recursive: true, force: true });
  const expected = JSON.stringify(asObject(book));
  console.log(`${ticks} ticks to ${subscribers} subscriber processes in ${seconds.toFixed(2)} s (${Math.round(ticks / seconds).toLocaleString('en')} ticks/s)`);
  console.table(results.map(({ pid, received, inOrder, book: theirs }) => ({ pid, received, inOrder, 'book matches': JSON.stringify(theirs) === expected })));
  const ok = results.every((r) => r.received === ticks && r.inOrder && JSON.stringify(r.book) === expected);
  console.log(ok ? `ok: ${subscribers} subscribers each received all ${ticks} ticks in order; every book matches` : 'FAILED');
  process.exitCode = ok ? 0 : 1;
}

async function subscriber(path) {
  const bus = await Subscriber.connect({ path });
  const book = new Map();
  let received = 0;
  let inOrder = true;
  for await (const tick of bus) {
    if (tick.readUInt32LE(0) !== received) inOrder = false;
    book.set(SYMBOLS[tick.readUInt32LE(4)], tick.readDoubleLE(8));
    received++;
  }
  await bus.close();
  process.send({ pid: process.pid, received, inOrder, book: asObject(book) }, () => process.disconnect());
}

/** Last price per symbol, in SYMBOLS order (so two books compare as JSON). */
function asObject(book) {
  return Object.fromEntries(SYMBOLS.filter((symbol) => book.has(symbol)).map((symbol) => [symbol, book.get(symbol)]));
}
