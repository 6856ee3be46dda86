// SPDX-License-Identifier: MIT
//
// What `ringcast stat` shows of a ring, from a copy of its descriptor: one
// description for every provider (addon.cc: a memfd or ivshmem ring read
// with pread; xen.cc: a Xen ring's descriptor mapped from a receiver domain).
#ifndef RINGCAST_BINDING_RING_SNAPSHOT_H
#define RINGCAST_BINDING_RING_SNAPSHOT_H

#include <cstdint>

#include <napi.h>

// `desc`: RC_DESC_SIZE bytes copied from the ring (never the live mapping:
// the publisher keeps writing it). Returns { valid, capacity, ..., slots }.
Napi::Object DescribeRing(Napi::Env env, const uint8_t *desc);

#endif
