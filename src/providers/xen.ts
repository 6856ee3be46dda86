// The Xen region provider: a publisher in one Xen domain, subscribers in
// others, over grant tables and event channels (native/src/providers/xen/rc_xen.c; the
// deployment, trust model and XenStore layout are in docs/xen.md). Subscribers
// use the ordinary Subscriber (`Subscriber.connect({ xen })`); the publisher is
// XenPublisher: one ring from the grant device (kmod/ringcast_xengrant.c)
// granted read-only to every receiver domain, each message written once.
import { EventEmitter } from 'node:events';
import { constants } from 'node:os';

import type { XenPublisherEvents } from '../events.js';
import { joinFailure, verdictName, type SharedMemoryRoute } from '../attachment.js';
import { RingcastError, abortError, closedError, invalidOption, type EvictionReason } from '../errors.js';
import { resolveLogger, type Logger } from '../logger.js';
import { PublishQueue } from '../publish-queue.js';
import { C, native, type NativeFdWatcher, type NativeXenEvent, type NativeXenPublisher, type NativeXenSubscriber } from '../native.js';
import { checkCapacity, checkEvictAfterMs, checkInteger, checkPolicy, checkSignal, type SlowConsumerPolicy } from '../options.js';

/** Who allocates a subscriber's ack page and grants it to the other side (docs/xen.md, "Trust"). */
export type XenAckGrant = 'subscriber' | 'publisher';

/** One subscriber slot of a Xen bus. Slots of one domain are numbered in the order they are listed, from 0. */
export interface XenReceiver {
  /** The domain the subscriber runs in (0: dom0). */
  domid: number;
  /**
   * `subscriber` (default with XenStore): the subscriber's domain grants its ack
   * page and the publisher maps it. `publisher` (the only choice with manual
   * rendezvous): the publisher grants it and the subscriber maps it.
   */
  ackGrant?: XenAckGrant;
}

export interface XenPublisherOptions {
  /** The bus's name in XenStore: 1 to 32 of `A-Z a-z 0-9 _ -`. */
  bus: string;
  /** Subscriber slots, grouped by domain (at most 8 domains, 8 slots per domain); every domain reads the one ring. */
  receivers: XenReceiver[];
  /** Data area bytes, a power of two up to 1 MiB (default 64 KiB): a domain's grant references fit one XenStore value. */
  capacity?: number;
  /** `xenstore` (default): publish references where only the intended domain reads them. `manual`: hand out manualLines() yourself. */
  rendezvous?: 'xenstore' | 'manual';
  /** `block` (default) or `drop`, as for Publisher. */
  policy?: SlowConsumerPolicy;
  /**
   * block: evict a subscriber that has kept the publisher waiting this long
   * (default 5000 ms, as for Publisher; 0: wait forever, so one subscriber
   * that stops reading stops the bus for as long as it likes).
   */
  evictAfterMs?: number;
  /** block: evict instead of waiting for a subscriber this many bytes behind. */
  maxLagBytes?: number;
  /** Evict (reason `dead`) a subscriber whose heartbeat stood still this long (default 5000; 0: off). */
  heartbeatTimeoutMs?: number;
  /** pino logger for lifecycle events; silent by default. */
  logger?: Logger;
}

/** `SubscriberOptions.xen`: attach from a Xen domain. */
export interface XenSubscribeOptions {
  /** The bus's name, as the publisher gave it. */
  bus: string;
  /** The publisher's domain. */
  publisher: number;
  /** Our slot among the slots of our domain (default 0). */
  slot?: number;
  /** Instead of XenStore: the line XenPublisher#manualLines() gave for this slot. */
  manual?: string;
}

/** A slot of a Xen bus as `subscribe`, `unsubscribe`, `evict` and `refuse` events name it. */
export interface XenSlotEvent {
  domid: number;
  slot: number;
  /** unsubscribe, evict: why. */
  reason?: EvictionReason;
  /** evict `dead`: how the death was seen (`unmap`: the kernel's unmap notification; `xenstore`: the domain's node vanished; `heartbeat`). */
  seenBy?: 'unmap' | 'xenstore' | 'heartbeat';
  /** refuse: the verdict written in the ring's join answer. */
  verdict?: string;
}

