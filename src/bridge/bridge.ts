// The bridge: forwards a local bus to remote hosts and republishes what
// remote bridges forward into a local bus. One process, one Bridge, either
// direction or both, over one transport.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';

import PQueue from 'p-queue';

import { formatAddress, parseAddress, resolvePublisherAddress, resolveSubscriberAddress } from '../address.js';
import type { BridgeEvents } from '../events.js';
import { invalidOption, PublisherGoneError } from '../errors.js';
import { resolveLogger, type Logger } from '../logger.js';
import { checkInteger, checkKnownOptions } from '../options.js';
import { Publisher, type PublisherOptions } from '../publisher.js';
import { requireXen } from '../providers/xen.js';
import { Subscriber, type GapEvent as BusGapEvent } from '../subscriber.js';
import { serveMetrics, type MetricsServer } from './metrics.js';
import { NatsTransport, TcpTransport, type Transport } from './transport.js';
import {
  decodeFrame,
  ENTRY_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  FrameBuilder,
  MAX_HOPS_LIMIT,
  readEnvelope,
  toEnvelope,
  type WireError,
} from './wire.js';

/** What a Bridge republishes into: a bus address, or a Publisher's options (with its address or path). */
export type RepublishOptions = Omit<PublisherOptions, 'listen' | 'envelopes'>;

/**
 * The republished bus's options. Publisher.listen resolves the address; it is
 * resolved here once more so that a bus no Publisher can serve (an ivshmem:
 * one without its server, a xen: one with a slot) is refused before the link
 * starts. Every kind of bus carries the envelopes: each provider formats its
 * ring with the feature, and every subscriber's core hides them.
 */
function republishTarget(republish: unknown): RepublishOptions {
  if (typeof republish === 'string') {
    parseAddress(republish, 'republish');
    return { address: republish };
  }
  if (typeof republish !== 'object' || republish === null) {
    throw invalidOption('republish', republish, 'a bus address, or publisher options with an address or path');
  }
  const options = republish as RepublishOptions;
  if (options.address !== undefined) parseAddress(options.address, 'republish.address');
  resolvePublisherAddress(options);
  return options;
}

/** The name a bus goes by in stats and logs: a socket path as it was, any other address in its canonical text. */
function busName(options: { address?: string; path?: string }): string {
  if (options.address === undefined) return options.path!;
  const address = parseAddress(options.address);
  return address.kind === 'unix' ? address.path : formatAddress(address);
}

/** Where frames go: a NATS subject, or a direct TCP link. */
export type BridgeTransportOptions =
  | { type: 'nats'; servers: string | string[]; subject: string }
  | { type: 'tcp'; listen: { host?: string; port: number } }
  | { type: 'tcp'; connect: { host: string; port: number } };

export interface BridgeOptions {
  /**
   * Forward this bus to the remote side: any address a Subscriber attaches
   * to (docs/addresses.md): `unix:PATH` or a bare socket path,
   * `ivshmem:RING?ack=FILE&doorbell=DEVICE` from a KVM guest (`&server=SOCKET`
   * on a host), `xen:DOMID/BUS[/SLOT]` from a Xen receiver domain. The bridge
   * is one more subscriber of that bus, in that bus's slot.
   */
  forward?: string;
  /**
   * Republish what remote bridges forward into a bus this bridge publishes:
   * its address (`unix:PATH` or a bare path), or Publisher options, which an
   * ivshmem bus needs for its guests (`{ address: 'ivshmem:RING?server=SOCKET',
   * vm: { guests } }`) and a Xen bus for its receiver domains (`{ address:
   * 'xen:DOMID/BUS', xen: { receivers } }`, DOMID: this domain). The bus
   * carries envelopes its subscribers never see.
   */
  republish?: string | RepublishOptions;
  /**
   * One attach to the forwarded bus gives up after this long and is tried
   * again (default 5000 ms). A Xen look-up and join under emulation can take
   * longer than that.
   */
  handshakeTimeoutMs?: number;
  transport: BridgeTransportOptions;
  /**
   * What a slow or absent network does: 'block' (default) stops reading the
   * local bus, whose own policy then decides (the bridge rejoins and reports
   * the gap if evicted); 'drop' keeps reading and drops whole batches,
   * counted and reported.
   */
  policy?: 'block' | 'drop';
  /** Bytes of frames waiting for the network before the policy applies (default 8 MiB); also bounds inbound work. */
  maxPendingBytes?: number;
  /** Largest frame built (default 256 KiB; never more than the transport carries). */
  maxBatchBytes?: number;
  /** Bridges a message may cross; more is a loop and is dropped (default 8). */
  maxHops?: number;
  /** First reconnect delay, doubled up to reconnectMaxMs (default 100 / 5000 ms). */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Serve Prometheus metrics (/metrics) and stats (/stats.json) on this port (0: any free port). */
  metricsPort?: number;
  metricsHost?: string;
  /** pino logger for lifecycle events; silent by default. */
  logger?: Logger;
}

