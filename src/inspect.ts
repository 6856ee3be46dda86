// A read-only look at a bus: the descriptor page and the slot table, as the
// publisher mirrors them. Used by `ringcast stat`.
import { ControlConnection, PROTOCOL_VERSION } from './control.js';
import { RefusedError, RingcastError } from './errors.js';
import { C, native } from './native.js';
import { checkPath } from './options.js';
import { wrapSystem } from './publisher.js';
import type { EvictionReason } from './errors.js';

export interface BusSnapshot {
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

/** Asks the publisher at `path` for a read-only ring descriptor and reads it. */
export async function inspectBus(path: string, timeoutMs = 5000): Promise<BusSnapshot> {
  checkPath('path', path);
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
  try {
    const ring = native.inspectRing(ringFd);
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
  } finally {
    native.closeFd(ringFd);
  }
}
