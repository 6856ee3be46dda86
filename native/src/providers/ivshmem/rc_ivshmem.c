// SPDX-License-Identifier: MIT
/*
 * The ivshmem region provider: ring and ack pages in files that QEMU's
 * memory-backend-file shares with guests, doorbells through an ivshmem
 * server (host) or the guest driver (kmod/), and the attach handshake in
 * shared memory for subscribers that cannot receive descriptors.
 * docs/protocol.md, "Attach through shared memory", is the normative text;
 * barrier labels [V1].. are in docs/memory-ordering.md's ivshmem table.
 */
#define _GNU_SOURCE
#include "rc_ivshmem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rc_join.h"
#include "ringcast_barrier.h"

static int neg_errno(void) { return errno ? -errno : -EIO; }

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool is_power_of_two(uint64_t v) { return v && !(v & (v - 1)); }

/* ======================================================================== */
/* ivshmem server peer                                                       */

static void remote_clear(struct rc_ivshmem_remote *r)
{
	for (uint32_t v = 0; v < RC_IVSHMEM_MAX_VECTORS; v++)
		if (v < r->vectors)
			close_fd(&r->fds[v]);
	r->id = RC_IVSHMEM_NO_PEER;
	r->vectors = 0;
}

static void peer_reset(struct rc_ivshmem_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	peer->sock = -1;
	peer->own_id = RC_IVSHMEM_NO_PEER;
	for (uint32_t i = 0; i < RC_IVSHMEM_MAX_PEERS; i++)
		peer->remotes[i].id = RC_IVSHMEM_NO_PEER;
}

const struct rc_ivshmem_remote *rc_ivshmem_peer_find(const struct rc_ivshmem_peer *peer, uint32_t id)
{
	if (id == RC_IVSHMEM_NO_PEER)
		return NULL;
	for (uint32_t i = 0; i < RC_IVSHMEM_MAX_PEERS; i++)
		if (peer->remotes[i].id == id)
			return &peer->remotes[i];
	return NULL;
}

/* A doorbell from the server is used only once it is a non-blocking
 * eventfd (the flag lives in the shared file description: the server sets
 * it too, so setting it here changes nothing for anyone else). */
static int adopt_eventfd(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return neg_errno();
	return rc_eventfd_verify(fd);
}

/* One 8-byte message, with the descriptor that came with it (or -1).
 * Takes ownership of fd. Returns 1 when a peer left (*left set), 0, or
 * -EPROTO for a message out of order. */
static int peer_message(struct rc_ivshmem_peer *peer, int64_t value, int fd, uint32_t *left)
{
	if (!peer->version_seen) {
		/* IVSHMEM_PROTOCOL_VERSION is 0 and carries no descriptor. */
		if (value != 0 || fd >= 0)
			goto bad;
		peer->version_seen = true;
		return 0;
	}
	if (peer->own_id == RC_IVSHMEM_NO_PEER) {
		if (value < 0 || value > RC_IVSHMEM_MAX_PEER_ID || fd >= 0)
			goto bad;
		peer->own_id = (uint32_t)value;
		peer->highest_id = (uint32_t)value;
		return 0;
	}
	if (!peer->shm_seen) {
		/* The doorbell device's own memory: the ring and the ack pages come
		 * from memory-backend-file, so it is not ours to map. */
		if (value != -1 || fd < 0)
			goto bad;
		peer->shm_seen = true;
		close(fd);
		return 0;
	}
	if (value < 0 || value > RC_IVSHMEM_MAX_PEER_ID)
		goto bad;
	if (fd < 0) { /* a peer disconnected */
		struct rc_ivshmem_remote *r = (struct rc_ivshmem_remote *)rc_ivshmem_peer_find(peer, (uint32_t)value);

		if (!r)
			return 0;
		remote_clear(r);
		*left = (uint32_t)value;
		return 1;
	}
	if (adopt_eventfd(fd) < 0)
		goto bad;
	if ((uint32_t)value > peer->highest_id)
		peer->highest_id = (uint32_t)value;
	if ((uint32_t)value == peer->own_id) {
		if (peer->own_vectors < RC_IVSHMEM_MAX_VECTORS)
			peer->own_fds[peer->own_vectors++] = fd;
		else
			close(fd);
		return 0;
	}
	{
		struct rc_ivshmem_remote *r = (struct rc_ivshmem_remote *)rc_ivshmem_peer_find(peer, (uint32_t)value);

		for (uint32_t i = 0; !r && i < RC_IVSHMEM_MAX_PEERS; i++) {
			if (peer->remotes[i].id == RC_IVSHMEM_NO_PEER) {
				r = &peer->remotes[i];
				r->id = (uint32_t)value;
				r->vectors = 0;
			}
		}
		if (!r) {
			peer->dropped_peers++;
			close(fd);
			return 0;
		}
		if (r->vectors < RC_IVSHMEM_MAX_VECTORS)
			r->fds[r->vectors++] = fd;
		else
			close(fd);
	}
	return 0;
bad:
	if (fd >= 0)
		close(fd);
	return -EPROTO;
}

