// Host side of the VM test, phase 2: a ringcast Publisher serving two QEMU
// guests through ivshmem and a local subscriber process through its Unix
// socket, from one ring (a mixed bus: the `vm` option with `unixSocket`),
// driven by test/vm/run.sh.
//
//   node phase2-host.mjs SERVER_SOCKET RING_FILE ACK1 ACK2 COUNT_A COUNT_B BUS_SOCKET
//
// Stream A (COUNT_A messages) goes to both guests and the local process;
// `ringcast stat` must show all three. Once all acknowledged stream A, the
// host prints "KILL GUEST 1" and the harness kills that guest's QEMU. The
// publisher must evict it (its peer left the server: reason dead) and go on:
// stream B (COUNT_B messages, several times the ring) reaches guest 2 and
// the local process, then an orderly close. Last, the same streams go to a
// bus with only a local subscriber: the publisher writes exactly as many
// bytes (head) as on the mixed bus, i.e. each message once for all kinds of
// subscriber. Every message: seq (u64 LE), body length
// (u32 LE), body, FNV-1a 32 of everything before it (u32 LE); see
// test/vm/rcvm_csub.c and phase2-guest.mjs for the guests' side.
//
// Prints "ok - NAME" / "FAIL - NAME: why" / "note - ...". Exit 0 if all passed.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Publisher, ivshmemRegionSize } from '../../dist/index.js';

const [server, ringFile, ack1, ack2, countA, countB, busSocket] = process.argv.slice(2);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const COUNT_A = Number(countA);
const COUNT_B = Number(countB);
const CAPACITY = 64 * 1024;
const WAIT_MS = 180_000; // fail-safe; the guests take seconds

let failures = 0;
const ok = (name) => console.log(`ok - ${name}`);
const fail = (name, why) => {
  failures++;
  console.log(`FAIL - ${name}: ${why}`);
};
const check = (cond, name, why) => (cond ? ok(name) : fail(name, why));

function fnv1a32(buf, end) {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193) >>> 0;
  return h;
}

/** Message `seq`: 16 + (seq * 37 % 2000) bytes, random body, trailing checksum. */
function message(seq) {
  const bodyLength = (seq * 37) % 2000;
  const buf = Buffer.allocUnsafe(12 + bodyLength + 4);
  buf.writeBigUInt64LE(BigInt(seq), 0);
  buf.writeUInt32LE(bodyLength, 8);
  randomBytes(bodyLength).copy(buf, 12);
  buf.writeUInt32LE(fnv1a32(buf, 12 + bodyLength), 12 + bodyLength);
  return buf;
}

/** Resolves when `predicate` holds, looking at shared-memory state each `everyMs`. */
async function until(predicate, what, everyMs = 20) {
  const deadline = Date.now() + WAIT_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

const withTimeout = (promise, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS).unref())]);

async function publishStream(pub, from, count) {
  for (let seq = from; seq < from + count; seq += 32) {
    const batch = [];
    for (let s = seq; s < Math.min(from + count, seq + 32); s++) batch.push(message(s));
    await pub.publishBatch(batch);
  }
}

/** The local subscriber process: phase2-guest.mjs's checks, through the bus socket. */
function localSubscriber(socket) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./phase2-guest.mjs', import.meta.url)), ROOT, `unix:${socket}`, '-', '-', countA, countB, 'local-subscriber'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines: () => out.split('\n').filter(Boolean), exited };
}

/** `ringcast stat ADDRESS --json`, the real command (asynchronously: the publisher answers it). */
async function stat(address) {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'stat', address, '--json'], { encoding: 'utf8' });
  return JSON.parse(stdout);
}

