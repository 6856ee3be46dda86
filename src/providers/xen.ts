// The Xen region provider: a publisher in one Xen domain, subscribers in
// others, over grant tables and event channels (native/src/providers/xen/rc_xen.c; the
// deployment, trust model and XenStore layout are in docs/xen.md). Both ends
// are the ordinary classes: `Publisher.listen({ address: 'xen:DOMID/BUS', xen:
// { receivers } })` publishes one ring from the grant device
// (kmod/ringcast_xengrant.c) granted read-only to every receiver domain, each
// message written once; `Subscriber.connect({ address: 'xen:DOMID/BUS/SLOT' })`
// reads it. XenHost below is what Publisher needs of Xen: the ring, joins,
// leaves and deaths.
import { constants } from 'node:os';

import { joinFailure, verdictName, type SharedMemoryRoute } from '../attachment.js';
import { RefusedError, RingcastError, abortError, invalidOption } from '../errors.js';
import { C, native, type NativeFdWatcher, type NativeRingSnapshot, type NativeXenPublisher, type NativeXenSubscriber } from '../native.js';
import { checkInteger, checkKnownOptions, optionNames } from '../options.js';

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

/** `PublisherOptions.xen`: who reads a Xen bus. Its address is `xen:DOMID/BUS` (DOMID: this domain). */
export interface XenBusOptions {
  /** Subscriber slots, grouped by domain (at most 8 domains, 8 slots per domain); every domain reads the one ring. */
  receivers: XenReceiver[];
  /** `xenstore` (default): publish references where only the intended domain reads them. `manual`: hand out `publisher.xen.manualLines()` yourself. */
  rendezvous?: 'xenstore' | 'manual';
  /**
   * How long close() waits for subscribers to read the rest and leave before
   * the grants go (default 5000 ms); joins meanwhile are refused `closing`.
   */
  lingerMs?: number;
}

/** `SubscriberOptions.xen`: attach from a Xen domain. */
export interface XenSubscribeOptions {
  /** The bus's name, as the publisher gave it. */
  bus: string;
  /** The publisher's domain. */
  publisher: number;
  /** Our slot among the slots of our domain (default 0). */
  slot?: number;
  /** Instead of XenStore: the line `publisher.xen.manualLines()` gave for this slot. */
  manual?: string;
}

/** How the publisher saw a receiver die (`unsubscribe` with reason `dead` on a Xen bus). */
export type XenDeathSeenBy = 'unmap' | 'xenstore' | 'heartbeat';

/** What `publisher.xen` offers on a Xen bus. */
export interface XenBusInfo {
  /** This publisher's domain. */
  readonly domid: number;
  /** The ring's pages (descriptor + data area), granted once to each receiver domain. */
  readonly ringPages: number;
  /**
   * Manual rendezvous (the paper's reference passing): one line per slot whose
   * ack page the publisher grants, to hand to that subscriber as `xen.manual`.
   */
  manualLines(): Array<{ domid: number; slot: number; line: string }>;
}

const BUS_NAME = /^[A-Za-z0-9_-]{1,32}$/;
/** How often the publisher looks at XenStore and heartbeats when no event channel rings. */
const SERVICE_MS = 200;
/** How long close() waits for subscribers to read the rest and leave. */
const DEFAULT_LINGER_MS = 5000;
/** heartbeatTimeoutMs unless given: a receiver whose process died while its domain lives is found by it. */
export const XEN_DEFAULT_HEARTBEAT_MS = 5000;
const ETIMEDOUT = -constants.errno.ETIMEDOUT;

const DEATHS: Record<number, XenDeathSeenBy> = {
  [C.RC_XEN_DEATH_UNMAP]: 'unmap',
  [C.RC_XEN_DEATH_XENSTORE]: 'xenstore',
  [C.RC_XEN_DEATH_HEARTBEAT]: 'heartbeat',
};

function checkBus(name: string, value: unknown): string {
  if (typeof value !== 'string' || !BUS_NAME.test(value)) throw invalidOption(name, value, 'a bus name of 1 to 32 letters, digits, _ or -');
  return value;
}

function checkDomid(name: string, value: unknown): number {
  // 0x7fef: DOMID_FIRST_RESERVED - 1, the largest domain id Xen gives out.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0x7fef) throw invalidOption(name, value, 'a domain id from 0 to 32751');
  return value;
}