/* Reads at most one message (or its rest). 1: one was handled, 0: nothing
 * pending, -errno. */
static int peer_read_one(struct rc_ivshmem_peer *peer, uint32_t *left, bool *peer_left)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	/* Never read past the current message: a descriptor belongs to the
	 * message whose first byte it came with. */
	struct iovec iov = { .iov_base = peer->partial + peer->partial_len,
			     .iov_len = sizeof(peer->partial) - peer->partial_len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *cmsg;
	int fd = -1, r;
	ssize_t n;
	int64_t value;

	*peer_left = false;
	do {
		n = recvmsg(peer->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : neg_errno();
	if (n == 0)
		return -ECONNRESET;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		int count = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *fds = (int *)CMSG_DATA(cmsg);

		for (int i = 0; i < count; i++) {
			if (fd < 0 && peer->partial_len == 0)
				fd = fds[i];
			else
				close(fds[i]); /* the protocol sends one per message */
		}
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	peer->partial_len += (uint32_t)n;
	if (peer->partial_len < sizeof(peer->partial)) {
		if (fd >= 0) { /* would be lost across the split: refuse */
			close(fd);
			return -EPROTO;
		}
		return 1;
	}
	peer->partial_len = 0;
	memcpy(&value, peer->partial, sizeof(value)); /* little-endian, as the spec says */
	r = peer_message(peer, value, fd, left);
	if (r < 0)
		return r;
	*peer_left = r == 1;
	return 1;
}

int rc_ivshmem_peer_service(struct rc_ivshmem_peer *peer, uint32_t *left, int max_left)
{
	int count = 0;

	if (peer->sock < 0 || peer->lost)
		return -ENOTCONN;
	for (;;) {
		uint32_t id = RC_IVSHMEM_NO_PEER;
		bool gone;
		int r = peer_read_one(peer, &id, &gone);

		if (r <= 0)
			return r < 0 ? r : count;
		if (gone && count < max_left)
			left[count++] = id;
	}
}

int rc_ivshmem_peer_adopt(struct rc_ivshmem_peer *peer, int sock, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	peer_reset(peer);
	peer->sock = sock;
	while (peer->own_id == RC_IVSHMEM_NO_PEER || !peer->shm_seen || peer->own_vectors == 0) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		uint64_t now = now_ms();
		uint32_t ignored[1];
		int r;

		if (now >= deadline) {
			rc_ivshmem_peer_close(peer);
			return -ETIMEDOUT;
		}
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno != EINTR) {
			r = neg_errno();
			rc_ivshmem_peer_close(peer);
			return r;
		}
		/* One message at a time: stop as soon as the greeting is whole,
		 * whatever follows (even the end) is for the next service call. */
		do {
			bool gone;

			r = peer_read_one(peer, ignored, &gone);
		} while (r > 0 && (peer->own_id == RC_IVSHMEM_NO_PEER || !peer->shm_seen || peer->own_vectors == 0));
		if (r < 0) {
			rc_ivshmem_peer_close(peer);
			return r;
		}
	}
	return 0;
}

int rc_ivshmem_peer_connect(struct rc_ivshmem_peer *peer, const char *path, int timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock, r;

	peer_reset(peer);
	if (!path || strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return neg_errno();
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr))) {
		r = neg_errno();
		close(sock);
		return r;
	}
	return rc_ivshmem_peer_adopt(peer, sock, timeout_ms);
}

void rc_ivshmem_peer_close(struct rc_ivshmem_peer *peer)
{
	close_fd(&peer->sock);
	for (uint32_t v = 0; v < peer->own_vectors; v++)
		close_fd(&peer->own_fds[v]);
	peer->own_vectors = 0;
	for (uint32_t i = 0; i < RC_IVSHMEM_MAX_PEERS; i++)
		if (peer->remotes[i].id != RC_IVSHMEM_NO_PEER)
			remote_clear(&peer->remotes[i]);
	peer->own_id = RC_IVSHMEM_NO_PEER;
}

/* ======================================================================== */
/* host side                                                                 */

uint64_t rc_ivshmem_region_size(uint64_t capacity)
{
	uint64_t size = RC_PAGE_SIZE;

	if (!is_power_of_two(capacity) || capacity < RC_MIN_CAPACITY || capacity > RC_MAX_CAPACITY)
		return 0;
	while (size < rc_ring_size(capacity))
		size <<= 1;
	return size;
}

