// The ivshmem region provider: buses whose subscribers live in KVM/QEMU guests.
// The protocol is native/src/providers/ivshmem/rc_ivshmem.c's; this file validates options and
// ties the native objects to the event loop. docs/protocol.md, "Attach through
// shared memory", and docs/vm.md describe the deployment.
import { joinFailure, type SharedMemoryRoute } from '../attachment.js';
import { RingcastError, abortError, invalidOption } from '../errors.js';
import { checkKnownOptions, optionNames } from '../options.js';
import { C, native, type NativeFdWatcher, type NativeIvshmemHost, type NativeIvshmemService, type NativeIvshmemSubscriber, type NativePublisher } from '../native.js';

/** One guest of a VM bus: it owns slot `index` (its position in `guests`). */
export interface VmGuestOptions {
  /** A name for logs and events. */
  name: string;
  /** Its ack file, created by the publisher (QEMU: a second ivshmem-plain device backed by it). */
  ackFile: string;
  /**
   * Its ivshmem peer id on the server, if known in advance. Then only that peer
   * may join through this ack file. Without it, any peer that the server knows
   * and that is not bound to another guest may (the ack file itself is the
   * guest's credential: only that VM maps it).
   */
  peerId?: number;
}

/** `PublisherOptions.vm`: publish to KVM/QEMU guests through ivshmem instead of a Unix socket. */
export interface VmOptions {
  /** The ivshmem server's Unix socket; the publisher connects as one of its peers. Not with an `ivshmem:` address, which gives it (`server=`). */
  ivshmemServer?: string;
  /**
   * The ring file (created or truncated), e.g. `/dev/shm/BUS.ring`; QEMU maps it with
   * `memory-backend-file,share=on` and `size=ivshmemRegionSize(capacity)`.
   * Not with an `ivshmem:` address, which gives it (the address's path).
   */
  ringFile?: string;
  /** The guests, in slot order (1 to 64). */
  guests: VmGuestOptions[];
  /** Permission bits of the ring and ack files (default 0o600). */
  fileMode?: number;
  /** How long to wait for the server's greeting (default 5000 ms). */
  connectTimeoutMs?: number;
  /**
   * A mixed bus: also serve local subscriber processes on this Unix socket,
   * from the same ring (each message is written once for guests and
   * processes alike). The ring is then a sealed memfd and `ringFile` a
   * symbolic link QEMU opens it through (`/proc/PID/fd/N`): QEMU must run
   * as the publisher's uid (or root) and map it with `readonly=on`
   * (docs/vm.md, "Mixed bus"). The address's `unix=` parameter says the same.
   */
  unixSocket?: string;
}

/** `SubscriberOptions.ivshmem`: attach from a guest through shared memory. */
export interface IvshmemSubscribeOptions {
  /** The ring: in a guest, the kernel module's device for it (`/dev/ringcast-ivshmemN`); on a host, the ring file. */
  ring: string;
  /** This guest's ack page: its device in a guest, its ack file on a host. */
  ack: string;
  /** In a guest: the ivshmem-doorbell device. Give this or `server`. */
  doorbell?: string;
  /** On a host standing in for a guest (tests): the ivshmem server socket, whose eventfds replace the device. */
  server?: string;
  /**
   * The publisher counts as dead (PublisherGoneError once everything committed
   * was read) when its heartbeat in the ring stands still this long while the
   * bus is open (default 5000 ms). A guest has no socket to see it go.
   */
  publisherTimeoutMs?: number;
}

/** How often a VM publisher bumps its heartbeat: well within any publisherTimeoutMs allowed. */
export const PUBLISHER_HEARTBEAT_MS = 250;

/** Bytes of the ring file for a data area of `capacity` bytes: what QEMU's `size=` must say (a power of two). */
export function ivshmemRegionSize(capacity: number): number {
  const size = native.ivshmemRegionSize(capacity);
  if (size === 0) throw invalidOption('capacity', capacity, `a power of two from ${C.RC_MIN_CAPACITY} to ${C.RC_MAX_CAPACITY}`);
  return size;
}

