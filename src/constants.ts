// Layout constants for applications and tools, straight from the addon.
import { C } from './native.js';

/** The shared layout's sizes and limits (from native/include/ringcast_layout.h via the addon). */
export const constants = Object.freeze({
  layoutVersion: C.RC_LAYOUT_VERSION,
  maxSubscribers: C.RC_MAX_SUBSCRIBERS,
  descriptorSize: C.RC_DESC_SIZE,
  ackPageSize: C.RC_ACK_PAGE_SIZE,
  minCapacity: C.RC_MIN_CAPACITY,
  maxCapacity: C.RC_MAX_CAPACITY,
  recordAlign: C.RC_RECORD_ALIGN,
  recordHeaderSize: C.RC_RECORD_HEADER_SIZE,
  /** The largest data area of a Xen bus (docs/xen.md says what limits it). */
  xenMaxCapacity: C.RC_XEN_MAX_CAPACITY,
});
