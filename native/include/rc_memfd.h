/* SPDX-License-Identifier: MIT */
/*
 * The memfd region provider: the ring and ack pages as sealed memfds, their
 * mappings, and eventfd doorbells. The same-host control plane that hands
 * them over is rc_unix.h.
 * Linux only. Functions return 0 / a descriptor, or -errno.
 */
#ifndef RC_MEMFD_H
#define RC_MEMFD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rc_mapping {
	void *addr;
	uint64_t size;
};

/* Ring memfd: sized, mapped writable for the publisher, then sealed against
 * shrink/grow/future writable mappings. *readonly_fd is an O_RDONLY reopen to
 * hand to subscribers. */
int rc_ring_memfd_create(uint64_t size, int *fd, int *readonly_fd, struct rc_mapping *map);

/* Ack page memfd: sized, sealed against shrink/grow, mapped writable (so the
 * publisher can format it). */
int rc_ack_memfd_create(uint64_t size, int *fd, struct rc_mapping *map);

/* A received descriptor is only mapped after this: a sealed memfd (at least
 * F_SEAL_SHRINK, so it cannot SIGBUS us later) of exactly `size` bytes, plus
 * `required_seals`. */
int rc_memfd_verify(int fd, uint64_t size, int required_seals);
/* What rc_memfd_verify found wrong, in words, for its negative `status`. */
const char *rc_memfd_problem(int status);

int rc_map(int fd, uint64_t size, int writable, struct rc_mapping *map);
/* Re-maps a writable mapping read-only (publisher view of an ack page). */
int rc_map_protect_readonly(struct rc_mapping *map);
void rc_unmap(struct rc_mapping *map);

int rc_eventfd_create(void);
/* A received doorbell is only watched after this: an eventfd, non-blocking
 * (a blocking descriptor would stall whoever reads it). */
int rc_eventfd_verify(int fd);
/* What rc_eventfd_verify found wrong, in words, for its negative `status`. */
const char *rc_eventfd_problem(int status);
/* Clears a doorbell; returns the count read or 0 if none was pending. */
int64_t rc_eventfd_drain(int fd);
int rc_eventfd_ring(int fd);

#ifdef __cplusplus
}
#endif

#endif /* RC_MEMFD_H */
