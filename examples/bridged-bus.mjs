// A bus carried to another host: "host A" publishes prices into its local bus
// and runs a bridge that forwards it; "host B" runs a bridge that republishes
// it into a local bus, read there by two subscriber processes. Here both
// hosts are processes on this machine, linked by direct TCP (or by a NATS
// server with --nats nats://host:4222); between real hosts only the address
// changes.
//
//   node examples/bridged-bus.mjs [--messages 20000] [--nats nats://127.0.0.1:4222]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bridge, Publisher, Subscriber } from 'ringcast';

const self = fileURLToPath(import.meta.url);
const [role, ...args] = process.argv.slice(2);
if (role === 'reader') await reader(args[0], Number(args[1]));
else await main();

/** A subscriber process on host B: checks every price arrives in order. */
async function reader(path, messages) {
  const subscriber = await Subscriber.connect({ path });
  process.send('attached');
  let next = 0;
  for await (const message of subscriber) {
    const seq = message.readUInt32LE(0);
    if (seq !== next) throw new Error(`expected price ${next}, got ${seq}`);
    if (++next === messages) break;
  }
  await subscriber.close();
  process.send({ received: next });
}

async function main() {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '20000' }, nats: { type: 'string' } } });
  const messages = Number(values.messages);
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-bridged-'));
  try {
    const hostA = join(dir, 'prices.sock');
    const hostB = join(dir, 'prices-mirror.sock');

    // Host B: the bridge that republishes, listening (TCP) or subscribed (NATS) first.
    const inbound = await Bridge.start({
      republish: hostB,
      transport: values.nats ? { type: 'nats', servers: values.nats, subject: 'prices' } : { type: 'tcp', listen: { host: '127.0.0.1', port: 0 } },
    });
    inbound.on('gap', (gap) => console.log(`host B: lost ${gap.lostMessages} messages from ${gap.origin}`));
    const readers = [0, 1].map(() => fork(self, ['reader', hostB, String(messages)]));
    await Promise.all(readers.map((child) => once(child, 'message')));

    // Host A: the bus and the bridge that forwards it.
    const bus = await Publisher.listen({ path: hostA });
    const outbound = await Bridge.start({
      forward: hostA,
      transport: values.nats ? { type: 'nats', servers: values.nats, subject: 'prices' } : { type: 'tcp', connect: { host: '127.0.0.1', port: inbound.port } },
    });
    while (bus.subscriberCount === 0) await once(bus, 'subscribe'); // the bridge attached
    for (let seq = 0; seq < messages; seq++) {
      const price = Buffer.alloc(32);
      price.writeUInt32LE(seq, 0);
      price.writeDoubleLE(100 + Math.sin(seq / 100), 8);
      await bus.publish(price);
    }

    const results = await Promise.all(readers.map((child) => once(child, 'message').then(([r]) => r.received)));
    console.log(`host A bridge: ${JSON.stringify(outbound.stats().forward)}`);
    console.log(`host B bridge: ${JSON.stringify(inbound.stats().republish)}`);
    await outbound.close();
    await bus.close();
    await inbound.close();
    if (results.every((received) => received === messages)) {
      console.log(`ok: both readers on host B received all ${messages} prices from host A, in order`);
    } else {
      console.log(`FAILED: readers received ${results.join(', ')} of ${messages}`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
