/* SPDX-License-Identifier: MIT */
/*
 * The peer side of QEMU's ivshmem client-server protocol (docs/specs/
 * ivshmem-spec, "The ivshmem Client-Server Protocol"), for the tests that
 * check our server: native/test/test_ivshmem_server.c and the VM test's
 * host (test/vm/rcvm_host.c). Written from the spec text, not from
 * native/src/providers/ivshmem/rc_ivshmem_server.c or the provider's client in rc_ivshmem.c,
 * so the server is checked against an independent reading.
 *
 * The server only sends: each message is one little-endian int64, with at
 * most one descriptor (SCM_RIGHTS).
 *
 * Header-only (static functions) so test programs built outside native/'s
 * Makefile need nothing but an include path. Needs _GNU_SOURCE (for
 * SOCK_CLOEXEC and MSG_CMSG_CLOEXEC) defined before the first include.
 */
#ifndef IVSHMEM_SPEC_CLIENT_H
#define IVSHMEM_SPEC_CLIENT_H

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Connects to the server's Unix socket `path`: the fd, or -1 with errno. */
static inline int ivshmem_spec_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path) >= (int)sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

#define IVSHMEM_SPEC_MESSAGE 1  /* *value (and *fd, or -1) filled in */
#define IVSHMEM_SPEC_CLOSED 0   /* the server closed (or reset) the connection */
#define IVSHMEM_SPEC_NOTHING -1 /* no message within the timeout */
#define IVSHMEM_SPEC_BROKEN -2  /* a short message or a failed read: errno says which */

/* One server message, waiting up to timeout_ms for it (0: only one already
 * there). One of the IVSHMEM_SPEC_ results above; *fd is -1 unless a
 * message came with a descriptor (close-on-exec). */
static inline int ivshmem_spec_recv(int sock, int64_t *value, int *fd, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	uint64_t wire;
	struct iovec iov = { .iov_base = &wire, .iov_len = sizeof(wire) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	struct pollfd p = { .fd = sock, .events = POLLIN };
	struct cmsghdr *cmsg;
	ssize_t n;

	*fd = -1;
	*value = 0;
	if (poll(&p, 1, timeout_ms) <= 0)
		return IVSHMEM_SPEC_NOTHING;
	n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IVSHMEM_SPEC_NOTHING;
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return IVSHMEM_SPEC_CLOSED;
	for (cmsg = CMSG_FIRSTHDR(&msg); n > 0 && cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
	if (n != (ssize_t)sizeof(wire)) {
		if (n > 0)
			errno = EPROTO;
		return IVSHMEM_SPEC_BROKEN;
	}
	*value = (int64_t)le64toh(wire);
	return IVSHMEM_SPEC_MESSAGE;
}

#endif /* IVSHMEM_SPEC_CLIENT_H */
