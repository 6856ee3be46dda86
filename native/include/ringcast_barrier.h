/* SPDX-License-Identifier: MIT */
/*
 * The whole barrier vocabulary of the user-space core, defined once.
 * Every use in native/src names its partner; docs/memory-ordering.md holds
 * the pairing table. (The kernel module uses the kernel's own smp_* set.)
 */
#ifndef RINGCAST_BARRIER_H
#define RINGCAST_BARRIER_H

#include <stdint.h>

/* Plain atomic access: no ordering, but no tearing and no compiler caching. */
#define rc_load_relaxed(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define rc_store_relaxed(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* Everything before a release store is visible to whoever acquire-loads the
 * value it stored. */
#define rc_load_acquire(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define rc_store_release(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Store -> load ordering (the sleep/wake handshake needs it: "announce, then
 * re-check" on one side against "publish, then look for announcements" on
 * the other). Acquire/release cannot order a store before a later load. */
#define rc_fence_full()         __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* Orders earlier stores before later stores (the seqlock writer: intent,
 * then the bytes it covers). */
#define rc_fence_release()      __atomic_thread_fence(__ATOMIC_RELEASE)

/* Orders earlier loads before later loads (seqlock re-check after a copy). */
#define rc_fence_acquire()      __atomic_thread_fence(__ATOMIC_ACQUIRE)

#endif /* RINGCAST_BARRIER_H */
