// The Node programs of the Xen test's bridge domain (test/xen/bridge-dom0.sh,
// test/xen/bridge-domu.sh): the package copied into the initramfs, run in
// Xen domains.
//
//   node bridge-peer.mjs PKG pub BUS MESSAGES RECEIVER_DOMID OWN_DOMID
//       The publisher of Xen bus BUS with one slot for RECEIVER_DOMID (the
//       bridge domain): XenPublisher, or Publisher on xen:OWN_DOMID/BUS
//       where the package's Publisher serves Xen buses. Waits for the bridge, publishes MESSAGES numbered messages
//       (test/fixtures/numbered.mjs) in batches of 64. Past MESSAGES/4 it
//       holds the stream until the bridge dies (the bridge domain kills it
//       once that many were republished), so the kill is mid-stream however
//       fast the stream runs. When the bridge dies (evicted `dead`), it
//       publishes one more batch with no subscriber at all — lost for
//       certain, and said so — then waits for a bridge to take the slot
//       again. Closes, lingering until the bridge left.
//   node bridge-peer.mjs PKG sub ADDRESS MESSAGES MARK [keep]
//       Reads the republished bus until message MESSAGES-1: sequence numbers
//       must only increase (a bridge may lose messages, never reorder or
//       duplicate them) and every message be intact, with no envelope (the
//       core hides it). With `keep` (as a bridge forwarding that bus would),
//       every message must carry its envelope: one origin, an origin
//       sequence number one apart from the message's own each time, at
//       least one hop. Says "reached MARK" once it has received MARK
//       messages; ends with a result line.
//   node bridge-peer.mjs PKG check FAR_LOG MESSAGES SUB_LOG...
//       The republishing bridge's --json log (its `gap` events) against each
//       subscriber's result: received + reported lost = MESSAGES.
//
// Prints "RCB ok NAME" / "RCB FAIL NAME: why" / "RCB note ..." lines; the
// harness in dom0 turns them into its own checks.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { intactNumbered, numbered } from './numbered.mjs';

const [root, role, ...rest] = process.argv.slice(2);
const say = (line) => console.log(`RCB ${line}`);
const BATCH = 64;
/** Message seq's size: 8 bytes to a little over 1 KiB. */
const sizeOf = (seq) => 8 + ((seq * 37) % 1024);

function batch(from, to) {
  const messages = [];
  for (let seq = from; seq < to; seq++) messages.push(numbered(seq, sizeOf(seq)));
  return messages;
}

/** The bus, with whichever API the package has: XenPublisher, or Publisher serving a xen: address. */
function openBus(ringcast, bus, receiver, self) {
  const options = { capacity: 64 * 1024, evictAfterMs: 60_000 };
  if (ringcast.XenPublisher) return ringcast.XenPublisher.open({ bus, receivers: [{ domid: receiver }], ...options });
  return ringcast.Publisher.listen({ address: `xen:${self}/${bus}`, xen: { receivers: [{ domid: receiver }], lingerMs: 120_000 }, ...options });
}

async function publisher(ringcast, bus, messages, receiver, self) {
  const pub = await openBus(ringcast, bus, receiver, self);
  say(`note publisher of ${bus} ready in domain ${self}`);
  let died = false;
  let joins = 0;
  // One slot: the receiver's slot 0, whatever the event calls it.
  const where = (e) => `domain ${e.domid ?? receiver} slot ${e.domainSlot ?? e.slot}`;
  pub.on('subscribe', (e) => {
    joins++;
    say(`note joined ${where(e)}`);
  });
  let deathSeen;
  const dead = new Promise((resolve) => (deathSeen = resolve));
  const death = (e) => {
    if (e.reason !== 'dead') return;
    died = true;
    deathSeen();
    say(`evicted ${where(e)} reason dead${e.seenBy ? ` via ${e.seenBy}` : ''}`);
  };
  pub.on('evict', (e) => (e.reason === 'dead' ? death(e) : say(`evicted ${where(e)} reason ${e.reason}`)));
  pub.on('unsubscribe', death);
  const nextJoin = async () => {
    await once(pub, 'subscribe', { signal: AbortSignal.timeout(300_000) });
  };
  if (pub.subscriberCount === 0) await nextJoin();
  say(`ok publisher-streaming to the bridge domain`);
  let orphaned = 0;
  let held = false;
  for (let seq = 0; seq < messages; ) {
    if (seq >= messages / 4 && !held) {
      held = true;
      say(`note holding the stream at ${seq} until the bridge dies`);
      await Promise.race([dead, new Promise((resolve) => setTimeout(resolve, 300_000))]);
    }
    if (pub.subscriberCount === 0) {
      if (died && orphaned === 0) {
        const to = Math.min(messages, seq + BATCH);
        await pub.publishBatch(batch(seq, to));
        orphaned = to - seq;
        say(`note published ${seq} to ${to - 1} with no subscriber (lost for certain)`);
        seq = to;
        continue;
      }
      await nextJoin();
      continue;
    }
    const to = Math.min(messages, seq + BATCH);
    await pub.publishBatch(batch(seq, to));
    seq = to;
  }
  say(`ok publisher-sent-all ${messages} messages, ${orphaned} with no subscriber, the bridge's death ${died ? 'seen' : 'NOT seen'}, ${joins} join(s)`);
  await pub.close({ lingerMs: 120_000 });
  say(`ok publisher-closed with ${pub.subscriberCount} attached`);
}