static int file_create(const char *path, uint64_t size, unsigned mode, struct rc_mapping *map)
{
	int fd, r;

	struct stat st;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode ? mode : 0600);
	if (fd < 0)
		return neg_errno();
	/* A file someone else owns (planted in a shared /dev/shm) could be
	 * shrunk under us by its owner: SIGBUS. Only our own, and a regular one. */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		r = fstat(fd, &st) ? neg_errno() : -EPERM;
		close(fd);
		return r;
	}
	/* Never through size 0: a QEMU still mapping the file of an earlier
	 * bus would take SIGBUS. Stale bytes are harmless: the descriptor and
	 * ack pages are formatted afresh, and nobody reads records above head. */
	if (ftruncate(fd, (off_t)size)) {
		r = neg_errno();
		close(fd);
		return r;
	}
	r = rc_map(fd, size, 1, map);
	close(fd); /* the mapping keeps the file */
	return r;
}

int rc_ivshmem_ring_file_create(const char *path, uint64_t size, unsigned mode, struct rc_mapping *map)
{
	if (!path || !is_power_of_two(size) || size < RC_DESC_SIZE + RC_MIN_CAPACITY)
		return -EINVAL;
	return file_create(path, size, mode, map);
}

/* The path QEMU opens: /proc/PID/fd/FD reopens our memfd itself (a magic
 * link), seals and all. */
