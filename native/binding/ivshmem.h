// SPDX-License-Identifier: MIT
//
// The ivshmem region provider's part of the binding (ivshmem.cc).
#ifndef RINGCAST_BINDING_IVSHMEM_H
#define RINGCAST_BINDING_IVSHMEM_H

#include <napi.h>

// Adds IvshmemHost, IvshmemSubscriber and ivshmemRegionSize to `exports`, and
// the constants of the join handshake to `exports.constants` (which must
// already exist).
void RegisterIvshmem(Napi::Env env, Napi::Object exports);

#endif
