// Every transport the benchmarks compare, behind three small interfaces:
//
//   openPublisher(transport, options)  one publisher, N subscriber processes (streams)
//   runSubscriber(transport, args, sink)  the subscriber process's side of a stream
//   openPinger / runPonger  one round trip at a time (latency)
//
// A stream ends with an end marker each transport understands: ringcast's
// orderly close, a socket's FIN, an empty message on zeromq and NATS (no
// benchmark message is empty). Peers are imported only where used, so a case
// loads nothing it does not measure, and a missing optional peer fails only
// its own cases.
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { FRAME_HEADER, RING_CAPACITY, ROOT, processCpuNs, sleep } from './lib.mjs';

/**
 * ringcast's subscriber APIs: `for await` per message (the default), `batches()`,
 * `batches({ reuseBuffer: true })`, zero-copy `poll()`.
 */
export const RINGCAST = ['ringcast', 'ringcast-batches', 'ringcast-reuse', 'ringcast-zerocopy'];
export const SOCKETS = ['uds', 'uds-corked', 'tcp'];
/** Transports measured from Node, in the order tables list them. */
export const NODE_TRANSPORTS = [...RINGCAST, 'uds', 'uds-corked', 'tcp', 'zeromq', 'nats'];

const ringcast = () => import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
const EMPTY = new Uint8Array(0);
/** Spin budget of the `spin` latency variant: far above one round trip, so a spinning side never sleeps. */
export const SPIN_MICROS = 200;
/** A `busy-poll` side that has seen nothing for this long gives up (its peer is gone or hung). */
export const BUSY_POLL_GIVE_UP_MS = 5000;

// ---------------------------------------------------------------------------
// Streams: publisher side

/**
 * @param {string} transport
 * @param {{dir: string, pool: {count: number, payloads: Buffer[], frames: Buffer[]}, natsUrl?: string, natsPid?: number, evictAfterMs?: number}} options
 */
export async function openPublisher(transport, options) {
  if (RINGCAST.includes(transport)) return ringcastPublisher(options);
  if (SOCKETS.includes(transport)) return socketPublisher(transport, options);
  if (transport === 'zeromq') return zeromqPublisher(options);
  if (transport === 'nats') return natsPublisher(options);
  throw new Error(`unknown transport ${transport}`);
}

async function ringcastPublisher({ dir, pool, evictAfterMs }) {
  const { Publisher } = await ringcast();
  const path = join(dir, 'bus.sock');
  const publisher = await Publisher.listen({ path, capacity: RING_CAPACITY, ...(evictAfterMs ? { evictAfterMs } : {}) });
  const evictions = [];
  publisher.on('evict', (event) => evictions.push({ ...event, atNs: String(process.hrtime.bigint()) }));
  let doorbellsRung = null;
  return {
    address: { path },
    evictions,
    /** Doorbells the publisher rang (eventfd writes to sleeping subscribers) up to the end of the stream. */
    doorbells: () => doorbellsRung,
    async waitForSubscribers(n) {
      while (publisher.subscriberCount < n) await once(publisher, 'subscribe');
    },
    sendBatch(count) {
      return publisher.publishBatch(count === pool.count ? pool.payloads : pool.payloads.slice(0, count));
    },
    async end() {
      doorbellsRung = publisher.stats().doorbellsRung;
      await publisher.close();
    },
    close: () => publisher.close(),
  };
}