static int ring_link_target(int ring_fd, char *target, size_t size)
{
	int n = snprintf(target, size, "/proc/%d/fd/%d", (int)getpid(), ring_fd);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int rc_ivshmem_ring_link(const char *path, int ring_fd)
{
	char target[64], temporary[PATH_MAX];
	int r, n;

	if (!path || ring_fd < 0)
		return -EINVAL;
	if ((r = ring_link_target(ring_fd, target, sizeof(target))) < 0)
		return r;
	n = snprintf(temporary, sizeof(temporary), "%s.%d.link", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(temporary))
		return -ENAMETOOLONG;
	/* symlink() never follows or reuses what is there; rename() then swaps
	 * the name in one step, so a QEMU that opens `path` meanwhile finds the
	 * old file or our ring, never nothing. A QEMU still mapping the old file
	 * keeps it (its inode lives on, unshrunk). In a sticky /dev/shm neither
	 * step can touch another user's file. */
	if (symlink(target, temporary) < 0) {
		if (errno != EEXIST || unlink(temporary) < 0 || symlink(target, temporary) < 0)
			return neg_errno();
	}
	if (rename(temporary, path) < 0) {
		r = neg_errno();
		unlink(temporary);
		return r;
	}
	return 0;
}

void rc_ivshmem_ring_unlink(const char *path, int ring_fd)
{
	char target[64], found[64];
	ssize_t n;

	if (!path || ring_fd < 0 || ring_link_target(ring_fd, target, sizeof(target)) < 0)
		return;
	n = readlink(path, found, sizeof(found) - 1);
	if (n < 0)
		return;
	found[n] = '\0';
	/* Only our own link: a later bus may have taken the name since. */
	if (strcmp(found, target) == 0)
		unlink(path);
}

int rc_ivshmem_host_init(struct rc_ivshmem_host *host, struct rc_publisher *pub,
			 const struct rc_ivshmem_guest_config *guests, uint32_t count, unsigned mode)
{
	int r;

	memset(host, 0, sizeof(*host));
	peer_reset(&host->server);
	if (!pub || !pub->desc || count == 0 || count > RC_MAX_SUBSCRIBERS)
		return -EINVAL;
	host->pub = pub;
	host->unknown_peer_grace_ms = 1000;
	host->failed_guest = count;
	for (uint32_t i = 0; i < count; i++) {
		struct rc_ivshmem_host_guest *g = &host->guest[i];

		if (!guests[i].ack_path || (guests[i].peer_id != RC_IVSHMEM_NO_PEER &&
					    guests[i].peer_id > RC_IVSHMEM_MAX_PEER_ID)) {
			rc_ivshmem_host_close(host);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			/* Two guests bound to one peer id could take each other's slot. */
			if (guests[j].peer_id != RC_IVSHMEM_NO_PEER && guests[j].peer_id == guests[i].peer_id) {
				rc_ivshmem_host_close(host);
				return -EINVAL;
			}
		}
		if ((r = file_create(guests[i].ack_path, RC_ACK_PAGE_SIZE, mode, &g->ack)) < 0) {
			rc_ivshmem_host_close(host);
			host->failed_guest = i;
			return r;
		}
		host->guests = i + 1;
		/* Slot i is guest i's, joined or not: on a mixed bus no local
		 * process may take it. */
		pub->reserved_slots |= 1ULL << i;
		/* Generation 0: not attached yet; the guest reads slot and bus id
		 * from here to find its join answer. */
		rc_ack_page_format(g->ack.addr, pub, i, 0);
		((struct rc_ack_page *)g->ack.addr)->ack = 0;
		g->configured_peer = guests[i].peer_id;
		g->bound_peer = RC_IVSHMEM_NO_PEER;
	}
	return 0;
}

int rc_ivshmem_host_connect(struct rc_ivshmem_host *host, const char *path, int sock, int timeout_ms)
{
	struct rc_ring_desc *desc = host->pub->desc;
	int r = sock >= 0 ? rc_ivshmem_peer_adopt(&host->server, sock, timeout_ms)
			  : rc_ivshmem_peer_connect(&host->server, path, timeout_ms);

	if (r < 0)
		return r;
	rc_store_relaxed(&desc->ivshmem_host_peer, host->server.own_id);
	/* [V1] host peer id before the flag that says it is valid; pairs with
	 * the guest's acquire load of ivshmem_flags. */
	rc_store_release(&desc->ivshmem_flags, (uint32_t)RC_IVSHMEM_HOST_PEER_KNOWN);
	return 0;
}

void rc_ivshmem_host_backoff(struct rc_ivshmem_host *host, uint32_t index, uint32_t wait_ms)
{
	if (index < host->guests)
		rc_join_backoff(&host->guest[index].join, now_ms(), wait_ms);
}

void rc_ivshmem_host_heartbeat(struct rc_ivshmem_host *host)
{
	struct rc_ring_desc *desc = host->pub->desc;

	/* Relaxed: only its movement matters, it orders nothing. */
	rc_store_relaxed(&desc->publisher_heartbeat, rc_load_relaxed(&desc->publisher_heartbeat) + 1);
}

int rc_ivshmem_host_server_fd(const struct rc_ivshmem_host *host) { return host->server.sock; }

int rc_ivshmem_host_doorbell_fd(const struct rc_ivshmem_host *host)
{
	return host->server.own_vectors > RC_IVSHMEM_VECTOR ? host->server.own_fds[RC_IVSHMEM_VECTOR] : -1;
}

/* Whether `peer` may join as guest `index`. */
static bool peer_acceptable(const struct rc_ivshmem_host *host, uint32_t index, uint32_t peer_id)
{
	const struct rc_ivshmem_remote *remote = rc_ivshmem_peer_find(&host->server, peer_id);

	if (!remote || remote->vectors <= RC_IVSHMEM_VECTOR || peer_id == host->server.own_id)
		return false;
	if (host->guest[index].configured_peer != RC_IVSHMEM_NO_PEER)
		return host->guest[index].configured_peer == peer_id;
	for (uint32_t j = 0; j < host->guests; j++) {
		if (j == index)
			continue;
		/* A peer configured for another guest, or bound to one that still
		 * holds its slot, is not this guest's. */
		if (host->guest[j].configured_peer == peer_id)
			return false;
		if (host->guest[j].bound_peer == peer_id && host->pub->slots[j].state != RC_SLOT_FREE)
			return false;
	}
	return true;
}

/* ---- the provider's part of the shared join handshake (rc_join.h) ------- */

static void join_ring(void *ctx, uint32_t index, uint32_t peer_id)
{
	struct rc_ivshmem_host *host = ctx;
	const struct rc_ivshmem_remote *remote;

	if (peer_id == RC_JOIN_LEAVE)
		peer_id = host->guest[index].bound_peer;
	/* Only a peer the server knows: the id in a request is hostile. It
	 * sleeps on its doorbell for the answer. */
	remote = rc_ivshmem_peer_find(&host->server, peer_id);
	if (remote && remote->vectors > RC_IVSHMEM_VECTOR)
		rc_eventfd_ring(remote->fds[RC_IVSHMEM_VECTOR]);
}

static bool join_peer_acceptable(void *ctx, uint32_t index, uint32_t peer_id)
{
	return peer_acceptable(ctx, index, peer_id);
}

static int join_bind(void *ctx, uint32_t index, uint32_t peer_id)
{
	struct rc_ivshmem_host *host = ctx;

	host->guest[index].bound_peer = peer_id;
	/* peer_acceptable found it with this vector just now. */
	return rc_ivshmem_peer_find(&host->server, peer_id)->fds[RC_IVSHMEM_VECTOR];
}

static void join_unbind(void *ctx, uint32_t index)
{
	struct rc_ivshmem_host *host = ctx;

	host->guest[index].bound_peer = RC_IVSHMEM_NO_PEER;
}

/* A guest may ring before the server told us of it (the server greets a
 * newcomer before it announces it): a peer id above every id announced so
 * far waits for its announcement (which wakes us) instead of being refused.
 * Bounded, so a made-up id is refused after the grace. */
static uint32_t join_defer(void *ctx, uint32_t index, uint32_t peer_id, uint64_t now)
{
	struct rc_ivshmem_host *host = ctx;
	struct rc_ivshmem_host_guest *g = &host->guest[index];

	if (peer_id <= RC_IVSHMEM_MAX_PEER_ID && peer_id > host->server.highest_id && !host->server.lost) {
		if (g->deferred_since_ms == 0)
			g->deferred_since_ms = now;
		if (now - g->deferred_since_ms < host->unknown_peer_grace_ms)
			return (uint32_t)(host->unknown_peer_grace_ms - (now - g->deferred_since_ms));
	}
	g->deferred_since_ms = 0;
	return 0;
}

static struct rc_join_provider join_provider(struct rc_ivshmem_host *host)
{
	/* No `alive`: a guest's death is its peer leaving the server. */
	return (struct rc_join_provider){
		.ctx = host,
		.ring = join_ring,
		.peer_acceptable = join_peer_acceptable,
		.bind = join_bind,
		.unbind = join_unbind,
		.defer = join_defer,
	};
}

/* One handshake step of guest `index`, as a bit in the service result. */
static void report(struct rc_ivshmem_service_result *result, uint32_t index, const struct rc_join_result *res)
{
	switch (res->outcome) {
	case RC_JOIN_OUTCOME_ACCEPTED:
		result->accepted |= 1ULL << index;
		break;
	case RC_JOIN_OUTCOME_REFUSED:
		result->rejected |= 1ULL << index;
		break;
	case RC_JOIN_OUTCOME_LEFT:
		result->left |= 1ULL << index;
		break;
	case RC_JOIN_OUTCOME_DEAD:
		result->dead |= 1ULL << index;
		break;
	case RC_JOIN_OUTCOME_DEFERRED:
		if (result->retry_ms == 0 || res->retry_ms < result->retry_ms)
			result->retry_ms = res->retry_ms;
		break;
	default:
		break;
	}
}

int rc_ivshmem_host_service(struct rc_ivshmem_host *host, struct rc_ivshmem_service_result *result)
{
	const struct rc_join_provider provider = join_provider(host);
	uint32_t left[RC_IVSHMEM_MAX_PEERS];
	uint64_t now;
	int status = 0, n;

	memset(result, 0, sizeof(*result));
	now = now_ms();
	if (host->server.sock >= 0 && !host->server.lost) {
		n = rc_ivshmem_peer_service(&host->server, left, (int)RC_IVSHMEM_MAX_PEERS);
		if (n < 0) {
			status = n;
			/* Without the server no doorbell is reliable, and every
			 * eventfd closes with the connection: each bound guest is as
			 * good as gone. */
			n = 0;
			for (uint32_t i = 0; i < host->guests; i++)
				if (host->guest[i].bound_peer != RC_IVSHMEM_NO_PEER)
					left[n++] = host->guest[i].bound_peer;
			/* The remotes' eventfds go now; the socket and our own
			 * doorbell stay open until rc_ivshmem_host_close, because the
			 * caller may still be watching them (an event loop must stop
			 * watching before a descriptor closes). */
			host->server.lost = true;
			for (uint32_t i = 0; i < RC_IVSHMEM_MAX_PEERS; i++)
				if (host->server.remotes[i].id != RC_IVSHMEM_NO_PEER)
					remote_clear(&host->server.remotes[i]);
		}
		for (int k = 0; k < n; k++) {
			if (status == 0) /* lost the server: every remote went, status says so */
				result->peers_gone[result->peers_gone_count++] = left[k];
			for (uint32_t i = 0; i < host->guests; i++) {
				struct rc_join_result res;

				if (host->guest[i].bound_peer != left[k])
					continue;
				/* Its eventfd is closed already: rc_join_death never
				 * rings it again. A leave it asked for first is a
				 * leave (the guest leaves, then its peer goes). */
				rc_join_death(host->pub, i, host->guest[i].ack.addr, &host->guest[i].join, &provider, now,
					      &res);
				report(result, i, &res);
			}
		}
	}
	if (rc_ivshmem_host_doorbell_fd(host) >= 0)
		rc_eventfd_drain(rc_ivshmem_host_doorbell_fd(host));
	/* Every guest is looked at, rung or not: a ring can be lost (sent
	 * before we connected), and looking costs one load per guest. */
	for (uint32_t i = 0; i < host->guests; i++) {
		struct rc_join_result res;

		rc_join_serve(host->pub, i, host->guest[i].ack.addr, &host->guest[i].join, &provider, now, &res);
		report(result, i, &res);
	}
	return status;
}

void rc_ivshmem_host_close(struct rc_ivshmem_host *host)
{
	for (uint32_t i = 0; i < host->guests; i++) {
		if (host->pub && host->pub->slots[i].state != RC_SLOT_FREE)
			host->pub->slots[i].doorbell_fd = -1; /* closed with the server below */
		if (host->pub)
			host->pub->reserved_slots &= ~(1ULL << i);
		rc_unmap(&host->guest[i].ack);
	}
	host->guests = 0;
	rc_ivshmem_peer_close(&host->server);
}

/* ======================================================================== */
/* guest side                                                                */

static void guest_reset(struct rc_ivshmem_guest *g)
{
	memset(g, 0, sizeof(*g));
	g->ring_fd = g->ack_fd = g->doorbell_dev_fd = -1;
	g->wait_fd = g->host_fd = -1;
	g->own_peer = g->host_peer = RC_IVSHMEM_NO_PEER;
}

/* Checks what a guest must know before asking: the ring is a ring of a
 * size we mapped, the ack page belongs to it. Never trusts a size beyond
 * what was mapped. */
static int guest_check_region(struct rc_ivshmem_guest *g)
{
	const struct rc_ring_desc *desc = g->ring.addr;
	const struct rc_ack_page *page = g->ack.addr;
	uint64_t capacity = desc->capacity;

	if (desc->magic != RC_RING_MAGIC || desc->layout_version != RC_LAYOUT_VERSION ||
	    desc->desc_size != RC_DESC_SIZE || !is_power_of_two(capacity) || capacity < RC_MIN_CAPACITY ||
	    capacity > RC_MAX_CAPACITY || rc_ring_size(capacity) > g->ring.size)
		return RC_EINVAL;
	if (page->magic != RC_ACK_MAGIC || page->bus_id != desc->bus_id ||
	    page->layout_version != RC_LAYOUT_VERSION || page->slot >= RC_MAX_SUBSCRIBERS)
		return RC_EINVAL;
	return RC_OK;
}

/* A ring whose publisher ended (a ring file left behind by a closed or
 * aborted bus) answers no join: say so now instead of after the join timeout.
 * A publisher that starts on the same file formats it OPEN again ([P6]
 * acquire, as a reader's end of stream). */
static int guest_check_publisher_open(const struct rc_ring_desc *desc)
{
	uint32_t state = rc_load_acquire(&desc->publisher_state);

	if (state == RC_PUB_CLOSED)
		return RC_ECLOSED;
	if (state == RC_PUB_ABORTED)
		return RC_EABORTED;
	return RC_OK;
}

/* The one place where devices and files differ for doorbells: a descriptor
 * that rings `peer` on vector RC_IVSHMEM_VECTOR (devices: RINGCAST_IVSHMEM_NO_PEER
 * gives one that only counts our own interrupts). */
static int open_peer_doorbell(struct rc_ivshmem_guest *g, uint32_t peer)
{
	if (g->files) {
		/* The server hands everyone the same eventfd per (peer, vector):
		 * ours to wait on, the host's to ring. */
		const struct rc_ivshmem_remote *remote = rc_ivshmem_peer_find(g->server, peer);
		int fd;

		if (!remote || remote->vectors <= RC_IVSHMEM_VECTOR)
			return -ENOENT;
		fd = fcntl(remote->fds[RC_IVSHMEM_VECTOR], F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? neg_errno() : fd;
	} else {
		/* peer RINGCAST_IVSHMEM_NO_PEER: receive-only, counts our vector. */
		struct ringcast_ivshmem_doorbell req = {
			.vector = RC_IVSHMEM_VECTOR,
			.peer = peer,
			.flags = RINGCAST_IVSHMEM_FD_CLOEXEC | RINGCAST_IVSHMEM_FD_NONBLOCK,
		};
		int fd = ioctl(g->doorbell_dev_fd, RINGCAST_IVSHMEM_DOORBELL_FD, &req);

		return fd < 0 ? neg_errno() : fd;
	}
}

static int map_device(const char *path, int flags, uint64_t min_size, struct rc_mapping *map, int *fd_out,
		      struct ringcast_ivshmem_info *info)
{
	int fd = open(path, flags | O_CLOEXEC), r;

	if (fd < 0)
		return neg_errno();
	memset(info, 0, sizeof(*info));
	if (ioctl(fd, RINGCAST_IVSHMEM_INFO, info) < 0) {
		r = neg_errno();
		close(fd);
		return r;
	}
	if (min_size) {
		if (info->size < min_size || (uint64_t)(size_t)info->size != info->size) {
			close(fd);
			return -EMSGSIZE;
		}
		if ((r = rc_map(fd, info->size, (flags & O_ACCMODE) == O_RDWR, map)) < 0) {
			close(fd);
			return r;
		}
	}
	*fd_out = fd;
	return 0;
}

int rc_ivshmem_guest_open_devices(struct rc_ivshmem_guest *g, const char *ring_dev, const char *ack_dev,
				  const char *doorbell_dev)
{
	struct ringcast_ivshmem_info info;
	int r;

	guest_reset(g);
	if ((r = map_device(ring_dev, O_RDONLY, RC_DESC_SIZE + RC_MIN_CAPACITY, &g->ring, &g->ring_fd, &info)) < 0 ||
	    (r = map_device(ack_dev, O_RDWR, RC_ACK_PAGE_SIZE, &g->ack, &g->ack_fd, &info)) < 0 ||
	    (r = map_device(doorbell_dev, O_RDWR, 0, NULL, &g->doorbell_dev_fd, &info)) < 0)
		goto fail;
	if (!(info.flags & RINGCAST_IVSHMEM_F_DOORBELL) || info.peer_id > RC_IVSHMEM_MAX_PEER_ID ||
	    info.vectors <= RC_IVSHMEM_VECTOR) {
		r = -ENODEV; /* an ivshmem-plain device, or no vector to be woken on */
		goto fail;
	}
	g->own_peer = info.peer_id;
	if ((r = open_peer_doorbell(g, RINGCAST_IVSHMEM_NO_PEER)) < 0)
		goto fail;
	g->wait_fd = r;
	return 0;
fail:
	rc_ivshmem_guest_close(g);
	return r;
}

static int map_file(const char *path, int flags, uint64_t min_size, struct rc_mapping *map)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO planted at the path would block open() for ever;
	 * it is refused below like any file that is not a regular one. */
	int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK), r;

	if (fd < 0)
		return neg_errno();
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < min_size) {
		r = fstat(fd, &st) ? neg_errno() : !S_ISREG(st.st_mode) ? -EINVAL : -EMSGSIZE;
		close(fd);
		return r;
	}
	r = rc_map(fd, (uint64_t)st.st_size, (flags & O_ACCMODE) == O_RDWR, map);
	close(fd);
	return r;
}