export interface XenPublisherStats {
  /** publish() calls waiting for room. */
  pending: number;
  /** The ring's committed position. */
  head: number;
  /** Messages committed. */
  messages: number;
  /**
   * Bytes written into shared memory (records and pads): the one ring, so the
   * same for one receiver domain or many (write once).
   */
  bytesWritten: number;
  /** Receiver domains, in the order first listed, with their slots. */
  domains: Array<{
    domid: number;
    slots: Array<{ slot: number; ackGrant: XenAckGrant; state: 'free' | 'active' | 'lagging' | 'evicted'; ack: number; evictions: number; lostMessages: number }>;
  }>;
}

const BUS_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const RESOLVED = Promise.resolve();
/** How often the publisher looks at XenStore and heartbeats when no event channel rings. */
const SERVICE_MS = 200;
/** How long close() waits for subscribers to read the rest and leave. */
const DEFAULT_LINGER_MS = 5000;
const ETIMEDOUT = -constants.errno.ETIMEDOUT;

const REASONS: Record<number, EvictionReason> = {
  [C.RC_EVICT_SLOW]: 'slow',
  [C.RC_EVICT_PROTOCOL]: 'protocol',
  [C.RC_EVICT_DEAD]: 'dead',
  [C.RC_EVICT_CLOSED]: 'closed',
};
const DEATHS: Record<number, XenSlotEvent['seenBy']> = {
  [C.RC_XEN_DEATH_UNMAP]: 'unmap',
  [C.RC_XEN_DEATH_XENSTORE]: 'xenstore',
  [C.RC_XEN_DEATH_HEARTBEAT]: 'heartbeat',
};
const SLOT_STATES = ['free', 'active', 'lagging', 'evicted'] as const;

function checkBus(name: string, value: unknown): string {
  if (typeof value !== 'string' || !BUS_NAME.test(value)) throw invalidOption(name, value, 'a bus name of 1 to 32 letters, digits, _ or -');
  return value;
}

function checkDomid(name: string, value: unknown): number {
  // 0x7fef: DOMID_FIRST_RESERVED - 1, the largest domain id Xen gives out.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0x7fef) throw invalidOption(name, value, 'a domain id from 0 to 32751');
  return value;
}

/** Throws a typed error unless this domain has the Xen devices a bus needs. */
function requireXen(what: string): void {
  if (!native.xenAvailable()) {
    throw new RingcastError('ERR_RINGCAST_SYSTEM', `${what}: this system has no usable /dev/xen/gntalloc, gntdev and evtchn (not a Xen domain, or modprobe xen-gntalloc xen-gntdev xen-evtchn)`);
  }
}

function systemError(error: unknown, what: string): RingcastError {
  const e = error as { code?: string; message?: string };
  return new RingcastError(e.code === 'ERR_RINGCAST_INVALID_OPTION' ? 'ERR_RINGCAST_INVALID_OPTION' : 'ERR_RINGCAST_SYSTEM', `${what}: ${e.message}`, { cause: error });
}

