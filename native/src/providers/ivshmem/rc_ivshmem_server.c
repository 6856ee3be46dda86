/* SPDX-License-Identifier: MIT */
/*
 * ivshmem server: see rc_ivshmem_server.h for the protocol and the rules.
 */
#define _GNU_SOURCE
#include "rc_ivshmem_server.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct rc_ivshmem_server_peer {
	int sock;
	uint32_t id;
	bool announced;   /* the others were told it connected */
	bool doomed;      /* disconnect at the next sweep */
	int eventfds[RC_IVSHMEM_SERVER_MAX_VECTORS];
};

struct rc_ivshmem_server {
	int listen_fd;
	int shm_fd;
	uint64_t shm_size;
	uint32_t vectors;
	uint32_t max_peers;
	uint32_t next_id;
	uint32_t npeers;
	bool accept_paused;   /* out of descriptors: leave the backlog for one wait */
	struct rc_ivshmem_server_peer *peers;  /* npeers used, max_peers allocated */
	struct pollfd *pollfds;                 /* 1 + max_peers                   */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

static void server_log(struct rc_ivshmem_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void server_log(struct rc_ivshmem_server *s, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, line);
}

int rc_ivshmem_parse_size(const char *text, uint64_t *size)
{
	char *end;
	unsigned long long value;
	unsigned shift = 0;

	if (!text || *text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return -EINVAL;
	}
	if (*end != '\0' || value > (UINT64_MAX >> shift))
		return -EINVAL;
	*size = (uint64_t)value << shift;
	return 0;
}

int rc_ivshmem_server_open_shm(const char *path_or_size, uint64_t create_size)
{
	struct stat st;
	uint64_t size;
	int fd;

	if (!path_or_size)
		return -EINVAL;
	if (!strchr(path_or_size, '/')) {
		if (rc_ivshmem_parse_size(path_or_size, &size) < 0 || size == 0)
			return -EINVAL;
		fd = memfd_create("ringcast-ivshmem", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)size) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		return fd;
	}
	fd = open(path_or_size, O_RDWR | O_CLOEXEC | (create_size ? O_CREAT : 0), 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (st.st_size == 0 && create_size &&
				   ftruncate(fd, (off_t)create_size) < 0)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Never blocks: a peer whose socket buffer is full is not reading and is
 * dropped by the caller. */
int rc_ivshmem_server_send(int sock, int64_t value, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	uint64_t wire = htole64((uint64_t)value);
	struct iovec iov = { .iov_base = &wire, .iov_len = sizeof(wire) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(wire) ? 0 : -EIO; /* a short write: the stream is broken */
}

/* Tells `to` that `about` connected: its id once per vector, each with the
 * eventfd that rings `about` on that vector. */
static int send_peer_vectors(const struct rc_ivshmem_server *s, const struct rc_ivshmem_server_peer *to,
			     const struct rc_ivshmem_server_peer *about)
{
	for (uint32_t v = 0; v < s->vectors; v++) {
		int r = rc_ivshmem_server_send(to->sock, about->id, about->eventfds[v]);

		if (r < 0)
			return r;
	}
	return 0;
}

static void free_peer(struct rc_ivshmem_server_peer *p, uint32_t vectors)
{
	for (uint32_t v = 0; v < vectors; v++)
		if (p->eventfds[v] >= 0)
			close(p->eventfds[v]);
	if (p->sock >= 0)
		close(p->sock);
	p->sock = -1;
}

static bool id_in_use(const struct rc_ivshmem_server *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->npeers; i++)
		if (s->peers[i].id == id)
			return true;
	return false;
}

static uint32_t take_id(struct rc_ivshmem_server *s)
{
	/* npeers < max_peers <= 65536, so a free id exists. */
	while (id_in_use(s, s->next_id))
		s->next_id = (s->next_id + 1) & 0xffffu;
	uint32_t id = s->next_id;

	s->next_id = (s->next_id + 1) & 0xffffu;
	return id;
}

/* Removes doomed peers and tells the rest; telling may doom more. */
static void sweep(struct rc_ivshmem_server *s)
{
	bool again = true;

	while (again) {
		again = false;
		for (uint32_t i = 0; i < s->npeers;) {
			struct rc_ivshmem_server_peer gone = s->peers[i];

			if (!gone.doomed) {
				i++;
				continue;
			}
			s->peers[i] = s->peers[--s->npeers];
			free_peer(&gone, s->vectors);
			server_log(s, "peer %u disconnected (%u left)", gone.id, s->npeers);
			if (!gone.announced)
				continue;
			for (uint32_t j = 0; j < s->npeers; j++) {
				struct rc_ivshmem_server_peer *p = &s->peers[j];

				if (p->doomed)
					continue;
				if (rc_ivshmem_server_send(p->sock, gone.id, -1) < 0) {
					server_log(s, "peer %u: cannot be told of %u's departure: dropping it",
						   p->id, gone.id);
					p->doomed = true;
					again = true;
				}
			}
			i = 0; /* the array was reordered */
		}
	}
}

static void accept_peer(struct rc_ivshmem_server *s)
{
	struct rc_ivshmem_server_peer *p;
	int sock, r;

	sock = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (sock < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			server_log(s, "accept: %s", strerror(errno));
		/* The connection stays queued and the socket readable: without
		 * a pause, poll would return at once, forever. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			s->accept_paused = true;
		return;
	}
	if (s->npeers >= s->max_peers) {
		server_log(s, "refusing a connection: %u peers already", s->npeers);
		close(sock);
		return;
	}
	p = &s->peers[s->npeers];
	memset(p, 0, sizeof(*p));
	p->sock = sock;
	for (uint32_t v = 0; v < RC_IVSHMEM_SERVER_MAX_VECTORS; v++)
		p->eventfds[v] = -1;
	for (uint32_t v = 0; v < s->vectors; v++) {
		p->eventfds[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->eventfds[v] < 0) {
			server_log(s, "eventfd: %s: refusing a connection", strerror(errno));
			free_peer(p, s->vectors);
			return;
		}
	}
	p->id = take_id(s);
	s->npeers++;

	/* The newcomer first learns everything; the others hear of it only
	 * once that went through, so a peer that hangs up at once costs them
	 * nothing. */
	r = rc_ivshmem_server_send(sock, RC_IVSHMEM_PROTOCOL_VERSION, -1);
	if (!r)
		r = rc_ivshmem_server_send(sock, p->id, -1);
	if (!r)
		r = rc_ivshmem_server_send(sock, -1, s->shm_fd);
	for (uint32_t i = 0; !r && i + 1 < s->npeers; i++)
		r = send_peer_vectors(s, p, &s->peers[i]);
	if (!r)
		r = send_peer_vectors(s, p, p);
	if (r) {
		server_log(s, "peer %u: setup failed (%s): dropping it", p->id, strerror(-r));
		p->doomed = true;
		sweep(s);
		return;
	}
	p->announced = true;
	server_log(s, "peer %u connected (%u peers)", p->id, s->npeers);
	for (uint32_t i = 0; i + 1 < s->npeers; i++) {
		struct rc_ivshmem_server_peer *other = &s->peers[i];

		if (send_peer_vectors(s, other, p) < 0) {
			server_log(s, "peer %u: cannot be told of %u: dropping it", other->id, p->id);
			other->doomed = true;
		}
	}
	sweep(s);
}

/* Peers never send: input is a hang-up, an error or a protocol violation. */
static void peer_input(struct rc_ivshmem_server *s, struct rc_ivshmem_server_peer *p, short revents)
{
	char buf[64];
	ssize_t n;

	if (revents & POLLIN) {
		n = recv(p->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0)
			server_log(s, "peer %u sent %zd bytes: the protocol is one way: dropping it", p->id, n);
	} else if (revents & POLLERR) {
		server_log(s, "peer %u: socket error: dropping it", p->id);
	}
	p->doomed = true;
}

int rc_ivshmem_server_run(struct rc_ivshmem_server *s, int timeout_ms)
{
	uint32_t n = s->npeers;
	int r;

	bool paused = s->accept_paused;

	/* After an accept failed for lack of resources, wait at most 100 ms
	 * without the listening socket (a peer leaving frees a descriptor). */
	s->accept_paused = false;
	s->pollfds[0] = (struct pollfd){ .fd = paused ? -1 : s->listen_fd, .events = POLLIN };
	for (uint32_t i = 0; i < n; i++)
		s->pollfds[1 + i] = (struct pollfd){ .fd = s->peers[i].sock, .events = POLLIN };
	if (paused && (timeout_ms < 0 || timeout_ms > 100))
		timeout_ms = 100;
	r = poll(s->pollfds, 1 + n, timeout_ms);
	if (r < 0)
		return -errno;
	/* Peer events first, found by socket (a sweep reorders the array):
	 * mark them all, then sweep once. */
	for (uint32_t i = 0; i < n; i++) {
		short revents = s->pollfds[1 + i].revents;

		if (!revents)
			continue;
		for (uint32_t j = 0; j < s->npeers; j++)
			if (s->peers[j].sock == s->pollfds[1 + i].fd) {
				peer_input(s, &s->peers[j], revents);
				break;
			}
	}
	sweep(s);
	if (s->pollfds[0].revents & POLLIN)
		accept_peer(s);
	return 0;
}

int rc_ivshmem_server_open(const struct rc_ivshmem_server_config *config, struct rc_ivshmem_server **out)
{
	struct rc_ivshmem_server *s = NULL;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int err;

	*out = NULL;
	if (!config || config->shm_fd < 0)
		return -EINVAL;
	if (!config->socket_path || !*config->socket_path ||
	    strlen(config->socket_path) >= sizeof(addr.sun_path) ||
	    config->vectors == 0 || config->vectors > RC_IVSHMEM_SERVER_MAX_VECTORS ||
	    config->max_peers > RC_IVSHMEM_SERVER_MAX_PEERS) {
		err = -EINVAL;
		goto fail;
	}
	if (fstat(config->shm_fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	/* QEMU maps it as a PCI BAR: a power of two, at least a page. */
	if (st.st_size < 4096 || (st.st_size & (st.st_size - 1))) {
		err = -EINVAL;
		goto fail;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto fail;
	}
	s->listen_fd = -1;
	s->shm_fd = config->shm_fd;
	s->shm_size = (uint64_t)st.st_size;
	s->vectors = config->vectors;
	s->max_peers = config->max_peers ? config->max_peers : RC_IVSHMEM_SERVER_DEFAULT_PEERS;
	s->log = config->log;
	s->log_ctx = config->log_ctx;
	s->peers = calloc(s->max_peers, sizeof(*s->peers));
	s->pollfds = calloc(1 + (size_t)s->max_peers, sizeof(*s->pollfds));
	if (!s->peers || !s->pollfds) {
		err = -ENOMEM;
		goto fail_server;
	}
	strcpy(s->socket_path, config->socket_path);
	strcpy(addr.sun_path, config->socket_path);

	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0) {
		err = -errno;
		goto fail_server;
	}
	/* Replace a socket left by a server that died; refuse any other file. */
	if (lstat(s->socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			err = -EEXIST;
			goto fail_server;
		}
		unlink(s->socket_path);
	}
	if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(s->listen_fd, 16) < 0) {
		err = -errno;
		goto fail_server;
	}
	*out = s;
	return 0;

fail_server:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s->peers);
	free(s->pollfds);
	free(s);
fail:
	if (config)
		close(config->shm_fd);
	return err;
}

uint32_t rc_ivshmem_server_peers(const struct rc_ivshmem_server *s)
{
	return s->npeers;
}

uint64_t rc_ivshmem_server_shm_size(const struct rc_ivshmem_server *s)
{
	return s->shm_size;
}

void rc_ivshmem_server_close(struct rc_ivshmem_server *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->npeers; i++)
		free_peer(&s->peers[i], s->vectors);
	close(s->listen_fd);
	unlink(s->socket_path);
	close(s->shm_fd);
	free(s->peers);
	free(s->pollfds);
	free(s);
}