async function socketPublisher(transport, { dir, pool }) {
  const sockets = [];
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // a subscriber's own report says what went wrong
    sockets.push(socket);
    server.emit('peer');
  });
  const address = transport === 'tcp' ? { host: '127.0.0.1', port: 0 } : { path: join(dir, 'bench.sock') };
  if (address.path) server.listen(address.path);
  else server.listen(0, address.host);
  await once(server, 'listening');
  if (!address.path) address.port = server.address().port;
  const drain = (socket) => {
    if (socket.destroyed) throw new Error('a subscriber socket was destroyed');
    return once(socket, 'drain');
  };
  const frames = pool.frames;
  const sendBatch =
    transport === 'uds-corked'
      ? (count) => {
          // One writev per socket per batch: what cork() is for.
          let blocked = null;
          for (const socket of sockets) {
            socket.cork();
            let ok = true;
            for (let i = 0; i < count; i++) ok = socket.write(frames[i]);
            socket.uncork();
            if (!ok) (blocked ??= []).push(socket);
          }
          return blocked ? Promise.all(blocked.map(drain)) : undefined;
        }
      : async (count) => {
          // Fan-out the way a Node server does it: one write per message per subscriber.
          for (let i = 0; i < count; i++) {
            const frame = frames[i];
            let blocked = null;
            for (const socket of sockets) if (!socket.write(frame)) (blocked ??= []).push(socket);
            if (blocked) await Promise.all(blocked.map(drain));
          }
        };
  return {
    address,
    async waitForSubscribers(n) {
      while (sockets.length < n) await once(server, 'peer');
    },
    sendBatch,
    async end() {
      for (const socket of sockets) socket.end();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/**
 * zeromq bounds its queues in messages (default 1000), whatever their size:
 * 1000 queued 64 MiB messages take a minute to drain. Queues of about the
 * ring's size in bytes (at most the default count) keep what is in flight
 * comparable with every other transport here.
 */
export function zeromqHighWaterMark(size) {
  return Math.max(2, Math.min(1000, Math.ceil(RING_CAPACITY / Math.max(1, size))));
}

async function zeromqPublisher({ dir, pool }) {
  const zmq = await import('zeromq');
  // XPUB: the publisher sees each subscription arrive (no "slow joiner" guesswork);
  // noDrop: a full subscriber queue makes send() wait instead of silently dropping,
  // so every transport delivers every message.
  const socket = new zmq.XPublisher({ noDrop: true, linger: 1000, sendHighWaterMark: zeromqHighWaterMark(pool.payloads[0].length) });
  socket.verbosity = 'allSubs';
  const endpoint = `ipc://${join(dir, 'zmq.ipc')}`;
  await socket.bind(endpoint);
  const payloads = pool.payloads;
  return {
    address: { endpoint },
    async waitForSubscribers(n) {
      for (let subscribed = 0; subscribed < n; ) {
        const [message] = await socket.receive();
        if (message[0] === 1) subscribed++;
      }
    },
    async sendBatch(count) {
      for (let i = 0; i < count; i++) await sendWaiting(socket, payloads[i]);
    },
    async end() {
      await sendWaiting(socket, EMPTY);
    },
    async close() {
      socket.linger = 0;
      socket.close();
    },
  };
}

/**
 * send() on an XPUB with noDrop fails with EAGAIN while a subscriber's queue is
 * full (zeromq.js does not wait for that case): yield and retry, as an
 * application wanting every message delivered has to.
 */
async function sendWaiting(socket, message) {
  for (let waits = 0; ; waits++) {
    try {
      await socket.send(message);
      return;
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
      await (waits < 16 ? new Promise((resolve) => setImmediate(resolve)) : sleep(1));
    }
  }
}

async function natsPublisher({ pool, natsUrl, natsPid }) {
  const { connect } = await import('nats');
  const connection = await connect({ servers: natsUrl, noEcho: true });
  const subject = `bench.${process.pid}.${Date.now()}`;
  const payloads = pool.payloads;
  return {
    address: { natsUrl, subject },
    /** nats-server does the fan-out: its CPU time is part of the publishing cost. */
    brokerCpuNs: () => processCpuNs(natsPid),
    async waitForSubscribers() {
      // Each subscriber flushed its SUB to the server before saying ready.
    },
    sendBatch(count) {
      for (let i = 0; i < count; i++) connection.publish(subject, payloads[i]);
      // One round trip to the server per batch bounds what is in flight.
      return connection.flush();
    },
    async end() {
      connection.publish(subject, EMPTY);
      await connection.flush();
    },
    close: () => connection.close(),
  };
}

// ---------------------------------------------------------------------------
// Streams: subscriber side

/**
 * Receives until the end marker. `sink.message(length)` per message,
 * `sink.ready()` once attached (the publisher may start), `sink.first()`
 * at the first message.
 */
export async function runSubscriber(transport, { address, spinMicros, size }, sink) {
  if (transport === 'ringcast') {
    const { Subscriber } = await ringcast();
    const subscriber = await Subscriber.connect({ path: address.path, ...(spinMicros ? { spinMicros } : {}) });
    sink.ready();
    for await (const message of subscriber) sink.message(message.length);
    await subscriber.close();
    return;
  }
  if (transport === 'ringcast-batches' || transport === 'ringcast-reuse') {
    const { Subscriber } = await ringcast();
    const subscriber = await Subscriber.connect({ path: address.path, ...(spinMicros ? { spinMicros } : {}) });
    sink.ready();
    const batches = subscriber.batches({ reuseBuffer: transport === 'ringcast-reuse' });
    for await (const batch of batches) for (const message of batch) sink.message(message.length);
    await subscriber.close();
    return;
  }
  if (transport === 'ringcast-zerocopy') {
    const { Subscriber } = await ringcast();
    const subscriber = await Subscriber.connect({ path: address.path, ...(spinMicros ? { spinMicros } : {}) });
    let ended = false;
    subscriber.on('end', () => (ended = true));
    sink.ready();
    const handler = (view) => sink.message(view.length);
    for (;;) {
      if (subscriber.poll(handler) > 0) continue;
      if (ended) break;
      await subscriber.readable();
    }
    await subscriber.close();
    return;
  }
  if (SOCKETS.includes(transport)) return socketSubscriber(address, sink);
  if (transport === 'zeromq') {
    const zmq = await import('zeromq');
    const socket = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: zeromqHighWaterMark(size) });
    socket.connect(address.endpoint);
    socket.subscribe();
    sink.ready();
    for await (const [message] of socket) {
      if (message.length === 0) break;
      sink.message(message.length);
    }
    socket.close();
    return;
  }
  if (transport === 'nats') {
    const { connect } = await import('nats');
    const connection = await connect({ servers: address.natsUrl });
    const subscription = connection.subscribe(address.subject);
    await connection.flush(); // the server knows of us before the publisher starts
    sink.ready();
    for await (const message of subscription) {
      if (message.data.length === 0) break;
      sink.message(message.data.length);
    }
    await connection.close();
    return;
  }
  throw new Error(`unknown transport ${transport}`);
}

