// The copy read APIs side by side in one process, for a profile or an
// instruction count that the machine's load cannot change:
//
//   node bench/read-apis.mjs <api> <size> <rounds> [<perRound>]
//   valgrind --tool=callgrind node bench/read-apis.mjs <api> <size> <rounds> [<perRound>]
//
// <api>: `iterate` (for await per message), `batches` (batches()), `reuse`
// (batches({ reuseBuffer: true })). Each round publishes 3 MiB of messages
// (or <perRound> of them: 256 is what one publishBatch() of the fan-out
// cases writes, so each step reads a batch of that size, as there) into a
// 4 MiB ring with one publishBatch() and reads them all back through the
// API. Prints {"api", "size", "messages", "nsPerMessage"} for the rounds
// after the first 50 (JIT warm-up). Under callgrind, compare where the
// instructions go (callgrind_annotate) between the APIs; totals move from run
// to run with the JIT's and the collector's timing, so compare several runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Publisher, Subscriber } from '../dist/index.js';

const [api, sizeArg = '1024', roundsArg = '400', perRoundArg] = process.argv.slice(2);
const size = Number(sizeArg);
const rounds = Number(roundsArg);
const WARMUP_ROUNDS = 50;
const perRound = perRoundArg ? Number(perRoundArg) : Math.min(2048, Math.floor((3 << 20) / (size + 64)));
// A round is written with one publishBatch() before anything reads it, in
// this one process: a round larger than the ring would wait for room forever.
if (!['iterate', 'batches', 'reuse'].includes(api) || !(perRound >= 1 && Number.isInteger(perRound)) || perRound * (size + 64) > 3 << 20 || !(size >= 0 && Number.isInteger(size)) || !(rounds > WARMUP_ROUNDS)) {
  console.error(`usage: node bench/read-apis.mjs iterate|batches|reuse <size> <rounds above ${WARMUP_ROUNDS}> [<perRound>], a round (perRound x (size + 64)) at most 3 MiB`);
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'ringcast-read-apis-'));
const path = join(dir, 'bus');
const publisher = await Publisher.listen({ path, capacity: 4 << 20 });
const subscriber = await Subscriber.connect({ path });
const messages = Array.from({ length: perRound }, (_, i) => new Uint8Array(size).fill(i));
const iterators = {
  iterate: () => subscriber[Symbol.asyncIterator](),
  batches: () => subscriber.batches(),
  reuse: () => subscriber.batches({ reuseBuffer: true }),
};
const iterator = iterators[api]();
let counted = 0;
let ns = 0n;
for (let round = 0; round < rounds; round++) {
  await publisher.publishBatch(messages);
  const started = process.hrtime.bigint();
  for (let got = 0; got < perRound; ) {
    const { value } = await iterator.next();
    got += api === 'iterate' ? 1 : value.length;
  }
  if (round >= WARMUP_ROUNDS) {
    ns += process.hrtime.bigint() - started;
    counted += perRound;
  }
}
await subscriber.close();
await publisher.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ api, size, messages: rounds * perRound, nsPerMessage: counted ? Number(ns) / counted : null })}\n`);
