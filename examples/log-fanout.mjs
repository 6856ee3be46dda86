// Log fan-out with a slow consumer: a service publishes log lines to two
// consumer processes. The fast one keeps up. The slow one (think of a tail
// writing to a disk that stalls now and then) holds the publisher back once
// the ring is full; after --evict-after-ms of that the publisher evicts it and
// goes on. The slow consumer rejoins at the live head, and its `gap` event
// says how many lines it missed: those it had not read when it was evicted,
// plus those published while it was away.
//
//   node examples/log-fanout.mjs [--lines 5000] [--evict-after-ms 300] [--stall-every 500] [--stall-ms 1000]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Publisher, Subscriber } from 'ringcast';

const LEVELS = ['debug', 'info', 'info', 'info', 'warn', 'error'];

if (process.argv[2] === 'consumer') await consumer(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
else await service();

async function service() {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '5000' },
      'evict-after-ms': { type: 'string', default: '300' },
      'stall-every': { type: 'string', default: '500' },
      'stall-ms': { type: 'string', default: '1000' },
    },
  });
  const lines = Number(values.lines);
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-logs-'));
  const path = join(dir, 'logs.sock');
  // block: no healthy consumer ever loses a line; evictAfterMs bounds what a stalled one can cost.
  const bus = await Publisher.listen({ path, capacity: 1 << 16, policy: 'block', evictAfterMs: Number(values['evict-after-ms']) });
  let evictions = 0;
  let attaches = 0;
  bus.on('evict', (event) => {
    evictions++;
    console.log(`service: evicted slot ${event.slot} (${event.reason}) with ${event.lostMessages} lines in the ring it had not read yet`);
  });
  bus.on('subscribe', () => attaches++);

  const consumers = { fast: [0, 0], slow: [Number(values['stall-every']), Number(values['stall-ms'])] };
  const reports = Object.entries(consumers).map(([name, [stallEvery, stallMs]]) => {
    const child = fork(fileURLToPath(import.meta.url), ['consumer', path, String(stallEvery), String(stallMs)]);
    return once(child, 'message').then(([report]) => ({ name, ...report }));
  });
  while (attaches < 2) await once(bus, 'subscribe');

  for (let n = 0; n < lines; n++) {
    const line = `${new Date().toISOString()} ${LEVELS[n % LEVELS.length]} request ${n} served in ${n % 97} ms\n`;
    await bus.publish(Buffer.from(line)); // waits while a consumer holds the ring, until evictAfterMs
  }
  // A real service runs on; this one ends, but first lets every evicted consumer come back.
  while (attaches - 2 < evictions) await once(bus, 'subscribe');
  await bus.close();

  const results = await Promise.all(reports);
  rmSync(dir, { recursive: true, force: true });
  console.table(results);
  console.log("'error-level lines': lines logged at level error (the log's content, not failures of the consumer)");
  console.log("'lines missed': over all evictions, lines unread at the eviction plus lines published before the rejoin (the gap events)");
  const [fast, slow] = results;
  const ok = fast.received === lines && fast.evictions === 0 && slow.evictions > 0 && slow.rejoins === slow.evictions && slow.received + slow['lines missed'] === lines;
  console.log(
    ok
      ? `ok: the fast consumer got all ${lines} lines; the slow one was evicted and rejoined ${slow.evictions}×: ${slow.received} lines read + ${slow['lines missed']} missed = ${lines}`
      : 'FAILED',
  );
  process.exitCode = ok ? 0 : 1;
}

async function consumer(path, stallEvery, stallMs) {
  // rejoin: on eviction, attach again at the live head and emit `gap`. Small
  // batches: a slow reader learns of its eviction after a few lines, not after
  // working through a whole ring's worth it had already copied out.
  const bus = await Subscriber.connect({ path, rejoin: true, batchBytes: 4096 });
  let evictions = 0;
  bus.on('state', (change) => {
    if (change.to === 'evicted') evictions++;
  });
  let rejoins = 0;
  let lost = 0;
  bus.on('gap', (gap) => {
    rejoins++;
    lost += gap.lostMessages;
  });
  let received = 0;
  let errorLevel = 0;
  for await (const line of bus) {
    if (line.includes(' error ')) errorLevel++;
    received++;
    if (stallEvery > 0 && received % stallEvery === 0) await sleep(stallMs);
  }
  await bus.close();
  process.send({ received, 'error-level lines': errorLevel, evictions, rejoins, 'lines missed': lost }, () => process.disconnect());
}