/** Every top-level option of Bridge.start: any other is refused (a typo would otherwise be ignored). */
const BRIDGE_OPTION_NAMES = [
  'forward', 'republish', 'handshakeTimeoutMs', 'transport', 'policy', 'maxPendingBytes', 'maxBatchBytes', 'maxHops',
  'reconnectInitialMs', 'reconnectMaxMs', 'metricsPort', 'metricsHost', 'logger',
] as const satisfies ReadonlyArray<keyof BridgeOptions>;

/** Options a caller may put at the top by mistake, and where they belong. */
const BRIDGE_OPTION_HOMES: Readonly<Record<string, string>> = {
  ...Object.fromEntries(['capacity', 'maxPayload', 'maxMessageBytes', 'evictAfterMs', 'maxLagBytes', 'heartbeatTimeoutMs', 'maxSubscribers', 'allow', 'maxPerUid', 'rejoinBackoffMs', 'maxPendingHandshakes', 'vm', 'xenBus'].map((name) => [name, 'republish (the bus this bridge publishes)'])),
  ...Object.fromEntries(['servers', 'subject', 'listen', 'connect', 'host', 'port', 'type'].map((name) => [name, 'transport'])),
};

/** A gap in some origin's sequence: messages that did not make it here. */
export interface BridgeGapEvent {
  /** The bus the messages were first published on (16 hex digits). */
  origin: string;
  /** First missing sequence number at the origin. */
  fromSeq: number;
  /** Sequence number that arrived instead. */
  toSeq: number;
  lostMessages: number;
  /** 'upstream': the sequence jumped (lost before this bridge: network, a sender's drop, an eviction). 'here': this bridge dropped them. */
  where: 'upstream' | 'here';
}

export interface BridgeStats {
  id: string;
  transport: string;
  connected: boolean;
  reconnects: number;
  forward: {
    bus: string | null;
    /** Whether the bridge is a subscriber of the forwarded bus now. */
    attached: boolean;
    /**
     * Attempts to attach to the forwarded bus that failed (no bus there yet,
     * a full one, a refusal, our slot not yet free): each is retried, so a
     * count that keeps growing is a bus that is not coming (a wrong name?).
     */
    attachFailures: number;
    /** Local bus bytes committed and not yet read by the bridge. */
    lagBytes: number;
    messages: number;
    bytes: number;
    batches: number;
    /** Frames waiting for the network: bytes, and the messages in them. */
    pendingBytes: number;
    pendingMessages: number;
    /** Dropped by the 'drop' policy or as larger than the transport carries. */
    droppedMessages: number;
    /** Evictions of the bridge from the local bus (each rejoined, each a gap remotely). */
    evictions: number;
    lostMessages: number;
  };
  republish: {
    bus: string | null;
    /** Subscribers of the republished bus now (on a Xen bus, its receivers joined). */
    subscribers: number;
    messages: number;
    bytes: number;
    batches: number;
    gaps: number;
    lostMessages: number;
    duplicates: number;
    /** Our own messages come back: dropped. */
    echoes: number;
    /** Messages past maxHops: dropped. */
    loops: number;
    /** Malformed frames: dropped (a TCP peer sending them is disconnected). */
    malformedFrames: number;
    pendingBytes: number;
  };
}