int rc_ivshmem_guest_open_files(struct rc_ivshmem_guest *g, const char *ring_path, const char *ack_path,
				const char *server_path, int server_sock)
{
	int r;

	guest_reset(g);
	g->files = true;
	if ((r = map_file(ring_path, O_RDONLY, RC_DESC_SIZE + RC_MIN_CAPACITY, &g->ring)) < 0 ||
	    (r = map_file(ack_path, O_RDWR, RC_ACK_PAGE_SIZE, &g->ack)) < 0)
		goto fail;
	g->server = calloc(1, sizeof(*g->server));
	if (!g->server) {
		r = -ENOMEM;
		goto fail;
	}
	r = server_sock >= 0 ? rc_ivshmem_peer_adopt(g->server, server_sock, 5000)
			     : rc_ivshmem_peer_connect(g->server, server_path, 5000);
	if (r < 0)
		goto fail;
	g->own_peer = g->server->own_id;
	g->wait_fd = fcntl(g->server->own_fds[RC_IVSHMEM_VECTOR], F_DUPFD_CLOEXEC, 0);
	if (g->wait_fd < 0) {
		r = neg_errno();
		goto fail;
	}
	return 0;
fail:
	rc_ivshmem_guest_close(g);
	return r;
}

int rc_ivshmem_guest_join_begin(struct rc_ivshmem_guest *g)
{
	const struct rc_ring_desc *desc = g->ring.addr;
	struct rc_ack_page *page = g->ack.addr;
	uint32_t host_peer;
	int r;

	if ((r = guest_check_region(g)) != RC_OK)
		return r;
	if ((r = guest_check_publisher_open(desc)) != RC_OK)
		return r;
	/* [V1] acquire: the host's peer id is valid once the flag is. */
	if (!(rc_load_acquire(&desc->ivshmem_flags) & RC_IVSHMEM_HOST_PEER_KNOWN))
		return RC_EAGAIN;
	host_peer = rc_load_relaxed(&desc->ivshmem_host_peer);
	if (host_peer > RC_IVSHMEM_MAX_PEER_ID)
		return RC_EINVAL;
	if (g->files) {
		uint32_t left[4];

		/* Learn of a publisher that connected after us. A server that
		 * went away leaves the eventfds we have working: go on with them. */
		if (g->server->sock >= 0 && rc_ivshmem_peer_service(g->server, left, 4) < 0)
			close_fd(&g->server->sock);
	}
	if (host_peer != g->host_peer || g->host_fd < 0) {
		close_fd(&g->host_fd);
		g->host_peer = RC_IVSHMEM_NO_PEER;
		if ((r = open_peer_doorbell(g, host_peer)) < 0)
			return r == -ENOENT ? RC_EAGAIN : r;
		g->host_fd = r;
		g->host_peer = host_peer;
	}
	if (g->join_request == 0) {
		g->joined = false;
		/* guest_check_region checked page->slot; the host wrote it. */
		g->join_request = rc_join_ask(page, g->ring.addr, page->slot, g->own_peer, false);
	}
	/* The eventfd write is a system call: the request is visible first. */
	rc_eventfd_ring(g->host_fd);
	return RC_OK;
}

