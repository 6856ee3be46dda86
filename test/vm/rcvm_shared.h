/* SPDX-License-Identifier: MIT */
/*
 * The VM test's own shared-memory handshake (phase 1: the driver and the
 * doorbells; not the ringcast protocol). Three kinds of region:
 *
 *   ring file  (ivshmem-plain, read-only to guests when QEMU allows):
 *              struct rcvm_control at offset 0, written by the host only,
 *              then RCVM_PATTERN_LEN bytes of a pattern from offset
 *              RCVM_PATTERN_OFFSET.
 *   ack file   (ivshmem-plain, one per guest): struct rcvm_ack, written by
 *              that guest only.
 *   doorbell shm (the ivshmem server's memory, shared by every peer):
 *              one 64-byte token line per guest, written by that guest.
 *
 * Every flag is stored with release after the data it covers and loaded
 * with acquire (__atomic builtins); the doorbells only wake, the flags say
 * what happened.
 */
#ifndef RCVM_SHARED_H
#define RCVM_SHARED_H

#include <stdint.h>

#define RCVM_MAGIC 0x545345544d564352ULL /* "RCVMTEST" */
#define RCVM_GUESTS 2
#define RCVM_VECTORS 4
/* Guest g (1-based) and the host ring each other on vector g-1; the guests
 * ring each other on RCVM_GUEST_VECTOR. */
#define RCVM_GUEST_VECTOR 2
#define RCVM_PATTERN_OFFSET 4096u
#define RCVM_PATTERN_LEN (1024u * 1024u)
#define RCVM_SCRATCH_OFFSET 2048u /* a guest tries to write here */
#define RCVM_SCRATCH_VALUE 0x5a5a5a5a5a5a5a5aULL

struct rcvm_control {            /* host -> guests */
	uint64_t magic;              /* release, last of the initial fields  */
	uint32_t host_peer;          /* the host's ivshmem peer id           */
	uint32_t pattern_seed;
	uint64_t pattern_sum;        /* rcvm_sum of the pattern              */
	uint32_t guest_peer[RCVM_GUESTS];
	uint32_t round;              /* release: 1 = guest_peer[] published  */
	uint32_t reserved;
};

enum rcvm_step {                 /* rcvm_ack.step, release, only grows   */
	RCVM_STEP_READY = 1,         /* fds open, peer_id written            */
	RCVM_STEP_HOST_RUNG = 2,     /* it saw the host's ring + round 1     */
	RCVM_STEP_RANG_HOST = 3,     /* it rang the host                     */
	RCVM_STEP_GUEST_RUNG = 4,    /* it saw the other guest's ring+token  */
	RCVM_STEP_DONE = 5,          /* every check finished (see failures)  */
};

enum rcvm_ring_write {           /* rcvm_ack.ring_write */
	RCVM_RING_WRITE_NOT_TRIED = 0,
	RCVM_RING_WRITE_IGNORED = 1, /* read back unchanged: read-only holds  */
	RCVM_RING_WRITE_VISIBLE = 2, /* the guest changed the ring            */
};

struct rcvm_ack {                /* one guest -> host */
	uint32_t step;
	uint32_t peer_id;
	uint32_t failures;
	uint32_t ring_write;
	uint64_t host_rings_seen;    /* count read from the host vector fd    */
};

struct rcvm_token {              /* in the doorbell shm, line g */
	uint64_t value;              /* release */
	uint64_t reserved[7];
};

static inline uint64_t rcvm_pattern_byte(uint32_t seed, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL ^ seed;

	x ^= x >> 29;
	return (x * 0xbf58476d1ce4e5b9ULL) >> 56;
}

static inline uint64_t rcvm_sum(const uint8_t *p, uint64_t len)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (uint64_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static inline uint64_t rcvm_token_for(int guest)
{
	return 0x70c3e40000000000ULL | (uint64_t)guest;
}

#define rcvm_load(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define rcvm_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#ifdef RCVM_REPORT_OK
/* One line per check, prefixed RCVM_REPORT_OK or RCVM_REPORT_FAIL (the guest
 * and the host programs say it differently: the harness reads both). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int failures;

/* The condition runs first, so the message shows the values (and errno)
 * it left, not ones read before it ran. */
#define check(cond, ...)                \
	do {                            \
		bool passed_ = (cond);  \
		report(passed_, __VA_ARGS__); \
	} while (0)

static void report(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf(RCVM_REPORT_OK "%s\n", name);
	} else {
		failures++;
		printf(RCVM_REPORT_FAIL "%s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}
#endif

#endif /* RCVM_SHARED_H */
