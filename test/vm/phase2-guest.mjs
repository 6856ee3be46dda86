// Guest 2 of the VM test, phase 2: a Node subscriber using the ringcast
// package inside a QEMU guest (the host's node binary and the package copied
// into the initramfs), attached through the ringcast_ivshmem devices and
// woken by MSI-X doorbells.
//
//   node phase2-guest.mjs PACKAGE_ROOT RING_DEV ACK_DEV DOORBELL_DEV COUNT_A COUNT_B
//
// The same checks serve the local subscriber process on the host (the mixed
// bus's third subscriber, started by phase2-host.mjs):
//
//   node phase2-guest.mjs PACKAGE_ROOT unix:SOCKET - - COUNT_A COUNT_B local-subscriber
//
// Checks every message of phase2-host.mjs's streams (sequence in order,
// checksum) until the publisher closes. Prints "RCVM ok NAME" /
// "RCVM FAIL NAME: why" for the harness.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, ring, ack, doorbell, countA, countB, name = 'node-subscriber'] = process.argv.slice(2);
const COUNT_A = Number(countA);
const TOTAL = COUNT_A + Number(countB);

function fnv1a32(buf, end) {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193) >>> 0;
  return h;
}

async function main() {
  const started = Date.now();
  const { Subscriber } = await import(pathToFileURL(join(root, 'dist/index.js')).href);
  const where = ring.startsWith('unix:') ? { address: ring } : { ivshmem: { ring, ack, doorbell } };
  const sub = await Subscriber.connect({ ...where, handshakeTimeoutMs: 120_000 });
  console.log(`RCVM ok ${name}-joined (slot ${sub.slot}, ${Date.now() - started} ms after start)`);
  let expected = 0;
  for await (const m of sub) {
    const body = m.length >= 16 ? m.readUInt32LE(8) : -1;
    if (m.length < 16 || m.readBigUInt64LE(0) !== BigInt(expected) || body !== m.length - 16 || fnv1a32(m, 12 + body) !== m.readUInt32LE(12 + body)) {
      console.log(`RCVM FAIL ${name}-message: expected seq ${expected}, got ${m.length >= 8 ? m.readBigUInt64LE(0) : '?'} (${m.length} bytes)`);
      process.exit(1);
    }
    expected++;
    if (expected === COUNT_A) console.log(`RCVM ok ${name}-stream-a ${COUNT_A} messages in order, checksums good`);
  }
  if (expected === TOTAL) console.log(`RCVM ok ${name}-all ${TOTAL} messages in order, checksums good, then the publisher's close`);
  else console.log(`RCVM FAIL ${name}-all: ${expected} of ${TOTAL} messages before the end`);
  const stats = sub.stats?.();
  if (stats) console.log(`RCVM note ${name} stats ${JSON.stringify(stats)}`);
  await sub.close();
}

main().catch((error) => {
  console.log(`RCVM FAIL ${name}: ${String(error?.stack ?? error).replace(/\n/g, ' | ')}`);
  process.exit(1);
});