async function main() {
  const pub = await Publisher.listen({
    capacity: CAPACITY,
    address: `ivshmem:${ringFile}?server=${server}&unix=${busSocket}`,
    vm: {
      guests: [
        { name: 'guest-1-c', ackFile: ack1 },
        { name: 'guest-2-node', ackFile: ack2 },
      ],
    },
  });
  const regionSize = ivshmemRegionSize(CAPACITY);
  console.log(`note - ring file ${regionSize} bytes (capacity ${CAPACITY})`);
  const subscribed = new Map();
  const evictions = [];
  pub.on('subscribe', (e) => {
    subscribed.set(e.slot, e);
    console.log(`note - ${e.guest ?? `local process ${e.pid}`} joined as slot ${e.slot}${e.guest ? ` (ivshmem peer ${e.peer})` : ' (bus socket)'}`);
  });
  pub.on('refuse', (e) => console.log(`note - join refused: ${JSON.stringify(e)}`));
  pub.on('evict', (e) => {
    evictions.push(e);
    console.log(`note - slot ${e.slot} evicted: ${e.reason}, ${e.lostMessages} messages lost`);
  });
  const local = localSubscriber(busSocket);
  console.log(`HOST READY ${regionSize}`);

  await until(() => subscribed.size === 3, 'both guests and the local process to join', 50);
  ok('both guests joined through their ack pages and the doorbell, the local process through the bus socket');
  check(subscribed.get(2)?.pid === local.child.pid, 'the local process holds slot 2, after the guests\' slots', JSON.stringify([...subscribed.values()]));
  for (const address of [busSocket, `ivshmem:${ringFile}`]) {
    const snapshot = await stat(address);
    const seen = snapshot.subscribers.map((s) => `${s.slot}:${s.kind}:${s.pid}`).join(' ');
    check(seen === `0:guest:0 1:guest:0 2:process:${local.child.pid}`, `ringcast stat ${address} shows the two guests and the local process`, seen);
  }

  await withTimeout(publishStream(pub, 0, COUNT_A), 'stream A to be published');
  ok(`stream A published (${COUNT_A} messages, ${pub.stats().head} bytes, ring ${CAPACITY} bytes)`);
  const headA = pub.stats().head;
  await until(() => pub.stats().subscribers.filter((s) => s.ack >= headA).length === 3, 'both guests and the local process to acknowledge stream A');
  ok('both guests and the local process acknowledged all of stream A');

  console.log('KILL GUEST 1');
  await until(() => evictions.some((e) => e.slot === 0), 'guest 1 to be evicted', 20);
  const ev = evictions.find((e) => e.slot === 0);
  check(ev.reason === 'dead', 'killed guest evicted as dead (its QEMU left the ivshmem server)', `reason ${ev.reason}`);
  check(ev.lostMessages === 0, 'killed guest had lost nothing of stream A', `${ev.lostMessages} lost`);

  await withTimeout(publishStream(pub, COUNT_A, COUNT_B), 'stream B to be published past the dead guest');
  const headB = pub.stats().head;
  ok(`stream B published after the eviction (${COUNT_B} messages, ${headB - headA} bytes = ${((headB - headA) / CAPACITY).toFixed(1)} rings)`);
  await until(() => pub.stats().subscribers.filter((s) => s.slot >= 1 && s.ack >= headB).length === 2, 'guest 2 and the local process to acknowledge stream B');
  ok('guest 2 and the local process acknowledged all of stream B');
  check(evictions.length === 1, 'only the killed guest was evicted', JSON.stringify(evictions));
  await pub.close();
  ok('publisher closed');
  const localCode = await withTimeout(local.exited, 'the local subscriber to end');
  for (const line of local.lines()) console.log(`note - local subscriber: ${line}`);
  check(localCode === 0 && local.lines().some((l) => l.startsWith(`RCVM ok local-subscriber-all ${COUNT_A + COUNT_B} `)), 'the local process received every message of both streams in order, checksums good', `exit ${localCode}`);

  // Write once: the same streams to a bus with a local subscriber only.
  const alone = await Publisher.listen({ address: `unix:${busSocket}.alone`, capacity: CAPACITY });
  const only = localSubscriber(`${busSocket}.alone`);
  await withTimeout(alone.waitForSubscribers(1), 'the local-only subscriber');
  await withTimeout(publishStream(alone, 0, COUNT_A + COUNT_B), 'the streams on the local-only bus');
  const headAlone = alone.stats().head;
  await alone.close();
  check((await withTimeout(only.exited, 'the local-only subscriber to end')) === 0, 'the local-only bus delivered both streams', only.lines().join(' | '));
  check(headAlone === headB, `written once: the mixed bus wrote ${headB} bytes for 2 guests + 1 process, a local-only bus ${headAlone} bytes for 1 process`, `${headB} != ${headAlone}`);
  console.log('HOST DONE');
}

main()
  .catch((error) => fail('host', error.stack ?? String(error)))
  .finally(() => {
    console.log(`host: ${failures} failures`);
    process.exit(failures ? 1 : 0);
  });
