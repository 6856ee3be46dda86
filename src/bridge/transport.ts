// How bridge frames travel: a NATS subject (many hosts, through a broker) or
// a direct TCP link (two hosts). Both carry whole frames (src/bridge/wire.ts)
// and report connection changes; neither interprets the frames.
import { EventEmitter, once } from 'node:events';
import net from 'node:net';

import { connect as natsConnect, Events, type NatsConnection, type Subscription } from 'nats';

import { RingcastError } from '../errors.js';
import { FRAME_HEADER_BYTES, frameLength, WireError } from './wire.js';

export interface TransportEvents {
  /** A whole frame arrived (not yet decoded). False: it was malformed (a stream peer is dropped). */
  frame(frame: Buffer): boolean;
  /** The link came up (first time or again). */
  up(): void;
  /** The link went down; frames sent since the last acknowledgement may be lost. */
  down(reason: string): void;
  /** A peer sent bytes that are not frames (the link to it is dropped where the transport allows). */
  violation(error: WireError): void;
}

export interface Transport {
  readonly kind: 'nats' | 'tcp';
  /** Where it sends to or listens on, for humans. */
  readonly address: string;
  readonly connected: boolean;
  /** Largest frame the link carries (NATS: the server's max_payload). */
  readonly maxFrameBytes: number;
  readonly reconnects: number;
  start(events: TransportEvents): Promise<void>;
  /** Hands a frame to the link, resolving when the link can take more (backpressure). */
  send(frame: Buffer): Promise<void>;
  /** Resolves when the link is up. */
  whenConnected(): Promise<void>;
  /** Stop / resume reading from the link (inbound backpressure, where the link has it). */
  pauseInbound(): void;
  resumeInbound(): void;
  close(): Promise<void>;
}

function linkError(message: string, cause?: unknown): RingcastError {
  return new RingcastError('ERR_RINGCAST_SYSTEM', message, { cause });
}

/** Resolves waiters when `connected` turns true. */
class Connectivity extends EventEmitter {
  connected = false;
  set(up: boolean): void {
    this.connected = up;
    if (up) this.emit('up');
  }
  async whenUp(): Promise<void> {
    if (!this.connected) await once(this, 'up');
  }
}

// ---- NATS -------------------------------------------------------------------

export interface NatsTransportOptions {
  servers: string[];
  subject: string;
  /** Receive frames (the bridge republishes); false for a forward-only bridge. */
  subscribe: boolean;
  /** Client name shown by the server. */
  name: string;
  reconnectWaitMs: number;
  /** Ask the server for a round trip after this many unacknowledged bytes: bounds what one outage can lose. */
  flushBytes: number;
}

/** Unanswered round trips before a send waits: bounds unacknowledged bytes to about this × flushBytes. */
const MAX_FLUSHES_IN_FLIGHT = 2;

export class NatsTransport implements Transport {
  readonly kind = 'nats' as const;
  readonly address: string;
  #options: NatsTransportOptions;
  #nc: NatsConnection | null = null;
  #subscription: Subscription | null = null;
  #link = new Connectivity();
  #unflushed = 0;
  /** Round trips asked for and not yet answered, oldest first. */
  #flushes: Promise<void>[] = [];
  #reconnects = 0;
  #closing = false;

  constructor(options: NatsTransportOptions) {
    this.#options = options;
    this.address = `${options.servers.join(',')} subject ${options.subject}`;
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  get reconnects(): number {
    return this.#reconnects;
  }

  get maxFrameBytes(): number {
    return this.#nc?.info?.max_payload ?? 1024 * 1024;
  }

  async start(events: TransportEvents): Promise<void> {
    try {
      this.#nc = await natsConnect({
        servers: this.#options.servers,
        name: this.#options.name,
        noEcho: true, // our own frames never come back to us through the subject
        maxReconnectAttempts: -1,
        reconnectTimeWait: this.#options.reconnectWaitMs,
        reconnectJitter: Math.ceil(this.#options.reconnectWaitMs / 2),
        pingInterval: 2000,
        maxPingOut: 2,
      });
    } catch (error) {
      throw linkError(`cannot reach NATS at ${this.#options.servers.join(',')}: ${(error as Error).message}`, error);
    }
    this.#link.set(true);
    const nc = this.#nc;
    if (this.#options.subscribe) {
      this.#subscription = nc.subscribe(this.#options.subject, {
        callback: (error, message) => {
          if (error) return events.down(error.message);
          void events.frame(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength));
        },
      });
      await nc.flush(); // the server has our subscription before start() resolves
    }
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === Events.Disconnect) {
          this.#link.set(false);
          events.down('disconnected from the NATS server');
        } else if (status.type === Events.Reconnect) {
          this.#reconnects++;
          this.#unflushed = 0;
          this.#flushes = [];
          this.#link.set(true);
          events.up();
        }
      }
    })();
    void nc.closed().then(() => {
      if (!this.#closing) {
        this.#link.set(false);
        events.down('the NATS connection closed');
      }
    });
  }

  async send(frame: Buffer): Promise<void> {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) throw linkError('the NATS connection is closed');
    nc.publish(this.#options.subject, frame);
    this.#unflushed += frame.length;
    if (this.#unflushed >= this.#options.flushBytes) {
      this.#unflushed = 0;
      // A round trip: the server has everything before it. Without them the
      // client would buffer without bound while the server falls behind;
      // waiting for each one would leave the link idle, so a few stay in flight.
      this.#flushes.push(nc.flush().catch(() => {})); // a lost link is reported by status, not here
      if (this.#flushes.length > MAX_FLUSHES_IN_FLIGHT) await this.#flushes.shift();
    }
  }

  whenConnected(): Promise<void> {
    return this.#link.whenUp();
  }

  // NATS cannot push back on a subscriber: the bridge drops (and counts) instead.
  pauseInbound(): void {}
  resumeInbound(): void {}

  async close(): Promise<void> {
    this.#closing = true;
    this.#link.set(false);
    this.#link.emit('up'); // release waiters; they re-check and see the close
    const nc = this.#nc;
    this.#nc = null;
    if (nc && !nc.isClosed()) {
      this.#subscription?.unsubscribe();
      await nc.close();
    }
  }
}

