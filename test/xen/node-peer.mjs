// The Node programs of the Xen test's second part (test/xen/run.sh): the
// package's Publisher (a xen: address) and Subscriber({ xen }) running in Xen
// domains, the host's node binary and the package copied into the initramfs.
//
//   node node-peer.mjs PKG pub BUS MESSAGES RECEIVERS WAIT DOMID
//       RECEIVERS: DOMID,DOMID,... (one slot each, in order; ack pages
//       granted by the subscribers). Waits for WAIT subscribers, publishes
//       MESSAGES sequenced, checksummed messages (block policy, a subscriber
//       that keeps it waiting 1 s is evicted; the second half waits until an
//       evicted subscriber is back, so its rejoin never meets a closed bus),
//       closes, lingers until all left. DOMID: this domain (the address's).
//   node node-peer.mjs PKG sub BUS PUBLISHER SLOT MESSAGES [STALL_AT|-] [REFUSED_SLOT]
//       Reads everything in order; with STALL_AT it stops reading there for
//       3 s, is evicted (slow), rejoins by itself and must see a gap that
//       accounts for every message it did not get. With REFUSED_SLOT, once
//       the publisher has closed (and lingers, since we are still attached),
//       joins that slot of our domain and must be refused (`closing`).
//
// Prints "RCN ok NAME" / "RCN FAIL NAME: why" / "RCN note ..." lines; the
// harness in dom0 turns them into its own checks.
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, role, bus, ...rest] = process.argv.slice(2);
const say = (line) => console.log(`RCN ${line}`);

function fnv1a32(buf, end) {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193) >>> 0;
  return h;
}

/** Message `seq`: seq (8) + body length (4) + body + checksum (4); 16 to 1 KiB. */
function makeMessage(seq) {
  const body = (seq * 37) % 1000;
  const m = Buffer.alloc(16 + body);
  m.writeBigUInt64LE(BigInt(seq), 0);
  m.writeUInt32LE(body, 8);
  for (let i = 0; i < body; i++) m[12 + i] = (seq + i * 7) & 0xff;
  m.writeUInt32LE(fnv1a32(m, 12 + body), 12 + body);
  return m;
}

function checkMessage(m) {
  if (m.length < 16) return -1;
  const body = m.readUInt32LE(8);
  if (body !== m.length - 16 || fnv1a32(m, 12 + body) !== m.readUInt32LE(12 + body)) return -1;
  return Number(m.readBigUInt64LE(0));
}

/** Ring slot i is receivers[i]: its domain, and its number among that domain's slots. */
function slotNames(receivers) {
  return receivers.map((domid, i) => ({ domid, slot: receivers.slice(0, i).filter((d) => d === domid).length }));
}

