// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "rc_unix.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int neg_errno(void) { return errno ? -errno : -EIO; }

static int unix_address(const char *path, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	strcpy(addr->sun_path, path);
	return 0;
}

int rc_unix_connect(const char *path)
{
	struct sockaddr_un addr;
	int fd, r;

	if ((r = unix_address(path, &addr)) < 0)
		return r;
	/* Non-blocking before connect: a Unix socket then connects at once or
	 * fails at once, EAGAIN when the listener's backlog is full. A blocking
	 * connect would sleep until a flooded bus accepts (maybe never). */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return neg_errno();
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		r = neg_errno();
		close(fd);
		return r;
	}
	return fd;
}

int rc_unix_listen(const char *path, int backlog)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, r;

	if ((r = unix_address(path, &addr)) < 0)
		return r;
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		probe = rc_unix_connect(path);
		if (probe >= 0) {
			close(probe);
			return -EADDRINUSE;
		}
		/* A full backlog is a live bus under load, not a stale file. */
		if (probe == -EAGAIN)
			return -EADDRINUSE;
		unlink(path); /* stale socket of a bus that died */
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return neg_errno();
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, backlog)) {
		r = neg_errno();
		close(fd);
		return r;
	}
	return fd;
}

int rc_peer_credentials(int fd, struct rc_peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return neg_errno();
	peer->pid = cred.pid;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	return 0;
}

int rc_unix_accept(int listen_fd, struct rc_peer *peer)
{
	int fd, r;

	do {
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : neg_errno();
	if ((r = rc_peer_credentials(fd, peer)) < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int rc_unix_send(int fd, const void *data, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RC_MAX_FDS_PER_MESSAGE)];
	} control;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	if (nfds < 0 || nfds > RC_MAX_FDS_PER_MESSAGE)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
	}
	do {
		r = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return neg_errno();
	return (size_t)r == len ? 0 : -EMSGSIZE;
}

int rc_unix_recv(int fd, void *buf, size_t cap, int *fds, int *nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RC_MAX_FDS_PER_MESSAGE)];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *cmsg;
	ssize_t r;
	int got = 0;

	*nfds = 0;
	/* ECONNRESET only says the peer closed with our messages unread; what it
	 * sent before closing is still queued, and the next call returns it (or
	 * 0 at the end). */
	do {
		r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (r < 0 && (errno == EINTR || errno == ECONNRESET));
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : neg_errno();
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
			int n = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int *received = (int *)CMSG_DATA(cmsg);

			for (int i = 0; i < n; i++) {
				if (got < RC_MAX_FDS_PER_MESSAGE)
					fds[got++] = received[i];
				else
					close(received[i]);
			}
		}
	}
	/* A message cut short (or descriptors dropped) is never half-used. */
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (int i = 0; i < got; i++)
			close(fds[i]);
		return -EMSGSIZE;
	}
	*nfds = got;
	return (int)r;
}