function socketSubscriber(address, sink) {
  return new Promise((resolve, reject) => {
    const socket = address.path ? net.createConnection(address.path) : net.createConnection(address.port, address.host);
    socket.setNoDelay(true);
    socket.on('connect', () => sink.ready());
    const parser = frameParser((length) => sink.message(length));
    socket.on('data', parser.push);
    socket.on('end', () => {
      if (parser.pending()) reject(new Error('the stream ended inside a frame'));
      else resolve();
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** Length-prefixed frames out of stream chunks; `onFrame(length, chunk, offset)` per whole frame. */
function frameParser(onFrame) {
  let pending = [];
  let pendingLength = 0;
  let want = 0;
  const keep = (part, need) => {
    pending = [part];
    pendingLength = part.length;
    want = need;
  };
  return {
    pending: () => pendingLength > 0,
    push(chunk) {
      if (pendingLength > 0) {
        pending.push(chunk);
        pendingLength += chunk.length;
        if (pendingLength < want) return;
        chunk = Buffer.concat(pending, pendingLength);
        pending = [];
        pendingLength = 0;
      }
      let offset = 0;
      for (;;) {
        const rest = chunk.length - offset;
        if (rest < FRAME_HEADER) {
          if (rest > 0) keep(chunk.subarray(offset), FRAME_HEADER);
          return;
        }
        const length = chunk.readUInt32LE(offset);
        if (rest < FRAME_HEADER + length) {
          keep(chunk.subarray(offset), FRAME_HEADER + length);
          return;
        }
        onFrame(length, chunk, offset);
        offset += FRAME_HEADER + length;
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Latency: the pinger sends one message and waits for its echo

/**
 * Calls `attempt()` until it returns something other than `undefined`, without
 * yielding; throws once nothing came for BUSY_POLL_GIVE_UP_MS. The clock is
 * read only every 1024 empty attempts, not on the way of a message.
 */
function busyPoll(attempt, what) {
  let idleSince = 0;
  for (let spins = 1; ; spins++) {
    const result = attempt();
    if (result !== undefined) return result;
    if ((spins & 1023) === 0) {
      const t = performance.now();
      if (idleSince === 0) idleSince = t;
      else if (t - idleSince > BUSY_POLL_GIVE_UP_MS) throw new Error(`busy-poll: no ${what} for ${BUSY_POLL_GIVE_UP_MS} ms`);
    }
  }
}

/**
 * recvSync() as the C core's reader sleeps in read(): without a time limit
 * (the default; a limit arms a kernel timer on every wait, about 1 us of a
 * round trip). A peer that dies still ends the wait (its control socket
 * closes: undefined); one that hangs leaves the case to the harness, which
 * kills a case that overruns.
 */
function recvBlocking(subscriber) {
  const message = subscriber.recvSync();
  if (message === undefined) throw new Error('blocking: the peer is gone, or a control message to read');
  return message;
}

/** `publisher.offer(message)` until it takes the message (a ring with room takes it at once). */
function offerBusy(publisher, message) {
  busyPoll(() => (publisher.offer(message) ? true : undefined), 'room in the ring');
}

/**
 * Starts the pong side with `spawnPonger(args)` (a child process running
 * runPonger) and returns {ping(message) -> Promise, close()}, and for
 * ringcast `busyPoll` also pingSync(message) (no promise at all).
 * `spin`: both sides busy-poll before sleeping (ringcast spinMicros).
 * `busyPoll`: both sides never sleep: synchronous offer() and tryRecv() in
 * a tight loop, what a latency-bound application with a core to spare does.
 * `blocking`: both sides sleep on the doorbell at once, each thread blocked
 * in recvSync() (a reader that owns its thread), then offer().
 */
export async function openPinger(transport, { dir, size, spin, busyPoll: busy, blocking, natsUrl }, spawnPonger) {
  if (transport === 'ringcast') {
    const { Publisher, Subscriber } = await ringcast();
    const pingPath = join(dir, 'ping.sock');
    const pongPath = join(dir, 'pong.sock');
    const publisher = await Publisher.listen({ path: pingPath, capacity: 1 << 20 });
    const ponger = spawnPonger({ transport, address: { pingPath, pongPath }, size, spin, busyPoll: busy, blocking });
    await ponger.ready; // it attached to ours and listens on its own
    const subscriber = await Subscriber.connect({ path: pongPath, ...(spin ? { spinMicros: SPIN_MICROS } : {}) });
    while (publisher.subscriberCount < 1) await once(publisher, 'subscribe');
    if (busy || blocking) {
      const receive = busy ? () => subscriber.tryRecv() : () => recvBlocking(subscriber);
      const pingSync = (message) => {
        offerBusy(publisher, message);
        const echo = busyPoll(receive, 'echo');
        if (echo === null || echo.length !== message.length) throw new Error('bad echo');
      };
      return {
        ponger,
        pingSync,
        ping: async (message) => pingSync(message),
        async close() {
          // The end marker (no ping is empty) lets the ponger leave its loop
          // at once; closing the bus would too, a little later.
          offerBusy(publisher, EMPTY);
          await publisher.close();
          await subscriber.close();
        },
      };
    }
    return {
      ponger,
      async ping(message) {
        await publisher.publish(message);
        const echo = await subscriber.recv();
        if (echo === null || echo.length !== message.length) throw new Error('bad echo');
      },
      async close() {
        await publisher.close();
        await subscriber.close();
      },
    };
  }
  if (transport === 'uds' || transport === 'tcp') {
    const server = net.createServer();
    const address = transport === 'tcp' ? { host: '127.0.0.1', port: 0 } : { path: join(dir, 'ping.sock') };
    if (address.path) server.listen(address.path);
    else server.listen(0, address.host);
    await once(server, 'listening');
    if (!address.path) address.port = server.address().port;
    const accepted = once(server, 'connection');
    const ponger = spawnPonger({ transport, address, size });
    const [socket] = await accepted;
    socket.setNoDelay(true);
    await ponger.ready;
    const frame = Buffer.alloc(FRAME_HEADER + size);
    frame.writeUInt32LE(size, 0);
    let got = 0;
    let wake = null;
    socket.on('data', (chunk) => {
      got += chunk.length;
      if (got >= frame.length) {
        got -= frame.length;
        wake();
      }
    });
    return {
      ponger,
      ping(message) {
        message.copy(frame, FRAME_HEADER);
        const echoed = new Promise((resolve) => (wake = resolve));
        socket.write(frame);
        return echoed;
      },
      async close() {
        socket.destroy();
        server.close();
      },
    };
  }
  if (transport === 'zeromq') {
    const zmq = await import('zeromq');
    const publisher = new zmq.XPublisher({ linger: 0 });
    const pingEndpoint = `ipc://${join(dir, 'ping.ipc')}`;
    const pongEndpoint = `ipc://${join(dir, 'pong.ipc')}`;
    await publisher.bind(pingEndpoint);
    const ponger = spawnPonger({ transport, address: { pingEndpoint, pongEndpoint }, size });
    await ponger.ready; // it bound its publisher and subscribed to ours
    const [subscription] = await publisher.receive();
    if (subscription[0] !== 1) throw new Error('expected a subscription');
    const subscriber = new zmq.Subscriber({ linger: 0 });
    subscriber.connect(pongEndpoint);
    subscriber.subscribe();
    // A PUB drops everything until the SUB's subscription reached it: probe
    // until one echo returns (one receive in flight at a time: zeromq.js
    // allows no more), then drain the echoes of later probes.
    const probe = Buffer.alloc(size);
    let receiving = null;
    for (;;) {
      await publisher.send(probe);
      receiving ??= subscriber.receive();
      if (await Promise.race([receiving, sleep(20).then(() => null)])) break;
    }
    subscriber.receiveTimeout = 100;
    try {
      for (;;) await subscriber.receive();
    } catch {
      // timed out: nothing more in flight
    }
    subscriber.receiveTimeout = -1;
    return {
      ponger,
      async ping(message) {
        await publisher.send(message);
        const [echo] = await subscriber.receive();
        if (echo.length !== message.length) throw new Error('bad echo');
      },
      async close() {
        await publisher.send(EMPTY);
        publisher.close();
        subscriber.close();
      },
    };
  }
  if (transport === 'nats') {
    const { connect } = await import('nats');
    const connection = await connect({ servers: natsUrl, noEcho: true });
    const subject = `ping.${process.pid}.${Date.now()}`;
    const replies = connection.subscribe(`${subject}.pong`);
    await connection.flush();
    const iterator = replies[Symbol.asyncIterator]();
    const ponger = spawnPonger({ transport, address: { natsUrl, subject }, size });
    await ponger.ready;
    return {
      ponger,
      async ping(message) {
        connection.publish(subject, message);
        const { value } = await iterator.next();
        if (value.data.length !== message.length) throw new Error('bad echo');
      },
      async close() {
        connection.publish(subject, EMPTY);
        await connection.flush();
        await connection.close();
      },
    };
  }
  throw new Error(`no latency measurement for ${transport}`);
}

/** The echo side: returns when the pinger closes (or, busy-polling, sends its end marker). */
export async function runPonger({ transport, address, spin, busyPoll: busy, blocking }, ready) {
  if (transport === 'ringcast') {
    const { Publisher, Subscriber } = await ringcast();
    const subscriber = await Subscriber.connect({ path: address.pingPath, ...(spin ? { spinMicros: SPIN_MICROS } : {}) });
    const publisher = await Publisher.listen({ path: address.pongPath, capacity: 1 << 20 });
    ready();
    while (publisher.subscriberCount < 1) await once(publisher, 'subscribe');
    if (busy || blocking) {
      // Never yields until the end: null is the end of the stream, an empty message the end marker.
      const receive = busy ? () => subscriber.tryRecv() : () => recvBlocking(subscriber);
      for (;;) {
        const message = busyPoll(receive, 'ping');
        if (message === null || message.length === 0) break;
        offerBusy(publisher, message);
      }
    } else for await (const message of subscriber) await publisher.publish(message);
    await publisher.close();
    await subscriber.close();
    return;
  }
  if (transport === 'uds' || transport === 'tcp') {
    const socket = address.path ? net.createConnection(address.path) : net.createConnection(address.port, address.host);
    socket.setNoDelay(true);
    await once(socket, 'connect');
    ready();
    // Bytes back as they come: one frame is in flight at a time, so this is a frame echo.
    socket.on('data', (chunk) => socket.write(chunk));
    await Promise.race([once(socket, 'close'), once(socket, 'end')]);
    socket.destroy();
    return;
  }
  if (transport === 'zeromq') {
    const zmq = await import('zeromq');
    const subscriber = new zmq.Subscriber({ linger: 0 });
    subscriber.connect(address.pingEndpoint);
    subscriber.subscribe();
    const publisher = new zmq.Publisher({ linger: 0 });
    await publisher.bind(address.pongEndpoint);
    ready();
    for await (const [message] of subscriber) {
      if (message.length === 0) break;
      await publisher.send(message);
    }
    subscriber.close();
    publisher.close();
    return;
  }
  if (transport === 'nats') {
    const { connect } = await import('nats');
    const connection = await connect({ servers: address.natsUrl, noEcho: true });
    const subscription = connection.subscribe(address.subject);
    await connection.flush();
    ready();
    for await (const message of subscription) {
      if (message.data.length === 0) break;
      connection.publish(`${address.subject}.pong`, message.data);
    }
    await connection.close();
    return;
  }
  throw new Error(`no latency measurement for ${transport}`);
}