function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) throw invalidOption(name, value, 'a non-empty path');
  return value;
}

export interface CheckedVmOptions {
  ivshmemServer: string;
  ringFile: string;
  guests: Array<{ name: string; ackFile: string; peerId: number }>;
  fileMode: number;
  connectTimeoutMs: number;
  /** The mixed bus's socket, or null: guests only. */
  unixSocket: string | null;
}

export function checkVmOptions(value: unknown): CheckedVmOptions {
  if (typeof value !== 'object' || value === null) throw invalidOption('vm', value, '{ ivshmemServer, ringFile, guests }');
  checkKnownOptions('vm', value, optionNames<VmOptions>({ ivshmemServer: true, ringFile: true, guests: true, fileMode: true, connectTimeoutMs: true, unixSocket: true }));
  const vm = value as VmOptions;
  const ivshmemServer = checkString('vm.ivshmemServer', vm.ivshmemServer);
  if (Buffer.byteLength(ivshmemServer) > 107) throw invalidOption('vm.ivshmemServer', ivshmemServer, 'a socket path of at most 107 bytes');
  const ringFile = checkString('vm.ringFile', vm.ringFile);
  if (!Array.isArray(vm.guests) || vm.guests.length === 0 || vm.guests.length > C.RC_MAX_SUBSCRIBERS) {
    throw invalidOption('vm.guests', vm.guests, `an array of 1 to ${C.RC_MAX_SUBSCRIBERS} guests`);
  }
  const names = new Set<string>();
  const files = new Set<string>([ringFile]);
  const peers = new Set<number>();
  const guests = vm.guests.map((guest: unknown, i) => {
    if (typeof guest !== 'object' || guest === null) throw invalidOption(`vm.guests[${i}]`, guest, '{ name, ackFile, peerId? }');
    checkKnownOptions(`vm.guests[${i}]`, guest, optionNames<VmGuestOptions>({ name: true, ackFile: true, peerId: true }));
    const { name, ackFile, peerId } = guest as VmGuestOptions;
    if (typeof name !== 'string' || name.length === 0 || names.has(name)) {
      throw invalidOption(`vm.guests[${i}].name`, name, 'a non-empty name, unique among the guests');
    }
    const file = checkString(`vm.guests[${i}].ackFile`, ackFile);
    if (files.has(file)) throw invalidOption(`vm.guests[${i}].ackFile`, file, 'a file of its own (not the ring, not another guest\'s)');
    if (peerId !== undefined && (!Number.isInteger(peerId) || peerId < 0 || peerId > C.RC_IVSHMEM_MAX_PEER_ID || peers.has(peerId))) {
      throw invalidOption(`vm.guests[${i}].peerId`, peerId, `an ivshmem peer id from 0 to ${C.RC_IVSHMEM_MAX_PEER_ID}, unique among the guests`);
    }
    names.add(name);
    files.add(file);
    if (peerId !== undefined) peers.add(peerId);
    return { name, ackFile: file, peerId: peerId ?? -1 };
  });
  const fileMode = vm.fileMode ?? 0o600;
  if (!Number.isInteger(fileMode) || fileMode < 0 || fileMode > 0o777) throw invalidOption('vm.fileMode', fileMode, 'permission bits from 0 to 0o777');
  const connectTimeoutMs = vm.connectTimeoutMs ?? 5000;
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1 || connectTimeoutMs > 600_000) {
    throw invalidOption('vm.connectTimeoutMs', connectTimeoutMs, 'an integer from 1 to 600000');
  }
  let unixSocket: string | null = null;
  if (vm.unixSocket !== undefined) {
    unixSocket = checkString('vm.unixSocket', vm.unixSocket);
    if (Buffer.byteLength(unixSocket) > 107) throw invalidOption('vm.unixSocket', unixSocket, 'a socket path of at most 107 bytes');
    if (files.has(unixSocket) || unixSocket === ivshmemServer) throw invalidOption('vm.unixSocket', unixSocket, 'a path of its own (not the ring, an ack file or the ivshmem server)');
  }
  return { ivshmemServer, ringFile, guests, fileMode, connectTimeoutMs, unixSocket };
}

