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
//   node node-peer.mjs PKG wopub DOMID RECEIVERS
//       test/xen/xenpub-dom0.sh: publishes the same sequence on bus rcw1 (to
//       dom0) and then rcw3 (to dom0 and RECEIVERS=DOMID,DOMID), each on a
//       2 MiB ring: small messages, one of 16 MiB, a zero-copy claim, chunks
//       of createWriteStream(). Prints its sha256 of the sequence, the bytes
//       it wrote into shared memory (stats().head) and the ring's pages.
//       On rcw3 it runs `ringcast stat xen:DOMID/rcw3` in its own domain
//       once every receiver joined: refused, the ring is not granted here.
//   node node-peer.mjs PKG wosub BUS PUBLISHER SLOT [OWN_DOMID]
//       Reads BUS to its end; prints the sha256 of what it received and the
//       largest message's length. With OWN_DOMID: after the small messages
//       (every receiver joined; the publisher cannot finish, let alone
//       close, until we read on) it stops reading and runs `ringcast stat
//       xen:PUBLISHER/BUS` twice, which must list every subscriber (ours
//       named by its domain) and take no slot.
//
// Stat checks print "RCN ok stat-NAME ..." / "RCN fail stat-NAME: why"
// (not "RCN FAIL": the harness's waits stop at that).
//
// Prints "RCN ok NAME" / "RCN FAIL NAME: why" / "RCN note ..." lines; the
// harness in dom0 turns them into its own checks.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
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

/** The sequence's hash: each message's length (8 bytes LE) and bytes, in order. */
function sequenceHash() {
  const hash = createHash('sha256');
  const length = Buffer.alloc(8);
  return {
    add(m) {
      length.writeBigUInt64LE(BigInt(m.length));
      hash.update(length);
      hash.update(m);
    },
    digest: () => hash.digest('hex'),
  };
}

/** `ringcast stat ADDRESS --json` as a separate process: { code, snapshot, stderr }. */
function statCommand(root, address) {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'dist/cli.js'), 'stat', address, '--json'], { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      let snapshot = null;
      try {
        snapshot = code === 0 ? JSON.parse(stdout) : null;
      } catch {}
      resolve({ code, snapshot, stderr: String(stderr).trim().replace(/\n/g, ' | ') });
    });
  });
}

const check = (name, good, detail) => say(good ? `ok ${name} (${detail})` : `fail ${name}: ${detail}`);

/**
 * Runs stat twice from this receiver domain while `sub` (slot ours, paused)
 * and every other receiver are attached: `receivers` slots, all reading,
 * ours named by domain `own`, the publisher open, the head ahead of every
 * ack and of what we saw; the second look the same bus (no slot taken).
 */
async function statFromReceiverDomain(root, sub, address, receivers, own) {
  const mine = sub.stats();
  const first = await statCommand(root, address);
  const second = await statCommand(root, address);
  const snap = first.snapshot;
  say(`note stat ${first.code === 0 ? JSON.stringify(snap) : first.stderr}`);
  if (!snap) return check('stat-from-receiver-domain', false, `exit ${first.code}: ${first.stderr}`);
  const slots = snap.subscribers;
  const ours = slots.find((s) => s.slot === mine.slot);
  check(
    'stat-from-receiver-domain-lists-every-subscriber',
    slots.length === receivers && slots.every((s) => s.kind === 'domain' && (s.state === 'active' || s.state === 'lagging')),
    `${slots.length} of ${receivers}: ${slots.map((s) => `slot ${s.slot} ${s.kind} ${s.state} domain ${s.domid ?? '?'}`).join(', ')}`,
  );
  check(
    'stat-names-this-domains-slot',
    ours !== undefined && ours.domid === own && slots.filter((s) => s.domid !== null).length === 1,
    `slot ${mine.slot}: ${JSON.stringify(ours)}`,
  );
  check(
    'stat-head-ahead-of-every-ack',
    snap.publisherState === 'open' && snap.head >= mine.head && slots.every((s) => s.ack <= snap.head && snap.head - s.ack <= snap.capacity),
    `publisher ${snap.publisherState}, head ${snap.head} (ours saw ${mine.head}), acks ${slots.map((s) => s.ack).join(' ')}, capacity ${snap.capacity}`,
  );
  const again = second.snapshot;
  check(
    'stat-takes-no-slot',
    again !== null && JSON.stringify(again.subscribers.map((s) => s.slot)) === JSON.stringify(slots.map((s) => s.slot)) && sub.stats().slot === mine.slot,
    `slots ${slots.map((s) => s.slot)} then ${again?.subscribers.map((s) => s.slot) ?? second.stderr}`,
  );
}

const WO_SMALL = 300;
const WO_BIG = 16 << 20;
const WO_CLAIM = 200_000;
const WO_CHUNKS = [1000, 70_000, 5];