async function subscriber(ringcast, address, messages, mark, keep) {
  // A Xen bus is looked up until its publisher (a bridge still starting) publishes it.
  const sub = await ringcast.Subscriber.connect({ address, handshakeTimeoutMs: 300_000, keepEnvelopes: keep });
  const wire = keep ? await import(pathToFileURL(join(root, 'dist/bridge/wire.js')).href) : null;
  say('note attached');
  let received = 0;
  let previous = -1;
  let increasing = true;
  let intact = true;
  let envelopes = keep ? { origin: null, offset: null, good: true } : null;
  for await (const kept of sub) {
    let message = kept;
    if (envelopes) {
      const { origin, originSeq, hops } = wire.readEnvelope(kept);
      message = kept.subarray(wire.ENTRY_HEADER_BYTES);
      const seq = message.length >= 8 ? message.readUInt32LE(0) : -1;
      envelopes.origin ??= origin;
      envelopes.offset ??= originSeq - seq;
      if (origin !== envelopes.origin || originSeq - seq !== envelopes.offset || hops < 1) envelopes.good = false;
    }
    const seq = message.length >= 8 ? message.readUInt32LE(0) : -1;
    if (seq <= previous) increasing = false;
    if (!intactNumbered(message, seq) || message.length !== sizeOf(seq)) intact = false;
    previous = seq;
    received++;
    if (received === mark) say(`note reached ${mark}`);
    if (seq === messages - 1) break;
  }
  say(`result ${JSON.stringify({ received, increasing, intact, last: previous, ...(envelopes && { envelopesKept: envelopes.good && received > 0 }) })}`);
  await sub.close();
}

function check(farLog, messages, subLogs) {
  const events = readFileSync(farLog, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  const gaps = events.filter((e) => e.event === 'gap');
  const lost = gaps.reduce((sum, gap) => sum + gap.lostMessages, 0);
  say(`note gaps ${JSON.stringify(gaps.map(({ fromSeq, toSeq, where }) => ({ fromSeq, toSeq, where })))}`);
  if (gaps.length > 0 && lost > 0 && gaps.every((gap) => gap.where === 'upstream')) {
    say(`ok gap-reported-upstream (${lost} messages in ${gaps.length} gap(s))`);
  } else {
    say(`FAIL gap-reported-upstream: ${gaps.length} gaps, ${lost} lost`);
  }
  subLogs.forEach((log, i) => {
    const line = readFileSync(log, 'utf8').split('\n').find((l) => l.startsWith('RCB result '));
    const result = line ? JSON.parse(line.slice('RCB result '.length)) : null;
    const name = `subscriber-${i}-every-message-in-order-intact-or-in-a-reported-gap`;
    if (result && result.increasing && result.intact && result.envelopesKept !== false && result.last === messages - 1 && result.received + lost === messages) {
      say(`ok ${name} (${result.received} received + ${lost} reported lost = ${messages})`);
    } else {
      say(`FAIL ${name}: ${JSON.stringify(result)}, ${lost} reported lost of ${messages}`);
    }
  });
}

async function main() {
  const ringcast = await import(pathToFileURL(join(root, 'dist/index.js')).href);
  if (role === 'pub') await publisher(ringcast, rest[0], Number(rest[1]), Number(rest[2]), Number(rest[3]));
  else if (role === 'sub') await subscriber(ringcast, rest[0], Number(rest[1]), Number(rest[2]), rest[3] === 'keep');
  else if (role === 'check') check(rest[0], Number(rest[1]), rest.slice(2));
  else throw new Error(`unknown role ${role}`);
}

main().catch((error) => {
  say(`FAIL ${role}: ${String(error?.stack ?? error).replace(/\n/g, ' | ')}`);
  process.exit(1);
});
