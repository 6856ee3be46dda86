// SPDX-License-Identifier: MIT
//
// The Xen region provider's part of the binding (xen.cc).
#ifndef RINGCAST_BINDING_XEN_H
#define RINGCAST_BINDING_XEN_H

#include <napi.h>

// Adds XenPublisher, XenSubscriber, xenAvailable, xenOwnDomid and xenInspect to `exports`, and the
// provider's constants to `exports.constants` (which must already exist).
void RegisterXen(Napi::Env env, Napi::Object exports);

// Clears the pending ports of an event-channel device (/dev/xen/evtchn) and
// unmasks them, as FdWatcher does for eventfd doorbells.
void DrainEvtchn(int fd);

#endif
