/* SPDX-License-Identifier: MIT */
/*
 * The same-host control plane's transport: SOCK_SEQPACKET Unix sockets
 * carrying descriptors (SCM_RIGHTS) and peer credentials (SO_PEERCRED).
 * Linux only. Functions return 0 / a descriptor, or -errno.
 */
#ifndef RC_UNIX_H
#define RC_UNIX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_MAX_FDS_PER_MESSAGE 8

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

#endif /* RC_UNIX_H */