type CheckedIvshmemOptions = Required<Pick<IvshmemSubscribeOptions, 'ring' | 'ack' | 'publisherTimeoutMs'>> & IvshmemSubscribeOptions;

function checkIvshmemOptions(value: unknown): CheckedIvshmemOptions {
  if (typeof value !== 'object' || value === null) throw invalidOption('ivshmem', value, '{ ring, ack, doorbell } or { ring, ack, server }');
  checkKnownOptions('ivshmem', value, optionNames<IvshmemSubscribeOptions>({ ring: true, ack: true, doorbell: true, server: true, publisherTimeoutMs: true }));
  const o = value as IvshmemSubscribeOptions;
  const ring = checkString('ivshmem.ring', o.ring);
  const ack = checkString('ivshmem.ack', o.ack);
  if ((o.doorbell === undefined) === (o.server === undefined)) {
    throw invalidOption('ivshmem', value, 'exactly one of doorbell (a guest device) and server (a host socket)');
  }
  const doorbell = o.doorbell === undefined ? undefined : checkString('ivshmem.doorbell', o.doorbell);
  const server = o.server === undefined ? undefined : checkString('ivshmem.server', o.server);
  if (ring === ack) throw invalidOption('ivshmem.ack', ack, 'not the ring');
  const publisherTimeoutMs = o.publisherTimeoutMs ?? 5000;
  if (!Number.isInteger(publisherTimeoutMs) || publisherTimeoutMs < 4 * PUBLISHER_HEARTBEAT_MS || publisherTimeoutMs > 3_600_000) {
    throw invalidOption('ivshmem.publisherTimeoutMs', publisherTimeoutMs, `an integer from ${4 * PUBLISHER_HEARTBEAT_MS} to 3600000`);
  }
  return { ring, ack, doorbell, server, publisherTimeoutMs };
}

/** What a service pass did, for the publisher to turn into events. */
export type VmServiceResult = NativeIvshmemService;

/**
 * @internal The publisher's side: the native IvshmemHost plus the watchers
 * that run it (the server socket: peers come and go; the host's doorbell:
 * join requests and acks of guests while the publisher waits for room).
 */
export class VmHost {
  readonly guests: CheckedVmOptions['guests'];
  #native: NativeIvshmemHost;
  #watchers: NativeFdWatcher[] = [];
  #retry: NodeJS.Timeout | null = null;
  #heartbeat: NodeJS.Timeout;