/** @internal Throws a typed error (ERR_RINGCAST_SYSTEM) unless this domain has the Xen devices a bus needs. */
export function requireXen(what: string): void {
  if (!native.xenAvailable()) {
    throw new RingcastError('ERR_RINGCAST_SYSTEM', `${what}: this system has no usable /dev/xen/gntalloc, gntdev and evtchn (not a Xen domain, or modprobe xen-gntalloc xen-gntdev xen-evtchn)`);
  }
}

function systemError(error: unknown, what: string): RingcastError {
  const e = error as { code?: string; message?: string };
  return new RingcastError(e.code === 'ERR_RINGCAST_INVALID_OPTION' ? 'ERR_RINGCAST_INVALID_OPTION' : 'ERR_RINGCAST_SYSTEM', `${what}: ${e.message}`, { cause: error });
}

/** @internal This domain's id (XenStore), for `what`; a typed error off Xen. */
export function xenOwnDomid(what: string): number {
  requireXen(what);
  try {
    return native.xenOwnDomid();
  } catch (error) {
    throw systemError(error, what);
  }
}

/**
 * @internal The descriptor of Xen bus `bus` of domain `publisher`, read from
 * this receiver domain (`ringcast stat`; docs/xen.md, "Inspecting a bus"):
 * the subscriber's look-up and read-only mapping without its join, so the
 * bus is left as it was. In the publisher's own domain no other process can
 * map the ring: a typed error says so and what works instead.
 */
export function xenInspect(publisher: number, bus: string): NativeRingSnapshot & { domid: number; domainSlots: number[] } {
  const where = `xen:${publisher}/${bus}`;
  requireXen(`inspecting the Xen bus ${where}`);
  try {
    return native.xenInspect(bus, publisher);
  } catch (error) {
    const errno = (error as { errno?: number }).errno;
    if (errno === constants.errno.EXDEV) {
      throw new RingcastError(
        'ERR_RINGCAST_UNSUPPORTED',
        `inspecting the Xen bus ${where} from its publisher's domain: the ring is granted to the receiver domains only, ` +
          "so no process here but the publisher maps it; run `ringcast stat` in a receiver domain, or call publisher.stats() in the publisher",
        { cause: error },
      );
    }
    if (errno === constants.errno.ENODATA) {
      throw new RingcastError('ERR_RINGCAST_SYSTEM', `inspecting the Xen bus ${where}: not published for this domain (no such bus, or this domain is not among its receivers)`, { cause: error });
    }
    throw systemError(error, `inspecting the Xen bus ${where}`);
  }
}

