/* SPDX-License-Identifier: MIT */
/*
 * The memfd region provider and the same-host control plane: memfds and
 * their seals, eventfd doorbells, SOCK_SEQPACKET Unix sockets carrying
 * descriptors (SCM_RIGHTS) and peer credentials (SO_PEERCRED).
 * Linux only. Functions return 0 / a descriptor, or -errno.
 */
#ifndef RC_OS_H
#define RC_OS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_MAX_FDS_PER_MESSAGE 8

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

/* SOCK_SEQPACKET, non-blocking, close-on-exec. listen replaces a stale
 * socket file at `path` but refuses (-EADDRINUSE) when a live bus answers. */
int rc_unix_listen(const char *path, int backlog);
int rc_unix_connect(const char *path);

struct rc_peer {
	int32_t pid;
	uint32_t uid;
	uint32_t gid;
};

/* -EAGAIN when nothing is pending. */
int rc_unix_accept(int listen_fd, struct rc_peer *peer);
int rc_peer_credentials(int fd, struct rc_peer *peer);

/* One message with up to RC_MAX_FDS_PER_MESSAGE descriptors. */
int rc_unix_send(int fd, const void *data, size_t len, const int *fds, int nfds);

/* Receives one message into `buf`. Returns its length (0 = peer closed,
 * -EAGAIN = nothing pending, -EMSGSIZE = longer than `cap`, descriptors
 * closed). Descriptors land in fds[*nfds]. */
int rc_unix_recv(int fd, void *buf, size_t cap, int *fds, int *nfds);

#ifdef __cplusplus
}
#endif

#endif /* RC_OS_H */
