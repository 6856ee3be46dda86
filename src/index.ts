// ringcast's public surface. Everything else is internal.
export { Publisher } from './publisher.js';
export type {
  PublisherOptions,
  PublisherOptionFields,
  PublishOptions,
  PublisherStats,
  SubscriberStats,
  SubscriberState,
  StateChange,
  EvictionEvent,
  Claim,
} from './publisher.js';
export { Subscriber } from './subscriber.js';
export type {
  SubscriberOptions,
  ReceiveOptions,
  BatchesOptions,
  ReceiveSyncOptions,
  SubscriberStatsSnapshot,
  SubscriptionState,
  GapEvent,
  PollHandler,
} from './subscriber.js';
export {
  RingcastError,
  EvictedError,
  PublisherAbortedError,
  PublisherGoneError,
  RefusedError,
} from './errors.js';
export { RINGCAST_ERROR_CODES } from './errors.js';
export { AddressError, parseAddress, formatAddress } from './address.js';
export type { BusAddress, UnixAddress, IvshmemAddress, XenAddress, AddressPart } from './address.js';
export type { RingcastErrorCode, EvictionReason } from './errors.js';
export type { SlowConsumerPolicy } from './options.js';
export type {
  PublisherEvents,
  SubscriberEvents,
  ChannelEvents,
  ChannelServerEvents,
  BridgeEvents,
  SubscribeEvent,
  UnsubscribeEvent,
  RefuseEvent,
  SubscriptionStateChange,
} from './events.js';
export type { RefuseReason } from './control.js';
export { constants } from './constants.js';
export { refuseSameUidAccess } from './process.js';
export { inspectBus } from './inspect.js';
export { channels as diagnosticsChannels, STATS_INTERVAL_MS } from './diagnostics.js';
export type { PublisherLifecycleMessage, SubscriberLifecycleMessage, StatsMessage } from './diagnostics.js';
export type { BusSnapshot } from './inspect.js';
export { Channel, ChannelServer } from './channel.js';
export type { ChannelOptions } from './channel.js';
export type { StreamOptions } from './streams.js';
export { ivshmemRegionSize } from './providers/ivshmem.js';
export type { VmOptions, VmGuestOptions, IvshmemSubscribeOptions } from './providers/ivshmem.js';
export type { XenBusOptions, XenBusInfo, XenReceiver, XenAckGrant, XenSubscribeOptions, XenDeathSeenBy } from './providers/xen.js';
export { Bridge } from './bridge/bridge.js';
export type { BridgeOptions, BridgeTransportOptions, BridgeStats, BridgeGapEvent, RepublishOptions } from './bridge/bridge.js';
