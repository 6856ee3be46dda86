// A read-only look at a bus: the descriptor page and the slot table, as the
// publisher mirrors them. Used by `ringcast stat`.
import { closeSync, constants as fsConstants, fstatSync, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { parseAddress } from './address.js';
import { ControlConnection, PROTOCOL_VERSION } from './control.js';
import { RefusedError, RingcastError } from './errors.js';
import { C, native } from './native.js';
import { xenInspect } from './providers/xen.js';
import { wrapSystem } from './publisher.js';
import type { EvictionReason } from './errors.js';
import type { NativeRingSnapshot } from './native.js';

export interface BusSnapshot {
  /** What was read: the bus socket, an ivshmem bus's ring file, or a Xen bus's address (`xen:DOMID/BUS`). */
  path: string;
  capacity: number;
  maxPayload: number;
  policy: 'block' | 'drop';
  head: number;
  messages: number;
  publisherState: 'open' | 'closed' | 'aborted';
  publisherPid: number;
  subscribers: Array<{
    slot: number;
    /**
     * `process`: attached through the bus socket (pid, uid from SO_PEERCRED);
     * `guest`: attached through shared memory (a VM guest: pid and uid 0);
     * `domain`: a subscriber in a Xen receiver domain (pid and uid 0).
     */
    kind: 'process' | 'guest' | 'domain';
    /**
     * Xen only: the subscriber's domain where the reader can know it (its own
     * domain's slots, from XenStore; the ring does not record domains), else null.
     */
    domid?: number | null;
    state: 'active' | 'lagging' | 'evicted';
    reason: EvictionReason | null;
    pid: number;
    uid: number;
    ack: number;
    lagBytes: number;
    evictions: number;
    lostBytes: number;
    lostMessages: number;
  }>;
}

const STATES = { [C.RC_SLOT_ACTIVE]: 'active', [C.RC_SLOT_LAGGING]: 'lagging', [C.RC_SLOT_EVICTED]: 'evicted' } as const;
const REASONS: Record<number, EvictionReason> = {
  [C.RC_EVICT_SLOW]: 'slow',
  [C.RC_EVICT_PROTOCOL]: 'protocol',
  [C.RC_EVICT_DEAD]: 'dead',
  [C.RC_EVICT_CLOSED]: 'closed',
};

/**
 * Reads the descriptor page and slot table of the bus at `address`
 * (docs/addresses.md): a socket bus (`unix:PATH`, a bare path, or a mixed
 * bus's `ivshmem:...&unix=PATH`) is asked for a read-only ring descriptor;
 * an ivshmem bus without a socket is read from its ring file; a Xen bus
 * (`xen:DOMID/BUS`, a slot ignored) from a receiver domain, through the
 * descriptor that domain was granted. In the Xen publisher's own domain it
 * fails with ERR_RINGCAST_UNSUPPORTED (docs/xen.md, "Inspecting a bus").
 */
export async function inspectBus(address: string, timeoutMs = 5000): Promise<BusSnapshot> {
  const parsed = parseAddress(address);
  if (parsed.kind === 'xen') {
    const path = `xen:${parsed.publisher}/${parsed.bus}`;
    const ring = xenInspect(parsed.publisher, parsed.bus);
    const snapshot = describe(path, ring);
    for (const s of snapshot.subscribers) {
      s.kind = 'domain';
      s.domid = ring.domainSlots.includes(s.slot) ? ring.domid : null;
    }
    return snapshot;
  }
  if (parsed.kind === 'ivshmem' && parsed.unix === undefined) return snapshotOf(parsed.ring, openRingFile(parsed.ring));
  const path = parsed.kind === 'unix' ? parsed.path : parsed.unix!;
  let fd: number;
  try {
    fd = native.unixConnect(path);
  } catch (error) {
    throw wrapSystem(error, `cannot connect to bus ${path}`);
  }
  const ringFd = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => fail(new RingcastError('ERR_RINGCAST_HANDSHAKE', `no answer from ${path}`)), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      connection.close();
      reject(error);
    };
    const connection = new ControlConnection(fd, {
      message: (message, fds) => {
        clearTimeout(timer);
        connection.close();
        if (message.type === 'welcome' && fds.length === 1) return resolve(fds[0]!);
        for (const extra of fds) native.closeFd(extra);
        if (message.type === 'refused') reject(new RefusedError(message.reason, message.message));
        else reject(new RingcastError('ERR_RINGCAST_HANDSHAKE', `unexpected ${message.type}`));
      },
      violation: (detail) => fail(new RingcastError('ERR_RINGCAST_HANDSHAKE', detail)),
      closed: () => fail(new RingcastError('ERR_RINGCAST_HANDSHAKE', `bus ${path} closed the connection`)),
    });
    connection.trySend({ type: 'hello', version: PROTOCOL_VERSION, role: 'inspect' }); // a refusal may already wait for us
  });
  return snapshotOf(path, ringFd);
}

/** An ivshmem bus's ring file (or a mixed bus's link to its memfd), read-only. */
function openRingFile(ring: string): number {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO at that path would block the open for ever.
    fd = openSync(ring, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw wrapSystem(error, `cannot open the ring ${ring}`);
  }
  // A mixed bus's link leads to its memfd, a regular file too.
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new RingcastError('ERR_RINGCAST_BAD_REGION', `${ring} is not a ring file (not a regular file)`);
  }
  return fd;
}

/** Reads the ring behind `ringFd` and closes it. */
function snapshotOf(path: string, ringFd: number): BusSnapshot {
  try {
    let ring: ReturnType<typeof native.inspectRing>;
    try {
      ring = native.inspectRing(ringFd);
    } catch (error) {
      // Shorter than a descriptor and the smallest ring: not a ring, whatever else it is.
      if ((error as { errno?: number }).errno === osConstants.errno.EMSGSIZE) throw new RingcastError('ERR_RINGCAST_BAD_REGION', `${path}: too small to be a ringcast ring`, { cause: error });
      throw error;
    }
    return describe(path, ring);
  } finally {
    native.closeFd(ringFd);
  }
}

/** A descriptor's copy, as stat shows it. */
function describe(path: string, ring: NativeRingSnapshot): BusSnapshot {
  if (!ring.valid) throw new RingcastError('ERR_RINGCAST_BAD_REGION', 'not a ringcast ring of this layout version');
  const head = ring.head!;
  return {
    path,
    capacity: ring.capacity!,
    maxPayload: ring.maxPayload!,
    policy: ring.policy === C.RC_POLICY_DROP ? 'drop' : 'block',
    head,
    messages: ring.messages!,
    publisherState: ring.publisherState === C.RC_PUB_CLOSED ? 'closed' : ring.publisherState === C.RC_PUB_ABORTED ? 'aborted' : 'open',
    publisherPid: ring.publisherPid!,
    subscribers: ring.slots!.map((s) => ({
      slot: s.slot,
      kind: s.guest ? 'guest' : 'process',
      state: STATES[s.state as keyof typeof STATES] ?? 'evicted',
      reason: REASONS[s.reason] ?? null,
      pid: s.pid,
      uid: s.uid,
      ack: s.ack,
      lagBytes: Math.max(0, head - s.ack),
      evictions: s.evictions,
      lostBytes: s.state === C.RC_SLOT_EVICTED ? s.lostTo - s.lostFrom : 0,
      lostMessages: s.state === C.RC_SLOT_EVICTED ? s.lostMessages : 0,
    })),
  };
}