// ---- TCP --------------------------------------------------------------------

export interface TcpTransportOptions {
  /** Listen for the peer bridge (host, port) or connect to it. */
  mode: 'listen' | 'connect';
  host: string;
  port: number;
  maxFrameBytes: number;
  /**
   * Bytes a peer may leave unread while another peer keeps up; past it the
   * peer is disconnected instead of holding every other peer back. A lone
   * peer is waited for (the bridge's policy applies).
   */
  maxPeerBacklogBytes: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
}

/** How a down event names a TCP peer. */
function peerName(socket: net.Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

/** Resolves when any of `sockets` can take more or has closed; leaves no listener behind. */
function anyWritable(sockets: net.Socket[]): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const socket of sockets) {
        socket.off('drain', done);
        socket.off('close', done);
      }
      resolve();
    };
    for (const socket of sockets) {
      socket.on('drain', done);
      socket.on('close', done);
    }
  });
}

/**
 * Peers a listening transport serves at once; a connection beyond them is
 * closed as it arrives. Each peer may hold one frame half read (up to
 * maxFrameBytes), so this bounds what connections can make the bridge
 * buffer; the link is not authenticated (docs/bridge.md).
 */
export const MAX_TCP_PEERS = 16;

/**
 * Cuts a byte stream into frames. A frame inside one chunk is a view of it;
 * one that spans chunks is gathered into a buffer grown by doubling up to the
 * frame's length, so what a peer has sent of it costs at most twice its bytes
 * however it is cut (kept as a list of chunks, a frame trickled a byte at a
 * time cost some 110 bytes of memory per byte).
 */
export class FrameReader {
  /** The frame being gathered: its first #filled bytes. */
  #held: Buffer | null = null;
  #filled = 0;
  /** Its length once the header is in, else 0. */
  #total = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes of an unfinished frame held. */
  get heldBytes(): number {
    return this.#held?.length ?? 0;
  }

  /** Feeds bytes; returns the whole frames they completed. Throws WireError. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#filled === 0) {
        const rest = chunk.length - at;
        this.#total = 0;
        if (rest >= FRAME_HEADER_BYTES) {
          const total = frameLength(chunk.subarray(at), this.maxFrameBytes);
          if (rest >= total) {
            frames.push(chunk.subarray(at, at + total));
            at += total;
            continue;
          }
          this.#total = total;
        }
        this.#append(chunk.subarray(at));
        return frames;
      }
      if (this.#total === 0) {
        const take = Math.min(FRAME_HEADER_BYTES - this.#filled, chunk.length - at);
        this.#append(chunk.subarray(at, at + take));
        at += take;
        if (this.#filled < FRAME_HEADER_BYTES) return frames;
        this.#total = frameLength(this.#held!.subarray(0, this.#filled), this.maxFrameBytes);
      }
      const take = Math.min(this.#total - this.#filled, chunk.length - at);
      this.#append(chunk.subarray(at, at + take));
      at += take;
      if (this.#filled < this.#total) return frames;
      frames.push(this.#held!.subarray(0, this.#total));
      this.#held = null;
      this.#filled = 0;
    }
    return frames;
  }

  #append(bytes: Buffer): void {
    const needed = this.#filled + bytes.length;
    if (this.#held === null || this.#held.length < needed) {
      const limit = Math.max(this.#total || FRAME_HEADER_BYTES, needed);
      // A frame up to 1 MiB (every batch a bridge sends but a large message's) is held whole at once: one copy.
      const grown = Buffer.allocUnsafe(Math.min(Math.max(needed, 2 * (this.#held?.length ?? 0), 1 << 20), limit));
      this.#held?.copy(grown, 0, 0, this.#filled);
      this.#held = grown;
    }
    bytes.copy(this.#held, this.#filled);
    this.#filled = needed;
  }
}

export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly address: string;
  readonly maxFrameBytes: number;
  #options: TcpTransportOptions;
  #events!: TransportEvents;
  #server: net.Server | null = null;
  #peers = new Set<net.Socket>();
  /** Why the transport itself ended a peer, for its `down` event. */
  #endedBecause = new WeakMap<net.Socket, string>();
  #link = new Connectivity();
  #reconnects = 0;
  #everConnected = false;
  #retryMs: number;
  #retryTimer: NodeJS.Timeout | null = null;
  #paused = false;
  #closing = false;

