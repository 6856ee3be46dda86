// In-process micro-benchmarks (tinybench): what one call costs on each side
// of the ring without another process in the way. A subscriber here lives in
// the publisher's process, so these are per-message costs, not transfer rates.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { Bench } from 'tinybench';

import { ROOT } from './lib.mjs';

const BATCH = 256;

export async function runMicro({ time = 150 } = {}) {
  const { Publisher, Subscriber } = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
  const dir = mkdtempSync(join(os.tmpdir(), 'ringcast-micro-'));
  const opened = [];
  try {
    // A bus nobody reads: the ring never fills, so this is the publishing cost alone.
    const lonely = await Publisher.listen({ path: join(dir, 'lonely.sock'), capacity: 4 << 20 });
    opened.push(lonely);
    // A bus read in this same process, drained after every batch.
    const bus = await Publisher.listen({ path: join(dir, 'bus.sock'), capacity: 4 << 20 });
    opened.push(bus);
    const reader = await Subscriber.connect({ path: join(dir, 'bus.sock') });
    opened.push(reader);
    while (bus.subscriberCount < 1) await new Promise((r) => setTimeout(r, 1));

    const small = Buffer.alloc(64, 1);
    const smallBatch = Array.from({ length: BATCH }, () => small);
    const large = Buffer.alloc(16 << 10, 2);
    const largeBatch = Array.from({ length: 64 }, () => large);
    const copyTarget = Buffer.alloc(16 << 10);
    let sink = 0;
    const drainCopy = () => {
      let m;
      while ((m = reader.tryRecv()) !== undefined && m !== null) sink += m.length;
    };
    const drainPoll = () => {
      while (reader.poll((view) => (sink += view.length)) > 0);
    };

    const bench = new Bench({ time, warmupTime: Math.min(50, time) });
    const perMessage = new Map();
    const add = (name, messages, fn) => {
      perMessage.set(name, messages);
      bench.add(name, fn);
    };
    add('publish 64 B (no reader)', 1, () => lonely.publish(small));
    add('publishBatch 256 x 64 B (no reader)', BATCH, () => lonely.publishBatch(smallBatch));
    add('tryClaim + commit 64 B (no reader)', 1, () => {
      const claim = lonely.tryClaim(64);
      claim.buffer[0] = 1;
      claim.commit();
    });
    add('publishBatch 256 x 64 B + tryRecv all', BATCH, () => {
      bus.publishBatch(smallBatch);
      drainCopy();
    });
    add('publishBatch 256 x 64 B + poll all', BATCH, () => {
      bus.publishBatch(smallBatch);
      drainPoll();
    });
    add('publishBatch 64 x 16 KiB + tryRecv all', 64, () => {
      bus.publishBatch(largeBatch);
      drainCopy();
    });
    add('publishBatch 64 x 16 KiB + poll all', 64, () => {
      bus.publishBatch(largeBatch);
      drainPoll();
    });
    add('Buffer.copy 16 KiB (memcpy from Node)', 1, () => {
      large.copy(copyTarget);
    });
    await bench.run();
    if (sink < 0) throw new Error('unreachable: keeps the reads observable');
    return bench.tasks.map((task) => {
      const result = task.result;
      // The median call: a mean here is one GC pause in a few hundred calls
      // (16 KiB copies: 0.06-0.12 ms per call at p50, 1.3-1.8 ms mean in
      // some runs, from p99 pauses of 3-6 ms). The mean stays in the JSON.
      const latency = result?.latency;
      const nsPerOp = latency?.p50 ? latency.p50 * 1e6 : null;
      const meanNsPerOp = latency?.mean ? Number((latency.mean * 1e6).toPrecision(4)) : null;
      const messages = perMessage.get(task.name);
      return {
        name: task.name,
        nsPerOp: nsPerOp === null ? null : Number(nsPerOp.toPrecision(4)),
        meanNsPerOp,
        messagesPerOp: messages,
        nsPerMessage: nsPerOp === null ? null : Number((nsPerOp / messages).toPrecision(4)),
        samples: result?.latency?.samplesCount ?? result?.latency?.samples?.length ?? null,
      };
    });
  } finally {
    for (const thing of opened.reverse()) await thing.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
