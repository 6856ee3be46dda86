// The events of each emitter, as the argument lists their listeners get.
// Publisher, Subscriber, Channel, ChannelServer and Bridge
// extend EventEmitter<their map>, so under strict TypeScript a misspelled
// event name or field does not compile (test/types/ proves it with tsc).
import type { EvictionReason } from './errors.js';
import type { RefuseReason } from './control.js';
import type { EvictionEvent, StateChange } from './publisher.js';
import type { GapEvent, SubscriptionState } from './subscriber.js';
import type { XenDeathSeenBy } from './providers/xen.js';
import type { BridgeGapEvent } from './bridge/bridge.js';

/**
 * A subscriber took a slot: a process (pid, uid from SO_PEERCRED), a VM guest
 * (`guest`, `peer`) or a Xen receiver (`domid`, `domainSlot`); pid and uid are
 * 0 for the last two.
 */
export interface SubscribeEvent {
  slot: number;
  pid: number;
  uid: number;
  /** ivshmem: the guest's name in `vm.guests`. */
  guest?: string;
  /** ivshmem: the guest's peer id at the ivshmem server. */
  peer?: number;
  /** Xen: the receiver's domain. */
  domid?: number;
  /** Xen: the slot's number among its domain's slots (what its address names). */
  domainSlot?: number;
}

/** A slot became free again. */
export interface UnsubscribeEvent {
  slot: number;
  reason: EvictionReason;
  /** Xen: the receiver's domain and its slot there. */
  domid?: number;
  domainSlot?: number;
  /** Xen, reason `dead`: how the death was seen (its kernel's unmap notification, its domain's XenStore node gone, its heartbeat stopped). */
  seenBy?: XenDeathSeenBy;
}

/** A connection a publisher or a channel server turned down (allow list, full, flood, protocol, ...). */
export interface RefuseEvent {
  /** A VM guest's refusal names the verdict of its join answer instead. */
  reason: RefuseReason | (string & {});
  pid: number;
  uid: number;
  guest?: string;
  peer?: number;
  /** Xen: the receiver's domain (a Xen channel: the domain turned down) and its slot there; pid and uid are 0. */
  domid?: number;
  domainSlot?: number;
  /** protocol: what the peer got wrong. */
  detail?: string;
}

/** A subscriber's own standing changed (`state` event of Subscriber). */
export interface SubscriptionStateChange {
  from: SubscriptionState;
  to: SubscriptionState;
  /** evicted: why. */
  reason: EvictionReason | null;
}

export interface PublisherEvents {
  subscribe: [event: SubscribeEvent];
  unsubscribe: [event: UnsubscribeEvent];
  /** Every slot transition (ACTIVE, LAGGING, EVICTED, detached). */
  state: [change: StateChange];
  evict: [event: EvictionEvent];
  refuse: [event: RefuseEvent];
  /** The publish queue emptied. */
  drain: [];
  close: [];
}

export interface SubscriberEvents {
  state: [change: SubscriptionStateChange];
  /** After a rejoin: what the eviction cost. */
  gap: [gap: GapEvent];
  /** The publisher closed the bus and everything was read. */
  end: [];
  close: [];
}

export interface ChannelEvents {
  /** The peer shut its side down and everything was read. */
  end: [];
  close: [];
}

export interface ChannelServerEvents {
  refuse: [event: RefuseEvent];
}

export interface BridgeEvents {
  gap: [gap: BridgeGapEvent];
  /** Messages this bridge dropped (its `drop` policy, too large for the transport, the link down). */
  drop: [event: { messages: number; reason: 'too-large' | 'network-slow' | 'network-down' }];
  /** The link to the far side is up (again). */
  up: [];
  down: [event: { reason: string }];
  /** A frame from the far side that could not be decoded. */
  malformed: [error: Error];
  close: [];
}
