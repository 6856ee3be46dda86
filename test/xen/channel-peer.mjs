// The point-to-point channel between two Xen domains (test/xen/channel-dom0.sh):
// the package's ChannelServer in one domU, Channel.connect in another.
//
//   node channel-peer.mjs PKG listen ADDRESS PEER_DOMID BYTES
//   node channel-peer.mjs PKG connect ADDRESS BYTES
//
// ADDRESS: xen:LISTENER_DOMID/NAME (a unix: address runs the same on one host,
// PEER_DOMID then `-`).
//
// 1. send/recv both ways: the connector sends a greeting, the listener answers.
// 2. The connector streams BYTES random bytes through its Duplex, hashing what
//    it writes (sha256), and ends it: shutdown from the connector's end.
// 3. The listener reads its Duplex to the end, hashing, and answers with the
//    hex digest on its own direction, which stays open, then ends it:
//    shutdown from the listener's end. The connector compares the digests.
// 4. Both close: each writer's grants end only after the peer read everything
//    and left its ring (the orderly teardown), which close() waits for.
//
// Prints "RCN ok NAME ..." / "RCN FAIL NAME: why" / "RCN note ..." lines; the
// harness in dom0 turns them into its checks.
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, role, address, ...rest] = process.argv.slice(2);
const say = (line) => console.log(`RCN ${line}`);
const CHUNK = 1 << 20;

/** Every chunk the Duplex's readable side gives until its end. Events, not `for await`: that would destroy the Duplex (its writable side too) at the end. */
function readToEnd(duplex, onChunk) {
  return new Promise((resolve, reject) => {
    duplex.on('data', onChunk);
    duplex.once('end', resolve);
    duplex.once('error', reject);
  });
}
const SETUP_MS = 240_000;

async function listen(ringcast, peer, bytes) {
  const { ChannelServer } = ringcast;
  const server = await ChannelServer.listen(address, { handshakeTimeoutMs: SETUP_MS, ...(peer === '-' ? {} : { allow: { domids: [Number(peer)] } }) });
  server.on('refuse', (e) => say(`note refused ${JSON.stringify(e)}`));
  say(`ok chan-listening ${address} for ${peer === '-' ? 'this uid' : `domain ${peer}`}`);
  const channel = await server.accept();
  say('ok chan-accepted');
  const greeting = (await channel.recv())?.toString();
  if (greeting !== 'hello from the connector') throw new Error(`greeting ${JSON.stringify(greeting)}`);
  await channel.send(Buffer.from('hello from the listener'));
  say('ok chan-listener-recv-then-send');

  const duplex = channel.createDuplex();
  const hash = createHash('sha256');
  let received = 0;
  const started = Date.now();
  await readToEnd(duplex, (chunk) => {
    hash.update(chunk);
    received += chunk.length;
  });
  const ms = Date.now() - started;
  const digest = hash.digest('hex');
  if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
  say(`ok chan-listener-received-all ${received} bytes sha256 ${digest} in ${ms} ms (${(received / 1048576 / (ms / 1000)).toFixed(1)} MiB/s)`);
  // Our direction is still open after the peer's shutdown: the digest goes back, then our end.
  duplex.end(Buffer.from(digest));
  await once(duplex, 'finish');
  say('ok chan-listener-shutdown-after-the-peer-read-everything');
  await channel.close();
  await server.close();
  say('ok chan-listener-closed');
}

async function connect(ringcast, bytes) {
  const { Channel } = ringcast;
  const started = Date.now();
  const channel = await Channel.connect(address, { handshakeTimeoutMs: SETUP_MS });
  say(`ok chan-connected after ${Date.now() - started} ms (maxMessage ${channel.maxMessage})`);
  await channel.send(Buffer.from('hello from the connector'));
  const answer = (await channel.recv())?.toString();
  if (answer !== 'hello from the listener') throw new Error(`answer ${JSON.stringify(answer)}`);
  say('ok chan-connector-send-then-recv');

  const duplex = channel.createDuplex();
  const parts = [];
  const back = readToEnd(duplex, (chunk) => parts.push(chunk)).then(() => Buffer.concat(parts).toString());
  const hash = createHash('sha256');
  const sendStarted = Date.now();
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, bytes - sent)));
    hash.update(chunk);
    if (!duplex.write(chunk)) await once(duplex, 'drain');
  }
  duplex.end();
  await once(duplex, 'finish');
  const digest = hash.digest('hex');
  say(`ok chan-connector-sent-and-shut-down ${bytes} bytes sha256 ${digest} in ${Date.now() - sendStarted} ms`);
  const theirs = await back;
  if (theirs === digest) say(`ok chan-sha256-same-on-both-sides ${digest}`);
  else say(`FAIL chan-sha256-same-on-both-sides: sent ${digest}, the listener read ${theirs}`);
  // The listener's shutdown ended our reading side: recv() now says so.
  if ((await channel.recv()) === null) say('ok chan-connector-sees-the-end-after-the-listener-shutdown');
  else say('FAIL chan-connector-sees-the-end-after-the-listener-shutdown: got a message');
  await channel.close();
  say('ok chan-connector-closed');
}

async function main() {
  const ringcast = await import(pathToFileURL(join(root, 'dist/index.js')).href);
  if (role === 'listen') await listen(ringcast, rest[0], Number(rest[1]));
  else if (role === 'connect') await connect(ringcast, Number(rest[0]));
  else throw new Error(`unknown role ${role}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    say(`FAIL chan-${role}: ${error?.code ?? ''} ${error?.stack ?? error}`);
    process.exit(1);
  },
);