async function publisher(ringcast, messages, receivers, wait, domid) {
  const { Publisher } = ringcast;
  const pub = await Publisher.listen({
    address: `xen:${domid}/${bus}`,
    xen: { receivers: receivers.map((domid) => ({ domid })), lingerMs: 120_000 },
    capacity: 64 * 1024,
    evictAfterMs: 1000,
  });
  say(`note publisher ready in domain ${pub.xen.domid}`);
  const names = slotNames(receivers);
  const evicted = new Set();
  pub.on('subscribe', (e) => {
    evicted.delete(e.slot);
    say(`note joined domain ${e.domid} slot ${e.domainSlot}`);
  });
  pub.on('evict', (e) => {
    if (e.reason === 'slow') evicted.add(e.slot);
    say(`evicted domain ${names[e.slot].domid} slot ${names[e.slot].slot} reason ${e.reason} (${e.lostMessages} messages lost)`);
  });
  pub.on('refuse', (e) => say(`refused domain ${e.domid} slot ${e.domainSlot} verdict ${e.reason}`));
  pub.on('unsubscribe', (e) => say(`note left domain ${e.domid} slot ${e.domainSlot} reason ${e.reason}${e.seenBy ? ` via ${e.seenBy}` : ''}`));
  const deadline = Date.now() + 240_000;
  while (pub.subscriberCount < wait) {
    if (Date.now() > deadline) throw new Error(`only ${pub.subscriberCount} of ${wait} joined`);
    await new Promise((resolve) => pub.once('subscribe', resolve));
  }
  say(`ok node-publisher-streaming to ${pub.subscriberCount} subscribers`);
  const started = Date.now();
  for (let seq = 0; seq < messages; seq += 64) {
    if (seq === Math.floor(messages / 128) * 64) {
      const until = Date.now() + 120_000;
      while (evicted.size > 0 && Date.now() < until) await once(pub, 'subscribe', { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    }
    const batch = [];
    for (let i = seq; i < Math.min(messages, seq + 64); i++) batch.push(makeMessage(i));
    await pub.publishBatch(batch);
  }
  say(`ok node-publisher-sent ${messages} messages in ${Date.now() - started} ms`);
  const stats = pub.stats();
  say(`note stats ${JSON.stringify({ messages: stats.messages, bytesWritten: stats.head, subscribers: stats.subscribers.map((s) => `${s.domid}/${s.domainSlot} ${s.state}`) })}`);
  await pub.close();
  say(`ok node-publisher-closed with ${pub.subscriberCount} attached`);
}

async function subscriber(ringcast, publisherDomid, slot, messages, stallAt, refusedSlot) {
  const { Subscriber } = ringcast;
  const started = Date.now();
  const sub = await Subscriber.connect({
    xen: { bus, publisher: publisherDomid, slot },
    handshakeTimeoutMs: 240_000,
    rejoin: stallAt !== undefined,
  });
  say(`ok node-subscriber-${slot}-joined after ${Date.now() - started} ms`);
  let expected = 0;
  let received = 0;
  let lost = 0;
  let gaps = 0;
  sub.on('gap', (gap) => {
    gaps++;
    lost += gap.lostMessages;
    say(`note slot ${slot} gap: ${gap.lostMessages} messages lost (${gap.reason})`);
  });
  for await (const m of sub) {
    const seq = checkMessage(m);
    if (seq < 0) throw new Error(`message after seq ${expected - 1} is damaged (${m.length} bytes)`);
    // After a gap, the stream resumes further on, never backwards.
    if (seq !== expected && !(gaps > 0 && seq > expected)) throw new Error(`expected seq ${expected}, got ${seq}`);
    expected = seq + 1;
    received++;
    if (stallAt !== undefined && received === stallAt) {
      say(`note slot ${slot} stalls at ${received}`);
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
  if (stallAt === undefined) {
    if (received === messages) say(`ok node-subscriber-${slot}-received-all ${messages} messages in order, checksums good`);
    else say(`FAIL node-subscriber-${slot}-received-all: ${received} of ${messages}`);
  } else if (gaps > 0 && received + lost === messages && expected === messages) {
    say(`ok node-subscriber-${slot}-evicted-rejoined ${received} received + ${lost} reported lost = ${messages}, in order`);
  } else {
    say(`FAIL node-subscriber-${slot}-evicted-rejoined: ${gaps} gaps, ${received} received + ${lost} lost of ${messages}, last seq ${expected - 1}`);
  }
  if (refusedSlot !== undefined) await refused(ringcast, publisherDomid, refusedSlot);
  await sub.close();
}

async function refused(ringcast, publisherDomid, slot) {
  const { Subscriber } = ringcast;
  try {
    const sub = await Subscriber.connect({ xen: { bus, publisher: publisherDomid, slot }, handshakeTimeoutMs: 60_000 });
    await sub.close();
    say(`FAIL node-join-refused: the closing publisher accepted slot ${slot}`);
  } catch (error) {
    if (error.code === 'ERR_RINGCAST_REFUSED' && error.reason === 'closing') say(`ok node-join-refused-after-close (${error.message})`);
    else say(`FAIL node-join-refused: ${error.code} ${error.message}`);
  }
}

async function main() {
  const ringcast = await import(pathToFileURL(join(root, 'dist/index.js')).href);
  const optional = (value) => (value === undefined || value === '-' ? undefined : Number(value));
  if (role === 'pub') await publisher(ringcast, Number(rest[0]), rest[1].split(',').map(Number), Number(rest[2]), Number(rest[3]));
  else if (role === 'sub') await subscriber(ringcast, Number(rest[0]), Number(rest[1]), Number(rest[2]), optional(rest[3]), optional(rest[4]));
  else throw new Error(`unknown role ${role}`);
}

main().catch((error) => {
  say(`FAIL node-${role}: ${String(error?.stack ?? error).replace(/\n/g, ' | ')}`);
  process.exit(1);
});