/** @internal `SubscriberOptions.xen`, validated, as a subscriber's way in. */
export function xenRoute(value: unknown): SharedMemoryRoute {
  if (typeof value !== 'object' || value === null) throw invalidOption('xen', value, '{ bus, publisher, slot? , manual? }');
  const o = value as XenSubscribeOptions;
  const bus = checkBus('xen.bus', o.bus);
  const publisher = checkDomid('xen.publisher', o.publisher);
  const slot = checkInteger('xen.slot', o.slot, 0, 0, C.RC_XEN_MAX_DOMAIN_SLOTS - 1);
  if (o.manual !== undefined && (typeof o.manual !== 'string' || o.manual.length === 0 || o.manual.length > 4096)) {
    throw invalidOption('xen.manual', o.manual, "a line from XenPublisher#manualLines()");
  }
  const where = `xen:${publisher}/${bus}/${slot}`;
  return {
    where,
    async attach(timeoutMs, signal) {
      requireXen(`bus ${where}`);
      let sub: NativeXenSubscriber;
      try {
        sub = new native.XenSubscriber(bus, publisher, slot, o.manual ?? null);
      } catch (error) {
        throw systemError(error, `bus ${where}`);
      }
      try {
        const opened = await whileNotAborted(sub.open(timeoutMs), signal);
        if (opened.status !== 0) {
          const gone = opened.status === ETIMEDOUT; // while looking the bus up
          throw new RingcastError(gone ? 'ERR_RINGCAST_HANDSHAKE' : 'ERR_RINGCAST_BAD_REGION', `bus ${where}: ${opened.step || 'open'} failed (${gone ? `not published within ${timeoutMs} ms` : `errno ${-opened.status}`})`);
        }
        await whileNotAborted(join(sub, timeoutMs, where), signal);
      } catch (error) {
        sub.destroy();
        throw error;
      }
      return {
        reader: sub,
        doorbell: C.DOORBELL_EVTCHN,
        rejoin: (rejoinTimeoutMs) => join(sub, rejoinTimeoutMs, where),
        leave: () => void sub.leave(),
        // The publisher's grant device marks the ring gone when the publisher dies.
        publisherGone: () => sub.publisherGone(),
        checkEveryMs: SERVICE_MS,
        logFields: { bus, publisher, domid: sub.info().domid },
      };
    },
  };
}

async function join(sub: NativeXenSubscriber, timeoutMs: number, where: string): Promise<void> {
  const { status } = await sub.join(timeoutMs);
  if (status !== C.RC_OK) throw joinFailure(`bus ${where}`, status, sub.lastVerdict, timeoutMs, status === ETIMEDOUT);
}