int rc_ivshmem_guest_join_poll(struct rc_ivshmem_guest *g)
{
	const struct rc_ring_desc *desc = g->ring.addr;
	const struct rc_ack_page *page = g->ack.addr;
	uint64_t generation;
	int r;

	if (g->join_request == 0)
		return RC_ESTATE;
	if ((r = guest_check_region(g)) != RC_OK)
		return r;
	if ((r = rc_join_answered(g->ring.addr, page->slot, g->join_request, &g->last_verdict, &generation)) == RC_EAGAIN &&
	    (r = guest_check_publisher_open(desc)) == RC_OK)
		return RC_EAGAIN;
	if (r != RC_OK)
		return r;
	g->join_request = 0;
	if (g->last_verdict != RC_JOIN_ACCEPTED)
		return RC_EINVAL;
	r = rc_join_attach(&g->sub, g->ring.addr, rc_ring_size(desc->capacity), g->ack.addr, page->slot, generation,
			   g->host_fd);
	if (r != RC_OK)
		return r;
	g->joined = true;
	return RC_OK;
}

int rc_ivshmem_guest_join(struct rc_ivshmem_guest *g, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	uint64_t next_ring = 0;
	int r = RC_EAGAIN;

	g->join_request = 0;
	for (;;) {
		struct pollfd pfd = { .fd = g->wait_fd, .events = POLLIN };
		uint64_t now = now_ms();

		if (now >= next_ring) {
			/* Until the host published its id, and then to repeat a
			 * ring the host may have missed. */
			r = rc_ivshmem_guest_join_begin(g);
			if (r != RC_OK && r != RC_EAGAIN)
				return r;
			next_ring = now + 100;
		}
		if (g->join_request) {
			r = rc_ivshmem_guest_join_poll(g);
			if (r != RC_EAGAIN)
				return r;
		}
		if (now >= deadline)
			return -ETIMEDOUT;
		/* Woken by the host's answer; else look again when it is time to
		 * ring again. */
		poll(&pfd, 1, (int)((deadline < next_ring ? deadline : next_ring) - now));
		rc_eventfd_drain(g->wait_fd);
	}
}

