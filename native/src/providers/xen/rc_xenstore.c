// SPDX-License-Identifier: MIT
/*
 * The minimal XenStore client of rc_xenstore.h: xenstored's wire protocol
 * over its Unix socket or /dev/xen/xenbus. Every reply is hostile input: its
 * length is bounded before anything is read into the one buffer, its req_id
 * and type are checked, and an error name is looked up, never trusted.
 */
#define _GNU_SOURCE
#include "rc_xenstore.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* xs_wire.h: enum xsd_sockmsg_type, the subset used here. */
enum {
	XS_READ = 2,
	XS_GET_DOMAIN_PATH = 10,
	XS_WRITE = 11,
	XS_SET_PERMS = 14,
	XS_RM = 13,
	XS_WATCH_EVENT = 15,
	XS_ERROR = 16,
};

/* xs_wire.h: struct xsd_sockmsg, host byte order on both sides. */
struct xs_header {
	uint32_t type;
	uint32_t req_id; /* echoed by xenstored (and by the xenbus device) */
	uint32_t tx_id;  /* always 0 here: no transactions */
	uint32_t len;    /* payload bytes that follow */
};

#define HDR sizeof(struct xs_header)
_Static_assert(sizeof(struct xs_header) == 16, "xsd_sockmsg is four uint32_t");

/* Without a watch no event is ever sent to this connection; a peer that
 * sends this many in a row instead of a reply is not xenstored. */
#define MAX_SKIPPED_EVENTS 64u

struct rc_xs {
	int fd;
	bool is_socket; /* send(MSG_NOSIGNAL): no SIGPIPE in the host process */
	int broken;     /* 0, or the -errno every later call returns */
	uint32_t req_id;
	/* One request, then its reply, in place: never more than one
	 * outstanding. */
	unsigned char buf[HDR + RC_XS_PAYLOAD_MAX];
};

static int neg_errno(void) { return errno ? -errno : -EIO; }

static int broken(struct rc_xs *xs, int r)
{
	xs->broken = r;
	return r;
}

/* The descriptor is blocking unless its owner made it otherwise. */
static void wait_ready(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	poll(&p, 1, -1);
}

/* 0 once all of it is written; a failure before the first byte leaves the
 * stream as it was (the xenbus device drops a message it refuses whole). */
static int send_all(struct rc_xs *xs, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = xs->is_socket ? send(xs->fd, xs->buf + done, len - done, MSG_NOSIGNAL)
					  : write(xs->fd, xs->buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_ready(xs->fd, POLLOUT);
			continue;
		}
		if (n <= 0) {
			int r = n < 0 ? neg_errno() : -EPIPE;

			return done ? broken(xs, r) : r;
		}
		done += (size_t)n;
	}
	return 0;
}

static int read_all(struct rc_xs *xs, void *data, size_t len)
{
	unsigned char *p = data;

	while (len) {
		ssize_t n = read(xs->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_ready(xs->fd, POLLIN);
			continue;
		}
		if (n < 0)
			return neg_errno();
		if (n == 0)
			return -EPIPE; /* closed, possibly mid-message */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* xenstored's errors travel as their names (xs_wire.h's xsd_errors;
 * oxenstored adds EQUOTA). */
static int error_code(const unsigned char *payload, uint32_t len)
{
	static const struct {
		const char *name;
		int code;
	} names[] = {
		{ "ENOENT", ENOENT },	  { "EACCES", EACCES }, { "EINVAL", EINVAL }, { "EEXIST", EEXIST },
		{ "EISDIR", EISDIR },	  { "ENOSPC", ENOSPC }, { "EIO", EIO },	      { "ENOTEMPTY", ENOTEMPTY },
		{ "ENOSYS", ENOSYS },	  { "EROFS", EROFS },	{ "EBUSY", EBUSY },   { "EAGAIN", EAGAIN },
		{ "EQUOTA", EDQUOT },	  { "E2BIG", E2BIG },	{ "ENOMEM", ENOMEM }, { "EISCONN", EISCONN },
		{ "EPERM", EPERM },
	};
	char name[16];
	size_t n = 0;

	/* Up to the first NUL, which the payload need not contain. */
	while (n < len && payload[n])
		n++;
	if (n == 0 || n >= sizeof(name))
		return -EIO;
	memcpy(name, payload, n);
	name[n] = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0)
			return -names[i].code;
	return -EIO;
}

/* Sends one request (payload a then b) and reads its reply into
 * xs->buf + HDR. The reply's payload length, or -errno. */
static int talk(struct rc_xs *xs, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct xs_header h;
	unsigned skipped = 0;
	int r;

	if (!xs)
		return -EINVAL;
	if (xs->broken)
		return xs->broken;
	if (alen > RC_XS_PAYLOAD_MAX || blen > RC_XS_PAYLOAD_MAX - alen)
		return -E2BIG;
	h = (struct xs_header){ .type = type, .req_id = ++xs->req_id, .tx_id = 0, .len = (uint32_t)(alen + blen) };
	memcpy(xs->buf, &h, HDR);
	if (alen)
		memcpy(xs->buf + HDR, a, alen);
	if (blen)
		memcpy(xs->buf + HDR + alen, b, blen);
	if ((r = send_all(xs, HDR + alen + blen)) < 0)
		return r;

	for (;;) {
		if ((r = read_all(xs, &h, HDR)) < 0)
			return broken(xs, r);
		/* Checked before a byte of the payload is read: the buffer
		 * holds exactly the protocol's maximum. */
		if (h.len > RC_XS_PAYLOAD_MAX)
			return broken(xs, -EPROTO);
		if ((r = read_all(xs, xs->buf + HDR, h.len)) < 0)
			return broken(xs, r);
		if (h.type != XS_WATCH_EVENT)
			break;
		if (++skipped > MAX_SKIPPED_EVENTS)
			return broken(xs, -EPROTO);
	}
	/* Requests are serialised, so anything but this id is not a reply to
	 * us and the stream can no longer be trusted to line up. */
	if (h.req_id != xs->req_id)
		return broken(xs, -EPROTO);
	if (h.type == XS_ERROR)
		return error_code(xs->buf + HDR, h.len);
	if (h.type != type)
		return broken(xs, -EPROTO);
	return (int)h.len;
}