/** The step keeps running off the loop after an abort (it is bounded by its timeout); its caller stops waiting. */
function whileNotAborted<T>(step: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return step;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    step.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function checkReceivers(value: unknown, manual: boolean): Array<[number, number]> {
  if (!Array.isArray(value) || value.length === 0 || value.length > C.RC_XEN_MAX_DOMAINS * C.RC_XEN_MAX_DOMAIN_SLOTS) {
    throw invalidOption('receivers', value, `an array of 1 to ${C.RC_XEN_MAX_DOMAINS * C.RC_XEN_MAX_DOMAIN_SLOTS} { domid, ackGrant? }`);
  }
  const perDomain = new Map<number, number>();
  return value.map((entry: unknown, i) => {
    if (typeof entry !== 'object' || entry === null) throw invalidOption(`receivers[${i}]`, entry, '{ domid, ackGrant? }');
    const { domid, ackGrant } = entry as XenReceiver;
    checkDomid(`receivers[${i}].domid`, domid);
    const grant = ackGrant ?? (manual ? 'publisher' : 'subscriber');
    if (grant !== 'subscriber' && grant !== 'publisher') throw invalidOption(`receivers[${i}].ackGrant`, ackGrant, "'subscriber' or 'publisher'");
    if (manual && grant !== 'publisher') throw invalidOption(`receivers[${i}].ackGrant`, ackGrant, "'publisher' with manual rendezvous (nothing travels back)");
    const slots = (perDomain.get(domid) ?? 0) + 1;
    if (slots > C.RC_XEN_MAX_DOMAIN_SLOTS) throw invalidOption(`receivers[${i}]`, entry, `at most ${C.RC_XEN_MAX_DOMAIN_SLOTS} slots per domain`);
    perDomain.set(domid, slots);
    if (perDomain.size > C.RC_XEN_MAX_DOMAINS) throw invalidOption('receivers', value, `at most ${C.RC_XEN_MAX_DOMAINS} domains`);
    return [domid, grant === 'publisher' ? C.RC_XEN_ACK_BY_PUBLISHER : C.RC_XEN_ACK_BY_SUBSCRIBER];
  });
}

/** @internal XenPublisherOptions, validated, with every default applied: what a XenPublisher would run with. */
export interface XenPublisherSettings {
  bus: string;
  rendezvous: 'xenstore' | 'manual';
  /** [domid, RC_XEN_ACK_BY_*] per slot. */
  receivers: Array<[number, number]>;
  capacity: number;
  maxPayload: number;
  policy: SlowConsumerPolicy;
  /** undefined: wait forever (policy `drop`, or `evictAfterMs: 0` asked for). */
  evictAfterMs: number | undefined;
  /** 0: no lag bound. */
  maxLag: number;
  heartbeatTimeoutMs: number;
}

/**
 * @internal Validates XenPublisherOptions the way Publisher validates its
 * own (same defaults, same checks: options.ts), before anything touches Xen.
 */
export function xenPublisherSettings(options: XenPublisherOptions): XenPublisherSettings {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, '{ bus, receivers, ... }');
  const bus = checkBus('bus', options.bus);
  const rendezvous = options.rendezvous ?? 'xenstore';
  if (rendezvous !== 'xenstore' && rendezvous !== 'manual') throw invalidOption('rendezvous', rendezvous, "'xenstore' or 'manual'");
  const receivers = checkReceivers(options.receivers, rendezvous === 'manual');
  const capacity = checkCapacity(options.capacity, 64 * 1024);
  if (capacity > C.RC_XEN_MAX_CAPACITY) throw invalidOption('capacity', capacity, `at most ${C.RC_XEN_MAX_CAPACITY} on Xen`);
  const maxPayload = native.defaultMaxPayload(capacity);
  const policy = checkPolicy(options.policy);
  // Unbounded blocking only when asked for (0): the default resists a subscriber that never reads.
  const evictAfterMs = checkEvictAfterMs(options.evictAfterMs, policy);
  const minLag = native.minMaxLag(maxPayload);
  const maxLag = options.maxLagBytes === undefined ? 0 : checkInteger('maxLagBytes', options.maxLagBytes, 0, minLag, capacity);
  const heartbeatTimeoutMs = checkInteger('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 5000, 0, 3_600_000);
  if (heartbeatTimeoutMs !== 0 && heartbeatTimeoutMs < 4 * SERVICE_MS) throw invalidOption('heartbeatTimeoutMs', heartbeatTimeoutMs, `0 or at least ${4 * SERVICE_MS}`);
  return { bus, rendezvous, receivers, capacity, maxPayload, policy, evictAfterMs, maxLag, heartbeatTimeoutMs };
}

/**
 * The publishing side of a Xen bus. It writes each message once, into one
 * ring that every receiver domain maps read-only (the ring comes from the
 * grant device, `insmod ringcast_xengrant.ko` in this domain: docs/xen.md),
 * and serves joins, leaves and deaths from the event channels. Events: `subscribe`, `unsubscribe`, `evict`, `refuse`
 * (each XenSlotEvent), `drain` (the publish queue emptied), `close`.
 */
export class XenPublisher extends EventEmitter<XenPublisherEvents> {
  readonly bus: string;
  readonly capacity: number;
  /** Largest message: a Xen bus does not fragment. */
  readonly maxPayload: number;
  readonly policy: SlowConsumerPolicy;

  #native: NativeXenPublisher;
  #log: Logger;
  #watcher: NativeFdWatcher;
  #timer: NodeJS.Timeout;
  #queue: PublishQueue;
  #closing: Promise<void> | null = null;
  #lingerDone: (() => void) | null = null;

  private constructor(options: XenPublisherOptions) {
    super();
    const settings = xenPublisherSettings(options);
    this.bus = settings.bus;
    this.capacity = settings.capacity;
    this.maxPayload = settings.maxPayload;
    this.policy = settings.policy;
    const { rendezvous, receivers, evictAfterMs, maxLag, heartbeatTimeoutMs } = settings;
    this.#log = resolveLogger(options.logger, 'xen-publisher');
    requireXen(`bus ${this.bus}`);
    try {
      this.#native = new native.XenPublisher(
        this.bus,
        this.capacity,
        this.policy === 'drop' ? C.RC_POLICY_DROP : C.RC_POLICY_BLOCK,
        receivers,
        rendezvous === 'xenstore',
        heartbeatTimeoutMs,
        maxLag,
      );
    } catch (error) {
      throw systemError(error, `cannot publish Xen bus ${this.bus}`);
    }
    this.#queue = new PublishQueue(
      this.#native,
      { closing: () => this.#closing !== null, drained: () => this.emit('drain'), changed: () => this.#service() },
      evictAfterMs,
    );
    // Joins, leaves, deaths and acks while we wait all ring this one device.
    this.#watcher = new native.FdWatcher(this.#native.evtchnFd, false, () => this.#service());
    this.#watcher.start();
    // XenStore (a destroyed domain) and heartbeats are looked at on a clock.
    this.#timer = setInterval(() => this.#service(), SERVICE_MS);
    this.#timer.unref();
    this.#log.info({ bus: this.bus, domid: this.#native.ownDomid, rendezvous, domains: this.#native.snapshot().domains.length }, 'publishing on Xen');
  }

  /** Allocates the ring (grant device), grants it to every receiver domain, binds the event channels and, by default, publishes the references in XenStore. */
  static async open(options: XenPublisherOptions): Promise<XenPublisher> {
    return new XenPublisher(options);
  }

  /** Subscribers attached now, over every domain. */
  get subscriberCount(): number {
    return this.#native.attached;
  }

  /** This publisher's domain. */
  get domid(): number {
    return this.#native.ownDomid;
  }

  /** publish() calls waiting for room. */
  get pending(): number {
    return this.#queue.queued;
  }

  /**
   * Manual rendezvous (the paper's reference passing): one line per slot whose
   * ack page the publisher grants, to hand to that subscriber as `xen.manual`.
   */
  manualLines(): Array<{ domid: number; slot: number; line: string }> {
    const out: Array<{ domid: number; slot: number; line: string }> = [];
    this.#native.snapshot().domains.forEach((domain, index) => {
      for (const { slot } of domain.slots) {
        const line = this.#native.manualLine(index, slot);
        if (line !== null) out.push({ domid: domain.domid, slot, line });
      }
    });
    return out;
  }

  /** Writes one message into the ring (once, for every domain), waiting for room where the slowest subscriber holds it. */
  publish(message: Uint8Array, options?: { signal?: AbortSignal }): Promise<void> {
    return this.publishBatch([message], options);
  }

  /** Writes many messages in order, with one head store per batch where room allows. */
  publishBatch(messages: readonly Uint8Array[], options?: { signal?: AbortSignal }): Promise<void> {
    if (this.#closing) throw closedError('publisher');
    if (!Array.isArray(messages)) throw invalidOption('messages', messages, 'an array of Uint8Array');
    for (const message of messages) {
      if (!(message instanceof Uint8Array)) throw invalidOption('message', message, 'a Uint8Array');
      if (message.length > this.maxPayload) throw invalidOption('message.length', message.length, `at most ${this.maxPayload} bytes (a Xen bus does not fragment)`);
    }
    const signal = checkSignal(options?.signal);
    const list = messages as Uint8Array[];
    if (this.#queue.queued === 0) {
      const done = this.#native.sendBatch(list, 0);
      if (done === list.length) {
        this.#queue.progressed();
        return RESOLVED;
      }
      return this.#queue.enqueue(() => this.#publishRest(list, done, signal));
    }
    return this.#queue.enqueue(() => this.#publishRest(list, 0, signal));
  }

  stats(): XenPublisherStats {
    if (this.#closing) throw closedError('publisher');
    return {
      pending: this.#queue.queued,
      ...this.#ringStats(),
    };
  }

  #ringStats(): Omit<XenPublisherStats, 'pending'> {
    const snapshot = this.#native.snapshot();
    return {
      head: snapshot.head,
      messages: snapshot.messages,
      bytesWritten: snapshot.head,
      domains: snapshot.domains.map((domain) => ({
        domid: domain.domid,
        slots: domain.slots.map((s) => ({
          slot: s.slot,
          ackGrant: s.ackGrant === C.RC_XEN_ACK_BY_PUBLISHER ? 'publisher' : 'subscriber',
          state: SLOT_STATES[s.state] ?? 'evicted',
          ack: s.ack,
          evictions: s.evictions,
          lostMessages: s.lostMessages,
        })),
      })),
    };
  }

  /**
   * Closes the bus: queued publishes fail, subscribers read what was
   * committed and then end. Waits up to `lingerMs` (default 5000) for them to
   * leave before the grants go (a subscriber still reading then sees the
   * publisher gone once it has read what it can).
   */
  close(options?: { lingerMs?: number }): Promise<void> {
    if (this.#closing) return this.#closing;
    const lingerMs = checkInteger('lingerMs', options?.lingerMs, DEFAULT_LINGER_MS, 0, 600_000);
    this.#closing = (async () => {
      this.#native.close();
      this.#queue.wake();
      await this.#queue.settled();
      if (this.#native.attached > 0 && lingerMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, lingerMs);
          this.#lingerDone = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      clearInterval(this.#timer);
      this.#watcher.close();
      this.#native.destroy();
      this.#log.info({ bus: this.bus }, 'closed');
      this.emit('close');
    })();
    return this.#closing;
  }

  async #publishRest(messages: Uint8Array[], start: number, signal: AbortSignal | undefined): Promise<void> {
    let index = start;
    while (index < messages.length) {
      const sent = this.#native.sendBatch(messages, index);
      if (sent > 0) this.#queue.progressed();
      else await this.#queue.waitForRoom(messages[index]!.length, signal);
      index += sent;
    }
  }

  /** Serves joins, leaves and deaths; wakes a publish waiting for room. */
  #service(): void {
    let events: NativeXenEvent[];
    try {
      events = this.#native.service();
    } catch (error) {
      this.#log.error({ err: error }, 'event channel failed');
      events = [];
    }
    for (const e of events) this.#report(e);
    this.#queue.wake();
    if (this.#lingerDone && this.#native.attached === 0) this.#lingerDone();
  }

  #report(e: NativeXenEvent): void {
    const where = { domid: e.domid, slot: e.slot };
    switch (e.kind) {
      case C.RC_XEN_EVENT_JOINED:
        this.#log.info(where, 'subscriber joined');
        this.emit('subscribe', where satisfies XenSlotEvent);
        return;
      case C.RC_XEN_EVENT_LEFT:
        this.#log.info(where, 'subscriber left');
        this.emit('unsubscribe', { ...where, reason: 'closed' } satisfies XenSlotEvent);
        return;
      case C.RC_XEN_EVENT_DEAD: {
        const event: XenSlotEvent = { ...where, reason: 'dead', seenBy: DEATHS[e.death ?? 0] ?? 'unmap' };
        this.#log.warn(event, 'subscriber dead');
        this.emit('evict', event);
        this.emit('unsubscribe', event);
        return;
      }
      case C.RC_XEN_EVENT_REFUSED: {
        const event: XenSlotEvent = { ...where, verdict: verdictName(e.verdict ?? 0) };
        this.#log.warn(event, 'join refused');
        this.emit('refuse', event);
        return;
      }
      default: {
        const event: XenSlotEvent = { ...where, reason: REASONS[e.reason ?? 0] ?? 'slow' };
        this.#log.warn(event, 'subscriber evicted');
        this.emit('evict', event);
      }
    }
  }
}