/**
 * Origins whose next sequence number a republishing bridge remembers. Each
 * costs about 80 bytes, and a peer names a new one with every 24-byte entry
 * header (two million of them took a bridge from 400 to 560 MiB), so past
 * this many the origin seen least recently is forgotten: a message of it that
 * comes later starts its count again, as a first message does.
 */
export const MAX_ORIGINS = 65_536;

const DEFAULTS = {
  maxPendingBytes: 8 * 1024 * 1024,
  maxBatchBytes: 256 * 1024,
  maxHops: 8,
  handshakeTimeoutMs: 5000,
  reconnectInitialMs: 100,
  reconnectMaxMs: 5000,
};

/** Messages taken from the bus per poll: bounds one turn of the event loop. */
const POLL_LIMIT = 1024;

function hex(origin: bigint): string {
  return origin.toString(16).padStart(16, '0');
}

/**
 * Events: `gap` (BridgeGapEvent), `drop` (`{ messages, reason }`), `up`/`down`
 * (the link), `malformed` (WireError from a peer), `close`.
 */
export class Bridge extends EventEmitter<BridgeEvents> {
  /** This bridge's sender id on the wire (16 hex digits). */
  readonly id: string;
  #sender: bigint;
  #options: Required<Pick<BridgeOptions, 'policy' | 'maxPendingBytes' | 'maxBatchBytes' | 'maxHops' | 'handshakeTimeoutMs'>>;
  #transport: Transport;
  #log: Logger;
  /** The bus forwarded, as the options gave its address. */
  #forwardAddress: string | null;
  #republishOptions: PublisherOptions | null;
  #subscriber: Subscriber | null = null;
  #publisher: Publisher | null = null;
  #metrics: MetricsServer | null = null;
  #sendQueue = new PQueue({ concurrency: 1 });
  #publishQueue = new PQueue({ concurrency: 1 });
  #pumping: Promise<void> | null = null;
  /** Aborted by close(): the bridge is closed, and every wait of the forwarding side ends. */
  #stop = new AbortController();
  get #closed(): boolean {
    return this.#stop.signal.aborted;
  }
  #closing: Promise<void> | null = null;
  /** Origins this bridge forwards first-hand: coming back, they are echoes. */
  #ownOrigins = new Set<bigint>();
  /** Next sequence number expected from each origin, the one seen least recently first (at most MAX_ORIGINS). */
  #expected = new Map<bigint, number>();
  /** The origin #expected saw last: it is at the end of the order already. */
  #lastOrigin: bigint | null = null;
  #forward = { attachFailures: 0, messages: 0, bytes: 0, batches: 0, pendingBytes: 0, pendingMessages: 0, droppedMessages: 0, evictions: 0, lostMessages: 0 };
  #republish = { messages: 0, bytes: 0, batches: 0, gaps: 0, lostMessages: 0, duplicates: 0, echoes: 0, loops: 0, malformedFrames: 0, pendingBytes: 0 };

  private constructor(options: BridgeOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
    checkKnownOptions('Bridge.start', options, BRIDGE_OPTION_NAMES, BRIDGE_OPTION_HOMES);
    if (options.forward === undefined && options.republish === undefined) {
      throw invalidOption('forward', options.forward, 'a bus address to forward, or a republish option (or both)');
    }
    if (options.forward !== undefined) {
      // Refused now, not retried forever: an address that does not parse or
      // lacks what a subscriber needs (an ivshmem ack page, a doorbell).
      parseAddress(options.forward, 'forward');
      resolveSubscriberAddress({ address: options.forward });
    }
    if (options.policy !== undefined && options.policy !== 'block' && options.policy !== 'drop') {
      throw invalidOption('policy', options.policy, "'block' or 'drop'");
    }
    this.#options = {
      policy: options.policy ?? 'block',
      maxPendingBytes: checkInteger('maxPendingBytes', options.maxPendingBytes, DEFAULTS.maxPendingBytes, 64 * 1024, 2 ** 40),
      maxBatchBytes: checkInteger('maxBatchBytes', options.maxBatchBytes, DEFAULTS.maxBatchBytes, 1024, 64 * 1024 * 1024),
      maxHops: checkInteger('maxHops', options.maxHops, DEFAULTS.maxHops, 1, MAX_HOPS_LIMIT),
      handshakeTimeoutMs: checkInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, DEFAULTS.handshakeTimeoutMs, 1, 600_000),
    };
    const reconnectInitialMs = checkInteger('reconnectInitialMs', options.reconnectInitialMs, DEFAULTS.reconnectInitialMs, 1, 60_000);
    const reconnectMaxMs = checkInteger('reconnectMaxMs', options.reconnectMaxMs, DEFAULTS.reconnectMaxMs, reconnectInitialMs, 600_000);
    const id = randomBytes(8);
    this.#sender = id.readBigUInt64LE(0);
    this.id = hex(this.#sender);
    this.#log = resolveLogger(options.logger, 'bridge');
    this.#forwardAddress = options.forward ?? null;
    this.#republishOptions =
      options.republish === undefined
        ? null
        : // Omit<> merged PublisherOptions' policy branches; Publisher checks the combination at run time.
          ({ ...republishTarget(options.republish), logger: options.logger, envelopes: true } as PublisherOptions);
    this.#transport = makeTransport(options.transport, {
      subscribe: this.#republishOptions !== null,
      name: `ringcast-bridge-${this.id}`,
      maxBatchBytes: this.#options.maxBatchBytes,
      maxPendingBytes: this.#options.maxPendingBytes,
      reconnectInitialMs,
      reconnectMaxMs,
    });
    if (options.metricsPort !== undefined) checkInteger('metricsPort', options.metricsPort, 0, 0, 65535);
  }

  /** Starts the bridge: the local bus to republish into, the link, then forwarding. */
  static async start(options: BridgeOptions): Promise<Bridge> {
    const bridge = new Bridge(options);
    try {
      await bridge.#start(options);
    } catch (error) {
      await bridge.close();
      throw error;
    }
    return bridge;
  }

  async #start(options: BridgeOptions): Promise<void> {
    // A bus that may not be there yet is waited for; a domain without the Xen
    // devices never will have one: refused now, not retried for ever.
    if (this.#forwardAddress !== null && parseAddress(this.#forwardAddress).kind === 'xen') requireXen(`bus ${this.#forwardAddress}`);
    if (this.#republishOptions) this.#publisher = await Publisher.listen(this.#republishOptions);
    await this.#transport.start({
      frame: (frame) => this.#onFrame(frame),
      up: () => {
        this.#log.info({ transport: this.#transport.address }, 'link up');
        this.emit('up');
      },
      down: (reason) => {
        this.#log.warn({ transport: this.#transport.address, reason }, 'link down');
        this.emit('down', { reason });
      },
      violation: (error) => this.#onMalformed(error),
    });
    if (this.#forwardAddress !== null) this.#pumping = this.#forwardLoop(this.#forwardAddress);
    if (options.metricsPort !== undefined) {
      this.#metrics = await serveMetrics(() => this.stats(), options.metricsPort, options.metricsHost ?? '127.0.0.1');
    }
    this.#log.info({ id: this.id, forward: this.#forwardAddress, republish: this.#republishOptions && busName(this.#republishOptions) }, 'bridge started');
  }

  /** The metrics server's port, when one was asked for. */
  get metricsPort(): number | null {
    return this.#metrics?.port ?? null;
  }

  /** The TCP port listened on, for a tcp listen transport. */
  get port(): number | null {
    return this.#transport instanceof TcpTransport ? this.#transport.port : null;
  }

  get closed(): boolean {
    return this.#closed;
  }

  stats(): BridgeStats {
    let lagBytes = 0;
    if (this.#subscriber && !this.#subscriber.closed) lagBytes = this.#subscriber.stats().lagBytes;
    return {
      id: this.id,
      transport: this.#transport.address,
      connected: this.#transport.connected,
      reconnects: this.#transport.reconnects,
      forward: {
        bus: this.#forwardAddress === null ? null : busName({ address: this.#forwardAddress }),
        attached: this.#subscriber !== null && !this.#subscriber.closed,
        lagBytes,
        ...this.#forward,
      },
      republish: { bus: this.#republishOptions && busName(this.#republishOptions), subscribers: this.#publisher?.subscriberCount ?? 0, ...this.#republish },
    };
  }

  // ---- forwarding: local bus -> link ------------------------------------------

  /**
   * Follows the forwarded bus across publisher restarts (and, on a shared-memory
   * bus, across this bridge's slot being freed and taken again) until the
   * bridge closes.
   */
  async #forwardLoop(address: string): Promise<void> {
    let retryMs = 100;
    while (!this.#closed) {
      try {
        this.#subscriber = await Subscriber.connect({
          address,
          rejoin: true,
          keepEnvelopes: true,
          handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
          logger: this.#log,
          signal: this.#stop.signal,
        });
      } catch (error) {
        if (this.#closed) return;
        // No bus yet (or a full one, or our slot not yet free): try again, slower each time.
        this.#forward.attachFailures++;
        this.#log.debug({ bus: address, error: (error as Error).message }, 'bus to forward not reachable; retrying');
        await sleep(retryMs, this.#stop.signal);
        retryMs = Math.min(retryMs * 2, 5000);
        continue;
      }
      retryMs = 100;
      const subscriber = this.#subscriber;
      subscriber.on('gap', (gap: BusGapEvent) => {
        this.#forward.evictions++;
        this.#forward.lostMessages += gap.lostMessages;
        this.#log.warn({ gap }, 'the local bus evicted the bridge; rejoined');
      });
      try {
        await this.#pump(subscriber);
      } catch (error) {
        if (!(error instanceof PublisherGoneError)) this.#log.warn({ error: (error as Error).message }, 'forwarding stopped');
      } finally {
        await subscriber.close();
        if (this.#subscriber === subscriber) this.#subscriber = null;
      }
    }
  }

  async #pump(subscriber: Subscriber): Promise<void> {
    const { busId, enveloped } = subscriber._bus();
    const origin = BigInt(`0x${busId}`);
    if (!enveloped) this.#ownOrigins.add(origin);
    const frameBytes = Math.min(this.#options.maxBatchBytes, this.#transport.maxFrameBytes);
    let frames: FrameBuilder[] = [];
    let current: FrameBuilder | null = null;
    const take = (view: Uint8Array, seq: number): void => {
      let from = origin;
      let originSeq = seq;
      let hops = 0;
      let payload = view;
      if (enveloped) {
        ({ origin: from, originSeq, hops } = readEnvelope(view));
        payload = view.subarray(ENTRY_HEADER_BYTES);
      }
      if (current === null || !current.fits(payload.length)) {
        const need = FRAME_HEADER_BYTES + ENTRY_HEADER_BYTES + payload.length;
        if (need > this.#transport.maxFrameBytes) {
          this.#dropped(1, 'too-large');
          return;
        }
        current = new FrameBuilder(Math.max(frameBytes, need), this.#sender);
        frames.push(current);
      }
      current.add(from, originSeq, hops, payload);
    };
    let ended = false;
    subscriber.once('end', () => {
      ended = true;
    });
    while (!this.#closed && !ended) {
      await this.#roomToSend();
      if (this.#closed) return;
      const handled = subscriber.poll(take, POLL_LIMIT);
      if (frames.length > 0) {
        for (const frame of frames) this.#send(frame);
        frames = [];
        current = null;
      }
      if (handled === 0 && !ended) await subscriber.readable();
    }
  }

  /** Block policy: wait while the network holds maxPendingBytes, or is down. */
  async #roomToSend(): Promise<void> {
    if (this.#options.policy !== 'block') return;
    while (!this.#closed && this.#forward.pendingBytes >= this.#options.maxPendingBytes) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#sendQueue.off('next', done);
          this.#stop.signal.removeEventListener('abort', done);
          resolve();
        };
        this.#sendQueue.on('next', done);
        this.#stop.signal.addEventListener('abort', done);
      });
    }
  }

  #send(frame: FrameBuilder): void {
    const bytes = frame.finish();
    const messages = frame.count;
    if (this.#options.policy === 'drop' && (!this.#transport.connected || this.#forward.pendingBytes + bytes.length > this.#options.maxPendingBytes)) {
      this.#dropped(messages, this.#transport.connected ? 'network-slow' : 'network-down');
      return;
    }
    this.#forward.pendingBytes += bytes.length;
    this.#forward.pendingMessages += messages;
    void this.#sendQueue.add(async () => {
      try {
        for (;;) {
          // Closing drains what is queued while the link lasts.
          if (this.#closed && !this.#transport.connected) return this.#dropped(messages, 'closed');
          if (!this.#transport.connected) {
            if (this.#options.policy === 'drop') return this.#dropped(messages, 'network-down');
            await this.#transport.whenConnected();
            continue;
          }
          try {
            await this.#transport.send(bytes);
            break;
          } catch (error) {
            // The link dropped between the check and the write: wait for it.
            this.#log.debug({ error: (error as Error).message }, 'send failed; waiting for the link');
            if (this.#transport.connected) await sleep(50, this.#stop.signal);
          }
        }
        this.#forward.messages += messages;
        this.#forward.bytes += bytes.length;
        this.#forward.batches++;
      } finally {
        this.#forward.pendingBytes -= bytes.length;
        this.#forward.pendingMessages -= messages;
      }
    });
  }

  #dropped(messages: number, reason: 'too-large' | 'network-slow' | 'network-down' | 'closed'): void {
    this.#forward.droppedMessages += messages;
    if (reason !== 'closed') this.emit('drop', { messages, reason });
  }

  // ---- republishing: link -> local bus ----------------------------------------

  #onMalformed(error: WireError): void {
    this.#republish.malformedFrames++;
    this.#log.warn({ detail: error.message }, 'malformed frame from the link');
    this.emit('malformed', error);
  }

  /** Republishes a frame's messages; false if the frame was malformed. */
  #onFrame(frame: Buffer): boolean {
    const publisher = this.#publisher;
    if (!publisher || this.#closed) return true;
    let decoded;
    try {
      decoded = decodeFrame(frame, MAX_HOPS_LIMIT);
    } catch (error) {
      this.#onMalformed(error as WireError);
      return false;
    }
    if (decoded.sender === this.#sender) return true; // our own frame (a loop through the broker)
    const messages: Buffer[] = [];
    let bytes = 0;
    for (const entry of decoded.entries) {
      if (this.#ownOrigins.has(entry.origin)) {
        this.#republish.echoes++;
        continue;
      }
      if (entry.hops >= this.#options.maxHops) {
        this.#republish.loops++;
        continue;
      }
      if (!this.#inSequence(entry.origin, entry.originSeq, 'upstream')) continue;
      messages.push(toEnvelope(frame, entry));
      bytes += entry.length;
    }
    if (messages.length === 0) return true;
    if (this.#republish.pendingBytes >= this.#options.maxPendingBytes && this.#transport.kind === 'nats') {
      // NATS cannot be paused: what the local bus cannot take now is dropped
      // here, and said so.
      this.#reportDroppedHere(messages);
      return true;
    }
    this.#republish.pendingBytes += frame.length;
    if (this.#republish.pendingBytes >= this.#options.maxPendingBytes) this.#transport.pauseInbound();
    void this.#publishQueue.add(async () => {
      try {
        await publisher.publishBatch(messages);
        this.#republish.messages += messages.length;
        this.#republish.bytes += bytes;
        this.#republish.batches++;
      } catch (error) {
        if (!this.#closed) this.#log.warn({ error: (error as Error).message }, 'republishing failed');
      } finally {
        this.#republish.pendingBytes -= frame.length;
        if (this.#republish.pendingBytes < this.#options.maxPendingBytes / 2) this.#transport.resumeInbound();
      }
    });
    return true;
  }

  /** Checks an origin's sequence; reports a jump as a gap. False for a duplicate. */
  #inSequence(origin: bigint, seq: number, where: 'upstream' | 'here'): boolean {
    const expected = this.#expected.get(origin);
    if (expected !== undefined && seq < expected) {
      this.#republish.duplicates++;
      return false;
    }
    if (expected !== undefined && seq > expected) this.#gap(origin, expected, seq, where);
    if (origin !== this.#lastOrigin) {
      // Map order is insertion order: moved to the end, a live origin is never the one forgotten.
      this.#expected.delete(origin);
      this.#lastOrigin = origin;
      if (expected === undefined && this.#expected.size >= MAX_ORIGINS) this.#expected.delete(this.#expected.keys().next().value!);
    }
    this.#expected.set(origin, seq + 1);
    return true;
  }

  #gap(origin: bigint, fromSeq: number, toSeq: number, where: 'upstream' | 'here'): void {
    const gap: BridgeGapEvent = { origin: hex(origin), fromSeq, toSeq, lostMessages: toSeq - fromSeq, where };
    this.#republish.gaps++;
    this.#republish.lostMessages += gap.lostMessages;
    this.#log.warn({ gap }, 'gap in a forwarded stream');
    this.emit('gap', gap);
  }

  #reportDroppedHere(envelopes: Buffer[]): void {
    // A run of consecutive messages from one origin is one gap.
    let run: { origin: bigint; from: number; to: number } | null = null;
    for (const message of envelopes) {
      const { origin, originSeq } = readEnvelope(message);
      if (run && run.origin === origin && run.to === originSeq) {
        run.to++;
        continue;
      }
      if (run) this.#gap(run.origin, run.from, run.to, 'here');
      run = { origin, from: originSeq, to: originSeq + 1 };
    }
    if (run) this.#gap(run.origin, run.from, run.to, 'here');
  }

  /** Stops forwarding, drains what was queued for the link and the local bus, closes both. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#stop.abort();
    await this.#subscriber?.close();
    await this.#pumping;
    await Promise.race([Promise.all([this.#sendQueue.onIdle(), this.#publishQueue.onIdle()]), sleep(2000)]);
    await this.#transport.close();
    this.#sendQueue.clear();
    await this.#publisher?.close();
    await this.#metrics?.close();
    this.emit('close');
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function makeTransport(
  options: BridgeTransportOptions,
  context: { subscribe: boolean; name: string; maxBatchBytes: number; maxPendingBytes: number; reconnectInitialMs: number; reconnectMaxMs: number },
): Transport {
  if (typeof options !== 'object' || options === null) throw invalidOption('transport', options, "{ type: 'nats' | 'tcp', ... }");
  if (options.type === 'nats') {
    const servers = typeof options.servers === 'string' ? [options.servers] : options.servers;
    if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string' && s.length > 0)) {
      throw invalidOption('transport.servers', options.servers, 'a NATS server URL or a non-empty array of them');
    }
    if (typeof options.subject !== 'string' || !/^[^\s*>]+$/.test(options.subject)) {
      throw invalidOption('transport.subject', options.subject, 'a NATS subject without spaces or wildcards');
    }
    return new NatsTransport({
      servers,
      subject: options.subject,
      subscribe: context.subscribe,
      name: context.name,
      reconnectWaitMs: context.reconnectInitialMs * 5,
      flushBytes: 4 * context.maxBatchBytes,
    });
  }
  if (options.type === 'tcp') {
    const listen = 'listen' in options ? options.listen : undefined;
    const connect = 'connect' in options ? options.connect : undefined;
    const end = listen ?? connect;
    if ((listen === undefined) === (connect === undefined) || typeof end !== 'object' || end === null) {
      throw invalidOption('transport', options, "{ type: 'tcp', listen: { port } } or { type: 'tcp', connect: { host, port } }");
    }
    const port = checkInteger('transport.port', end.port, 0, listen ? 0 : 1, 65535);
    const host = end.host ?? (listen ? '0.0.0.0' : undefined);
    if (typeof host !== 'string' || host.length === 0) throw invalidOption('transport.host', end.host, 'a host name or address');
    return new TcpTransport({
      mode: listen ? 'listen' : 'connect',
      host,
      port,
      maxFrameBytes: Math.max(context.maxBatchBytes, 64 * 1024 * 1024) + FRAME_HEADER_BYTES + ENTRY_HEADER_BYTES,
      maxPeerBacklogBytes: context.maxPendingBytes,
      reconnectInitialMs: context.reconnectInitialMs,
      reconnectMaxMs: context.reconnectMaxMs,
    });
  }
  throw invalidOption('transport.type', (options as { type?: unknown }).type, "'nats' or 'tcp'");
}