int rc_xs_open_fd(struct rc_xs **out, int fd)
{
	struct rc_xs *xs;
	struct stat st;

	*out = NULL;
	if (fd < 0)
		return -EBADF;
	if (fstat(fd, &st) < 0) {
		int r = neg_errno();

		close(fd);
		return r;
	}
	xs = calloc(1, sizeof(*xs));
	if (!xs) {
		close(fd);
		return -ENOMEM;
	}
	xs->fd = fd;
	xs->is_socket = S_ISSOCK(st.st_mode);
	*out = xs;
	return 0;
}

static int open_path(struct rc_xs **out, const char *path)
{
	struct stat st;
	int fd, r;

	if (stat(path, &st) < 0)
		return neg_errno();
	if (S_ISSOCK(st.st_mode)) {
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		size_t n = strlen(path);

		if (n >= sizeof(addr.sun_path))
			return -ENAMETOOLONG;
		memcpy(addr.sun_path, path, n + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return neg_errno();
		if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
			r = neg_errno();
			close(fd);
			return r;
		}
	} else {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return neg_errno();
	}
	return rc_xs_open_fd(out, fd);
}

int rc_xs_open(struct rc_xs **out)
{
	/* xenstored's socket where it runs (dom0; a socket left behind by a
	 * stopped daemon refuses the connection and the device is next), else
	 * the kernel's device, which every Linux domain has: libxenstore's
	 * order. */
	static const char *const paths[] = {
		"/run/xenstored/socket",
		"/var/run/xenstored/socket",
		"/dev/xen/xenbus",
		"/proc/xen/xenbus", /* xenfs, older kernels */
	};
	const char *env = getenv("XENSTORED_PATH");
	int first = -ENOENT;

	*out = NULL;
	if (env && *env)
		return open_path(out, env);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int r = open_path(out, paths[i]);

		if (r == 0)
			return 0;
		/* What went wrong with a path that exists (EACCES when not
		 * root, ECONNREFUSED) says more than the absent ones. */
		if (first == -ENOENT)
			first = r;
	}
	return first;
}

void rc_xs_close(struct rc_xs *xs)
{
	if (!xs)
		return;
	close(xs->fd);
	free(xs);
}

int rc_xs_read(struct rc_xs *xs, const char *path, char *out, size_t cap, size_t *len)
{
	int n;

	if (!path || (!out && cap))
		return -EINVAL;
	n = talk(xs, XS_READ, path, strlen(path) + 1, NULL, 0);
	if (n < 0)
		return n;
	if ((size_t)n >= cap)
		return -E2BIG;
	memcpy(out, xs->buf + HDR, (size_t)n);
	out[n] = 0;
	if (len)
		*len = (size_t)n;
	return 0;
}

int rc_xs_write(struct rc_xs *xs, const char *path, const void *value, size_t len)
{
	int n;

	if (!path || (!value && len))
		return -EINVAL;
	/* The value is not NUL-terminated on the wire: its length is what is
	 * left of the payload after the path. */
	n = talk(xs, XS_WRITE, path, strlen(path) + 1, value, len);
	return n < 0 ? n : 0;
}

int rc_xs_rm(struct rc_xs *xs, const char *path)
{
	int n;

	if (!path)
		return -EINVAL;
	n = talk(xs, XS_RM, path, strlen(path) + 1, NULL, 0);
	return n < 0 ? n : 0;
}

int rc_xs_set_perms(struct rc_xs *xs, const char *path, const struct rc_xs_perm *perms, unsigned count)
{
	static const char letter[] = { 'n', 'r', 'w', 'b' };
	char list[RC_XS_PAYLOAD_MAX];
	size_t used = 0;
	int n;

	if (!path || !perms || count == 0)
		return -EINVAL;
	for (unsigned i = 0; i < count; i++) {
		if (perms[i].perms > RC_XS_PERM_BOTH)
			return -EINVAL;
		/* "r5" and its NUL; snprintf counts without the NUL. */
		n = snprintf(list + used, sizeof(list) - used, "%c%u", letter[perms[i].perms],
			     (unsigned)perms[i].domid);
		if (n < 0 || (size_t)n + 1 > sizeof(list) - used)
			return -E2BIG;
		used += (size_t)n + 1;
	}
	n = talk(xs, XS_SET_PERMS, path, strlen(path) + 1, list, used);
	return n < 0 ? n : 0;
}

int rc_xs_get_domain_path(struct rc_xs *xs, uint16_t domid, char *out, size_t cap)
{
	char id[8];
	size_t len = 0;
	int n;

	if (!out && cap)
		return -EINVAL;
	snprintf(id, sizeof(id), "%u", (unsigned)domid);
	n = talk(xs, XS_GET_DOMAIN_PATH, id, strlen(id) + 1, NULL, 0);
	if (n < 0)
		return n;
	/* The path, NUL-terminated by xenstored; cut at the first NUL. */
	while (len < (size_t)n && xs->buf[HDR + len])
		len++;
	if (len >= cap)
		return -E2BIG;
	memcpy(out, xs->buf + HDR, len);
	out[len] = 0;
	return 0;
}