/** @internal `SubscriberOptions.xen`, validated, as a subscriber's way in. */
export function xenRoute(value: unknown): SharedMemoryRoute {
  if (typeof value !== 'object' || value === null) throw invalidOption('xen', value, '{ bus, publisher, slot? , manual? }');
  checkKnownOptions('xen', value, optionNames<XenSubscribeOptions>({ bus: true, publisher: true, slot: true, manual: true }));
  const o = value as XenSubscribeOptions;
  const bus = checkBus('xen.bus', o.bus);
  const publisher = checkDomid('xen.publisher', o.publisher);
  const slot = checkInteger('xen.slot', o.slot, 0, 0, C.RC_XEN_MAX_DOMAIN_SLOTS - 1);
  if (o.manual !== undefined && (typeof o.manual !== 'string' || o.manual.length === 0 || o.manual.length > 4096)) {
    throw invalidOption('xen.manual', o.manual, "a line from publisher.xen.manualLines()");
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
    throw invalidOption('xen.receivers', value, `an array of 1 to ${C.RC_XEN_MAX_DOMAINS * C.RC_XEN_MAX_DOMAIN_SLOTS} { domid, ackGrant? }`);
  }
  const perDomain = new Map<number, number>();
  return value.map((entry: unknown, i) => {
    const name = `xen.receivers[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw invalidOption(name, entry, '{ domid, ackGrant? }');
    checkKnownOptions(name, entry, optionNames<XenReceiver>({ domid: true, ackGrant: true }));
    const { domid, ackGrant } = entry as XenReceiver;
    checkDomid(`${name}.domid`, domid);
    const grant = ackGrant ?? (manual ? 'publisher' : 'subscriber');
    if (grant !== 'subscriber' && grant !== 'publisher') throw invalidOption(`${name}.ackGrant`, ackGrant, "'subscriber' or 'publisher'");
    if (manual && grant !== 'publisher') throw invalidOption(`${name}.ackGrant`, ackGrant, "'publisher' with manual rendezvous (nothing travels back)");
    const slots = (perDomain.get(domid) ?? 0) + 1;
    if (slots > C.RC_XEN_MAX_DOMAIN_SLOTS) throw invalidOption(name, entry, `at most ${C.RC_XEN_MAX_DOMAIN_SLOTS} slots per domain`);
    perDomain.set(domid, slots);
    if (perDomain.size > C.RC_XEN_MAX_DOMAINS) throw invalidOption('xen.receivers', value, `at most ${C.RC_XEN_MAX_DOMAINS} domains`);
    return [domid, grant === 'publisher' ? C.RC_XEN_ACK_BY_PUBLISHER : C.RC_XEN_ACK_BY_SUBSCRIBER];
  });
}

/** @internal XenBusOptions, validated, with every default applied. */
export interface XenBusSettings {
  /** This domain, as the address names it. */
  domid: number;
  bus: string;
  rendezvous: 'xenstore' | 'manual';
  /** [domid, RC_XEN_ACK_BY_*] per ring slot. */
  receivers: Array<[number, number]>;
  lingerMs: number;
}

/**
 * @internal Validates a Xen publisher's options before anything touches Xen:
 * `address` is the parsed `xen:DOMID/BUS`, `value` is PublisherOptions.xen.
 */
export function checkXenBusOptions(address: { domid: number; bus: string }, value: unknown): XenBusSettings {
  if (typeof value !== 'object' || value === null) throw invalidOption('xen', value, '{ receivers, rendezvous?, lingerMs? } with a xen: address');
  checkKnownOptions('xen', value, optionNames<XenBusOptions>({ receivers: true, rendezvous: true, lingerMs: true }));
  const o = value as XenBusOptions;
  const rendezvous = o.rendezvous ?? 'xenstore';
  if (rendezvous !== 'xenstore' && rendezvous !== 'manual') throw invalidOption('xen.rendezvous', rendezvous, "'xenstore' or 'manual'");
  const receivers = checkReceivers(o.receivers, rendezvous === 'manual');
  const lingerMs = checkInteger('xen.lingerMs', o.lingerMs, DEFAULT_LINGER_MS, 0, 600_000);
  return { domid: checkDomid('domain', address.domid), bus: checkBus('bus', address.bus), rendezvous, receivers, lingerMs };
}

/** @internal What the ring of a Xen bus is made with (Publisher's settings). */
export interface XenRingSettings {
  capacity: number;
  policy: number;
  /** 0: no heartbeat checks. */
  heartbeatTimeoutMs: number;
  /** RC_FEATURE_* the ring is formatted with (RC_FEATURE_ENVELOPE on a bridge's republished bus). */
  features: number;
}

/** @internal A join, leave, death or refusal on a Xen bus, by ring slot. */
export interface XenSlotChange {
  kind: 'joined' | 'left' | 'dead' | 'refused';
  /** The slot's index in the ring (PublisherOptions events and stats use it). */
  slot: number;
  /** The receiver domain, and the slot's number among that domain's slots. */
  domid: number;
  domainSlot: number;
  /** dead: how it was seen. */
  seenBy?: XenDeathSeenBy;
  /** refused: the join answer's verdict. */
  verdict?: string;
}

const KINDS: Record<number, XenSlotChange['kind']> = {
  [C.RC_XEN_EVENT_JOINED]: 'joined',
  [C.RC_XEN_EVENT_LEFT]: 'left',
  [C.RC_XEN_EVENT_DEAD]: 'dead',
  [C.RC_XEN_EVENT_REFUSED]: 'refused',
};

/**
 * @internal The Xen provider's side of a Publisher: the ring (allocated by
 * the grant device, granted read-only to every receiver domain, written
 * through the same core calls as every ring: `ring`), and the joins, leaves
 * and deaths served from the event channels and, on a clock, XenStore and
 * heartbeats (`onChanges`, after every pass: a wait for room re-checks).
 */
export class XenHost implements XenBusInfo {
  readonly ring: NativeXenPublisher;
  readonly settings: XenBusSettings;
  /** Per ring slot: its domain and its number there. */
  readonly receivers: ReadonlyArray<{ domid: number; slot: number; ackGrant: number }>;
  #watcher: NativeFdWatcher;
  #timer: NodeJS.Timeout;
  #onChanges: (changes: XenSlotChange[], error?: unknown) => void;

  constructor(settings: XenBusSettings, ring: XenRingSettings, onChanges: (changes: XenSlotChange[], error?: unknown) => void) {
    const where = `xen:${settings.domid}/${settings.bus}`;
    if (ring.capacity > C.RC_XEN_MAX_CAPACITY) throw invalidOption('capacity', ring.capacity, `at most ${C.RC_XEN_MAX_CAPACITY} on Xen`);
    if (ring.heartbeatTimeoutMs !== 0 && ring.heartbeatTimeoutMs < 4 * SERVICE_MS) {
      throw invalidOption('heartbeatTimeoutMs', ring.heartbeatTimeoutMs, `0 or at least ${4 * SERVICE_MS} on Xen`);
    }
    requireXen(`bus ${where}`);
    this.settings = settings;
    this.#onChanges = onChanges;
    try {
      this.ring = new native.XenPublisher(
        settings.bus,
        ring.capacity,
        ring.policy,
        settings.receivers,
        settings.rendezvous === 'xenstore',
        ring.heartbeatTimeoutMs,
        0,
        ring.features,
      );
    } catch (error) {
      throw systemError(error, `cannot publish Xen bus ${where}`);
    }
    // The address names this domain: with XenStore we know it and check it.
    if (settings.rendezvous === 'xenstore' && this.ring.ownDomid !== settings.domid) {
      const own = this.ring.ownDomid;
      this.ring.destroy();
      throw invalidOption('address', where, `xen:${own}/${settings.bus}: a publisher publishes from its own domain (this is domain ${own})`);
    }
    this.receivers = this.ring.receivers();
    // Joins, leaves, deaths and acks while the publisher waits all ring this one device.
    this.#watcher = new native.FdWatcher(this.ring.evtchnFd, false, () => this.service());
    this.#watcher.start();
    // XenStore (a destroyed domain) and heartbeats are looked at on a clock.
    this.#timer = setInterval(() => this.service(), SERVICE_MS);
    this.#timer.unref();
  }

  get domid(): number {
    return this.ring.ownDomid;
  }

  /** Ring slot `slot`'s joins are refused `backoff` for `waitMs` (it was evicted slow or protocol repeatedly). */
  backoff(slot: number, waitMs: number): void {
    this.ring.backoff(slot, Math.ceil(waitMs));
  }

  get ringPages(): number {
    return this.ring.ringPages;
  }

  /** Subscribers joined now, over every domain. */
  get attached(): number {
    return this.ring.attached;
  }

  manualLines(): Array<{ domid: number; slot: number; line: string }> {
    const out: Array<{ domid: number; slot: number; line: string }> = [];
    const domains: number[] = [];
    for (const { domid, slot } of this.receivers) {
      if (!domains.includes(domid)) domains.push(domid);
      const line = this.ring.manualLine(domains.indexOf(domid), slot);
      if (line !== null) out.push({ domid, slot, line });
    }
    return out;
  }

  /** Serves joins, leaves and deaths now; reports them (and every pass, so waits for room re-check). */
  service(): void {
    let changes: XenSlotChange[];
    try {
      changes = this.ring.service().map((e) => ({
        kind: KINDS[e.kind] ?? 'refused',
        slot: e.ringSlot,
        domid: e.domid,
        domainSlot: e.slot,
        ...(e.kind === C.RC_XEN_EVENT_DEAD && { seenBy: DEATHS[e.death ?? 0] ?? 'unmap' }),
        ...(e.kind === C.RC_XEN_EVENT_REFUSED && { verdict: verdictName(e.verdict ?? 0) }),
      }));
    } catch (error) {
      this.#onChanges([], error);
      return;
    }
    this.#onChanges(changes);
  }

  /** Stops serving; the caller destroys the ring (Publisher: its native publisher). */
  stop(): void {
    clearInterval(this.#timer);
    this.#watcher.close();
  }
}