async function writeOncePublisher(ringcast, domid, others) {
  const { Publisher } = ringcast;
  const big = randomBytes(WO_BIG);
  const small = Array.from({ length: WO_SMALL }, (_, i) => randomBytes(16 + ((i * 97) % 2000)));
  const chunks = WO_CHUNKS.map((n) => randomBytes(n));
  const claimed = randomBytes(WO_CLAIM);
  for (const [bus, receivers] of [['rcw1', [0]], ['rcw3', [0, ...others]]]) {
    const pub = await Publisher.listen({
      address: `xen:${domid}/${bus}`,
      xen: { receivers: receivers.map((domid) => ({ domid })), lingerMs: 120_000 },
      capacity: 2 << 20,
      // Under emulation a subscriber's event loop (its heartbeat) can stand
      // still for seconds while it hashes 16 MiB: not a death.
      evictAfterMs: 120_000,
      heartbeatTimeoutMs: 120_000,
    });
    pub.on('evict', (e) => say(`FAIL wo-pub ${bus}: slot ${e.slot} evicted ${e.reason}`));
    pub.on('unsubscribe', (e) => say(`note ${bus}: domain ${e.domid} slot ${e.domainSlot} left (${e.reason}${e.seenBy ? ` via ${e.seenBy}` : ''})`));
    say(`note ${bus} ready: ${pub.xen.ringPages} ring pages, maxPayload ${pub.maxPayload}, waiting for ${receivers.length}`);
    await pub.waitForSubscribers(receivers.length, { signal: AbortSignal.timeout(300_000) });
    if (bus === 'rcw3') {
      // Here only the publisher maps the ring; a typed error says where stat works.
      const { code, stderr } = await statCommand(root, `xen:${domid}/${bus}`);
      check(
        'stat-refused-in-publisher-domain',
        code === 1 && /ERR_RINGCAST_UNSUPPORTED: .*publisher's domain.*receiver domain.*publisher\.stats\(\)/.test(stderr),
        `exit ${code}: ${stderr}`,
      );
    }
    const hash = sequenceHash();
    const started = Date.now();
    await pub.publishBatch(small);
    small.forEach((m) => hash.add(m));
    await pub.publish(big); // larger than the ring: fragmented, flowing as readers drain
    hash.add(big);
    const claim = await pub.claim(WO_CLAIM); // zero-copy, in the granted ring itself
    claimed.copy(Buffer.from(claim.buffer.buffer, claim.buffer.byteOffset, claim.buffer.length));
    hash.add(Buffer.from(claim.buffer));
    claim.commit();
    const stream = pub.createWriteStream({ closeOnEnd: false });
    for (const chunk of chunks) stream.write(chunk);
    stream.end();
    await finished(stream);
    chunks.forEach((m) => hash.add(m));
    const stats = pub.stats();
    const domains = new Set(stats.subscribers.map((s) => s.domid)).size;
    say(
      `ok wo-pub ${bus} messages=${stats.messages} digest=${hash.digest()} head=${stats.head} ringPages=${pub.xen.ringPages} ` +
        `domains=${domains} claimed=${WO_CLAIM} ms=${Date.now() - started}`,
    );
    await pub.close();
    say(`note ${bus} closed with ${pub.subscriberCount} attached`);
  }
}

async function writeOnceSubscriber(ringcast, bus, publisherDomid, slot, own) {
  const { Subscriber } = ringcast;
  const sub = await Subscriber.connect({ address: `xen:${publisherDomid}/${bus}/${slot}`, handshakeTimeoutMs: 600_000 });
  say(`note wo-sub ${bus} joined`);
  const hash = sequenceHash();
  let messages = 0;
  let largest = 0;
  for await (const m of sub) {
    hash.add(m);
    messages++;
    largest = Math.max(largest, m.length);
    if (own !== undefined && messages === WO_SMALL) await statFromReceiverDomain(root, sub, `xen:${publisherDomid}/${bus}`, 3, own);
  }
  say(`ok wo-sub ${bus} messages=${messages} digest=${hash.digest()} largest=${largest}`);
  await sub.close();
}

async function main() {
  const ringcast = await import(pathToFileURL(join(root, 'dist/index.js')).href);
  const optional = (value) => (value === undefined || value === '-' ? undefined : Number(value));
  if (role === 'pub') await publisher(ringcast, Number(rest[0]), rest[1].split(',').map(Number), Number(rest[2]), Number(rest[3]));
  else if (role === 'sub') await subscriber(ringcast, Number(rest[0]), Number(rest[1]), Number(rest[2]), optional(rest[3]), optional(rest[4]));
  else if (role === 'wopub') await writeOncePublisher(ringcast, Number(bus), rest[0].split(',').map(Number));
  else if (role === 'wosub') await writeOnceSubscriber(ringcast, bus, Number(rest[0]), Number(rest[1]), optional(rest[2]));
  else throw new Error(`unknown role ${role}`);
}

main().catch((error) => {
  say(`FAIL node-${role}: ${String(error?.stack ?? error).replace(/\n/g, ' | ')}`);
  process.exit(1);
});
