// The Node publisher's publish path alone, for an instruction count that the
// machine's load cannot change (the harness runs it under callgrind, counting
// only the addon's publish entry points, bench/harness.mjs publishPath):
//
//   node bench/publish-path.mjs <size> <subscribers> <messages>
//
// One process: a Publisher on a 4 MiB ring and N Subscribers attached to it,
// which read everything between batches, so the publisher never waits.
// publishBatch() of 256 distinct messages at a time, as the fan-out cases.
// Prints {"messages": sent}. With 0 subscribers nothing holds the publisher
// back and the process runs the publisher alone: whole-process callgrind of
// two lengths, the difference divided by the messages', counts every
// instruction of publishBatch, its JavaScript included (docs/protocol.md,
// "publishBatch"; use node --hash-seed=1 --random-seed=1
// --no-concurrent-recompilation, or V8's optimizing compiler may not have
// finished under callgrind when the counted part begins).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Publisher, Subscriber } from '../dist/index.js';

const [size, subscribers, messages] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), 'ringcast-publish-path-'));
const path = join(dir, 'bus');
const publisher = await Publisher.listen({ path, capacity: 4 << 20 });
const readers = [];
for (let i = 0; i < subscribers; i++) readers.push(await Subscriber.connect({ path }));
const batch = Array.from({ length: 256 }, (_, i) => new Uint8Array(size).fill(i));
let sent = 0;
while (sent < messages) {
  await publisher.publishBatch(batch);
  sent += batch.length;
  for (const reader of readers) while (reader.tryRecv() !== undefined);
}
for (const reader of readers) await reader.close();
await publisher.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ messages: sent })}\n`);