  constructor(options: TcpTransportOptions) {
    this.#options = options;
    this.maxFrameBytes = options.maxFrameBytes;
    this.address = `tcp ${options.mode} ${options.host}:${options.port}`;
    this.#retryMs = options.reconnectInitialMs;
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  get reconnects(): number {
    return this.#reconnects;
  }

  /** The port actually listened on (when 0 was asked for). */
  get port(): number {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address.port : this.#options.port;
  }

  async start(events: TransportEvents): Promise<void> {
    this.#events = events;
    if (this.#options.mode === 'listen') {
      const server = net.createServer((socket) => this.#adopt(socket));
      server.maxConnections = MAX_TCP_PEERS;
      this.#server = server;
      server.listen(this.#options.port, this.#options.host);
      try {
        await once(server, 'listening');
      } catch (error) {
        throw linkError(`cannot listen on ${this.#options.host}:${this.#options.port}: ${(error as Error).message}`, error);
      }
      return;
    }
    // The first attempt must succeed or start() fails: a typo should not
    // look like a peer that is merely down. Later losses reconnect.
    const socket = net.connect(this.#options.port, this.#options.host);
    try {
      await once(socket, 'connect');
    } catch (error) {
      socket.destroy();
      throw linkError(`cannot connect to ${this.#options.host}:${this.#options.port}: ${(error as Error).message}`, error);
    }
    this.#adopt(socket);
  }

  #adopt(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    // Taken now: a closed socket no longer knows its peer's address.
    const peer = peerName(socket);
    const reader = new FrameReader(this.#options.maxFrameBytes);
    this.#peers.add(socket);
    if (this.#paused) socket.pause();
    if (this.#everConnected && this.#options.mode === 'connect') this.#reconnects++;
    this.#everConnected = true;
    this.#retryMs = this.#options.reconnectInitialMs;
    this.#link.set(true);
    this.#events.up();
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch (error) {
        // A stream cannot be resynchronised after garbage: drop this peer only.
        this.#events.violation(error as WireError);
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (!this.#events.frame(frame)) {
          socket.destroy(); // it lied in a frame; nothing more from it is trusted
          return;
        }
      }
    });
    socket.on('error', () => {}); // 'close' follows and says what matters
    socket.on('close', () => {
      this.#peers.delete(socket);
      if (this.#peers.size === 0) this.#link.set(false);
      if (this.#closing) return;
      this.#events.down(this.#endedBecause.get(socket) ?? `tcp peer ${peer} went away`);
      if (this.#options.mode === 'connect') this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#options.reconnectMaxMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#closing) return;
      const socket = net.connect(this.#options.port, this.#options.host);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        this.#adopt(socket);
      });
      socket.once('error', () => {
        socket.destroy();
        this.#scheduleReconnect();
      });
    }, delay);
  }

  async send(frame: Buffer): Promise<void> {
    if (this.#peers.size === 0) throw linkError(`no tcp peer connected (${this.address})`);
    for (const socket of this.#peers) {
      // Waiting for the slowest of several peers would let one that stops
      // reading stall every other one, and then the bus evict the bridge:
      // it is dropped instead (a connecting bridge comes back, and its side
      // reports what it missed as a gap).
      if (this.#peers.size > 1 && socket.writableLength >= this.#options.maxPeerBacklogBytes) {
        const peer = peerName(socket);
        this.#endedBecause.set(socket, `tcp peer ${peer} dropped: ${socket.writableLength} bytes unread while another peer keeps up`);
        socket.destroy();
        continue;
      }
      socket.write(frame);
    }
    // Backpressure from the fastest peer: a lone peer is waited for.
    // Checked without allocating: this runs once per frame, and a list of the open peers is needed only to wait.
    for (;;) {
      let open = 0;
      for (const socket of this.#peers) {
        if (socket.destroyed) continue;
        if (!socket.writableNeedDrain) return;
        open++;
      }
      if (open === 0) return;
      await anyWritable([...this.#peers].filter((socket) => !socket.destroyed));
    }
  }

  whenConnected(): Promise<void> {
    return this.#link.whenUp();
  }

  pauseInbound(): void {
    this.#paused = true;
    for (const socket of this.#peers) socket.pause();
  }

  resumeInbound(): void {
    this.#paused = false;
    for (const socket of this.#peers) socket.resume();
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#link.set(false);
    this.#link.emit('up');
    for (const socket of this.#peers) socket.end();
    // 'close' follows a reset too; events.once would reject on the 'error' before it.
    const ended = [...this.#peers].map((socket) =>
      Promise.race([new Promise((resolve) => socket.once('close', resolve)), new Promise((resolve) => setTimeout(resolve, 1000).unref())]).then(() =>
        socket.destroy(),
      ),
    );
    await Promise.all(ended);
    if (this.#server) {
      const server = this.#server;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