int rc_ivshmem_guest_wait(struct rc_ivshmem_guest *g, int timeout_ms)
{
	struct pollfd pfd = { .fd = g->wait_fd, .events = POLLIN };
	int r;

	if (!g->joined)
		return -ENOTCONN;
	if (!rc_sub_prepare_wait(&g->sub))
		return 1;
	r = poll(&pfd, 1, timeout_ms);
	rc_sub_end_wait(&g->sub);
	if (r < 0)
		return errno == EINTR ? 0 : neg_errno();
	if (r > 0)
		rc_eventfd_drain(g->wait_fd);
	return r > 0 ? 1 : 0;
}

bool rc_ivshmem_guest_publisher_gone(struct rc_ivshmem_guest *g, uint64_t now_ms, uint64_t timeout_ms)
{
	const struct rc_ring_desc *desc = g->ring.addr;
	uint64_t beat;

	if (!desc || rc_load_acquire(&desc->publisher_state) != RC_PUB_OPEN)
		return false; /* closed in order: the stream ends, nobody died */
	beat = rc_load_relaxed(&desc->publisher_heartbeat);
	if (beat != g->publisher_beat || g->publisher_beat_ms == 0) {
		g->publisher_beat = beat;
		g->publisher_beat_ms = now_ms ? now_ms : 1;
		return false;
	}
	return now_ms - g->publisher_beat_ms >= timeout_ms;
}

int rc_ivshmem_guest_leave(struct rc_ivshmem_guest *g)
{
	struct rc_ack_page *page = g->ack.addr;

	if (!g->joined || g->host_fd < 0)
		return RC_ESTATE;
	g->joined = false;
	g->join_request = 0; /* nobody waits for this answer */
	rc_join_ask(page, g->ring.addr, page->slot, RC_JOIN_LEAVE, false);
	rc_eventfd_ring(g->host_fd);
	return RC_OK;
}

void rc_ivshmem_guest_close(struct rc_ivshmem_guest *g)
{
	rc_unmap(&g->ring);
	rc_unmap(&g->ack);
	close_fd(&g->ring_fd);
	close_fd(&g->ack_fd);
	close_fd(&g->doorbell_dev_fd);
	close_fd(&g->wait_fd);
	close_fd(&g->host_fd);
	if (g->server) {
		rc_ivshmem_peer_close(g->server);
		free(g->server);
		g->server = NULL;
	}
	g->joined = false;
}