  constructor(publisher: NativePublisher, options: CheckedVmOptions, onService: (result: VmServiceResult) => void) {
    this.guests = options.guests;
    this.#native = new native.IvshmemHost(
      publisher,
      options.ivshmemServer,
      options.guests.map((g) => g.ackFile),
      options.guests.map((g) => g.peerId),
      options.fileMode,
      options.connectTimeoutMs,
    );
    const run = (): void => {
      const result = this.#native.service();
      if (result.error !== 0) this.#stopServerWatch();
      if (result.retryMs > 0 && !this.#retry) {
        this.#retry = setTimeout(() => {
          this.#retry = null;
          run();
        }, result.retryMs);
        this.#retry.unref();
      }
      onService(result);
    };
    for (const fd of [this.#native.serverFd, this.#native.doorbellFd]) {
      const watcher = new native.FdWatcher(fd, false, run);
      watcher.start();
      this.#watchers.push(watcher);
    }
    // A join asked before we were watching rang nobody: look once now.
    queueMicrotask(run);
    this.#native.heartbeat();
    this.#heartbeat = setInterval(() => this.#native.heartbeat(), PUBLISHER_HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  get hostPeer(): number {
    return this.#native.hostPeer;
  }

  bound(): Array<{ slot: number; peer: number; joins: number; rejected: number }> {
    return this.#native.guests();
  }

  #stopServerWatch(): void {
    const server = this.#watchers.shift();
    server?.close();
  }

  /** Guest `slot`'s joins are refused `backoff` for `waitMs` (it was evicted slow or protocol repeatedly). */
  backoff(slot: number, waitMs: number): void {
    this.#native.backoff(slot, Math.ceil(waitMs));
  }

  destroy(): void {
    clearInterval(this.#heartbeat);
    if (this.#retry) clearTimeout(this.#retry);
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    this.#native.destroy();
  }
}

/** @internal `SubscriberOptions.ivshmem`, validated, as a subscriber's way in. */
export function ivshmemRoute(value: unknown): SharedMemoryRoute {
  const options = checkIvshmemOptions(value);
  const { ring, ack, doorbell, server, publisherTimeoutMs } = options;
  const what = `bus ${ring}`;
  return {
    where: ring,
    async attach(timeoutMs, signal) {
      let guest: NativeIvshmemSubscriber;
      try {
        guest = new native.IvshmemSubscriber(ring, ack, doorbell ?? null, server ?? null);
      } catch (error) {
        throw new RingcastError('ERR_RINGCAST_BAD_REGION', `cannot attach through ivshmem (${ring}, ${ack}): ${(error as Error).message}`, { cause: error });
      }
      try {
        await joinGuest(guest, timeoutMs, signal, what);
      } catch (error) {
        guest.destroy();
        throw error;
      }
      return {
        reader: guest,
        doorbell: true,
        rejoin: (rejoinTimeoutMs) => joinGuest(guest, rejoinTimeoutMs, undefined, what),
        leave: () => void guest.leave(),
        // The publisher's heartbeat in the ring: a guest has no socket to see it die.
        publisherGone: () => guest.publisherGone(performance.now(), publisherTimeoutMs),
        checkEveryMs: publisherTimeoutMs / 4,
        logFields: { ring, peer: guest.info().peer },
      };
    },
  };
}

/**
 * A guest's join: ask, ring, and wait for the answer on our doorbell
 * (re-ringing now and then: a ring sent before the host watched is lost).
 */
async function joinGuest(guest: NativeIvshmemSubscriber, timeoutMs: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  const watcher = new native.FdWatcher(guest.doorbellFd, true, () => step());
  let finish!: (error: Error | null) => void;
  let asked = false;
  const step = (): void => {
    if (!asked) {
      const begun = guest.joinBegin();
      if (begun === C.RC_EAGAIN) return; // the host has not published its peer id yet
      if (begun === C.RC_ECLOSED || begun === C.RC_EABORTED) return finish(joinFailure(what, begun, 0, timeoutMs, false));
      if (begun !== C.RC_OK) return finish(new RingcastError('ERR_RINGCAST_BAD_REGION', `${what}: the region is not a ringcast bus of this layout (status ${begun})`));
      asked = true;
    }
    const status = guest.joinPoll();
    if (status === C.RC_EAGAIN) return;
    finish(status === C.RC_OK ? null : joinFailure(what, status, guest.lastVerdict, timeoutMs, false));
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => finish(joinFailure(what, C.RC_EAGAIN, 0, timeoutMs, true)), timeoutMs);
      // Only the host's answer wakes us; ring again until it comes.
      const again = setInterval(() => {
        if (asked) guest.joinBegin();
        step();
      }, 100);
      const onAbort = (): void => finish(abortError(signal!));
      finish = (error) => {
        clearTimeout(deadline);
        clearInterval(again);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      if (signal?.aborted) return finish(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      watcher.start();
      step();
    });
  } finally {
    watcher.close();
  }
}
