// SPDX-License-Identifier: MIT
/*
 * The ivshmem server against a client written from QEMU's protocol text
 * (ivshmem_spec_client.h): the setup sequence, connect/disconnect
 * notifications, shared eventfds, and hostile clients (garbage, hanging up
 * mid-setup, never reading, one too many). The server runs in this process, pumped by the test, so every
 * step is deterministic.
 */
#define _GNU_SOURCE
#include "rc_test.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ivshmem_spec_client.h"
#include "rc_ivshmem_server.h"

#define VECTORS 2
#define SHM_SIZE 65536

static char dir[64], sock_path[128];
static struct rc_ivshmem_server *srv;

struct msg {
	int64_t value;
	int fd;
};

static int shm_of(uint64_t size)
{
	int fd = memfd_create("test", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)size) == 0);
	return fd;
}

static void open_server(uint32_t vectors, uint32_t max_peers)
{
	struct rc_ivshmem_server_config cfg = {
		.socket_path = sock_path, .shm_fd = shm_of(SHM_SIZE), .vectors = vectors, .max_peers = max_peers,
	};

	CHECK_EQ(rc_ivshmem_server_open(&cfg, &srv), 0);
}

static void pump(void)
{
	for (int i = 0; i < 8; i++)
		CHECK_EQ(rc_ivshmem_server_run(srv, 0), 0);
}

static int client(void)
{
	int fd = ivshmem_spec_connect(sock_path);

	CHECK(fd >= 0);
	return fd;
}

/* 1: a message; 0: EOF; -1: nothing pending. */
static int recv_msg(int sock, struct msg *m)
{
	int r = ivshmem_spec_recv(sock, &m->value, &m->fd, 0);

	CHECK(r != IVSHMEM_SPEC_BROKEN);
	return r;
}

static struct msg expect(int sock, int64_t value, int with_fd)
{
	struct msg m;

	CHECK_EQ(recv_msg(sock, &m), 1);
	CHECK_EQ(m.value, value);
	CHECK_EQ(m.fd >= 0, with_fd);
	return m;
}

static void expect_nothing(int sock)
{
	struct msg m;

	CHECK_EQ(recv_msg(sock, &m), -1);
}

/* Setup as the spec lists it; fills own[] and returns the id. */
static int64_t setup(int sock, const int64_t *others, int nothers, int *own, int **remote)
{
	struct msg m;
	struct stat st;
	int64_t id;

	expect(sock, 0, 0);
	CHECK_EQ(recv_msg(sock, &m), 1);
	id = m.value;
	CHECK(id >= 0 && id <= 0xffff && m.fd < 0);
	m = expect(sock, -1, 1);
	CHECK(fstat(m.fd, &st) == 0 && st.st_size == SHM_SIZE);
	close(m.fd);
	for (int p = 0; p < nothers; p++)
		for (int v = 0; v < VECTORS; v++) {
			m = expect(sock, others[p], 1);
			if (remote)
				remote[p][v] = m.fd;
			else
				close(m.fd);
		}
	for (int v = 0; v < VECTORS; v++)
		own[v] = expect(sock, id, 1).fd;
	return id;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static void server_start(void)
{
	snprintf(dir, sizeof(dir), "%s/rc-ivshmem-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(sock_path, sizeof(sock_path), "%s/server.sock", dir);
}

static void server_stop(void)
{
	rc_ivshmem_server_close(srv);
	srv = NULL;
	CHECK(access(sock_path, F_OK) != 0); /* close removes the socket */
	rmdir(dir);
}

static void setup_notifications_and_shared_eventfds(void)
{
	int a_own[VECTORS], b_own[VECTORS], a_to_b[VECTORS], b_to_a0[VECTORS];
	int *b_remote[1] = { b_to_a0 };
	int64_t a_id, b_id;
	uint64_t count;
	int a, b;

	server_start();
	open_server(VECTORS, 0);
	a = client();
	pump();
	a_id = setup(a, NULL, 0, a_own, NULL);
	CHECK_EQ(a_id, 0);
	b = client();
	pump();
	b_id = setup(b, &a_id, 1, b_own, b_remote);
	CHECK_EQ(b_id, 1);
	for (int v = 0; v < VECTORS; v++)
		a_to_b[v] = expect(a, b_id, 1).fd;
	expect_nothing(a);
	CHECK_EQ(rc_ivshmem_server_peers(srv), 2);

	/* B rings A's vector 1: A's own eventfd 1 (and only it) counts it. */
	count = 1;
	CHECK(write(b_to_a0[1], &count, 8) == 8);
	CHECK(read(a_own[0], &count, 8) < 0 && errno == EAGAIN);
	CHECK(read(a_own[1], &count, 8) == 8 && count == 1);
	/* And A rings B's vector 0. */
	count = 3;
	CHECK(write(a_to_b[0], &count, 8) == 8);
	CHECK(read(b_own[0], &count, 8) == 8 && count == 3);

	/* A leaves: B hears A's id without a descriptor. */
	close(a);
	pump();
	expect(b, a_id, 0);
	expect_nothing(b);
	CHECK_EQ(rc_ivshmem_server_peers(srv), 1);

	close(b);
	pump();
	CHECK_EQ(rc_ivshmem_server_peers(srv), 0);
	close_all(a_own, VECTORS);
	close_all(b_own, VECTORS);
	close_all(a_to_b, VECTORS);
	close_all(b_to_a0, VECTORS);
	server_stop();
}

static void garbage_and_early_hangups_are_dropped(void)
{
	int good_own[VECTORS], g_own[VECTORS];
	int64_t good_id, g_id, next_id;
	int good, g, quitter;
	struct msg m;

	server_start();
	open_server(VECTORS, 0);
	good = client();
	pump();
	good_id = setup(good, NULL, 0, good_own, NULL);

	/* A client that talks: dropped, and the others told. */
	g = client();
	pump();
	g_id = setup(g, &good_id, 1, g_own, NULL);
	for (int v = 0; v < VECTORS; v++)
		close(expect(good, g_id, 1).fd);
	CHECK(write(g, "hello?", 6) == 6);
	pump();
	CHECK_EQ(recv_msg(g, &m), 0); /* EOF */
	expect(good, g_id, 0);
	CHECK_EQ(rc_ivshmem_server_peers(srv), 1);
	close(g);
	close_all(g_own, VECTORS);

	/* A client that hangs up before its setup was sent. */
	quitter = client();
	close(quitter);
	pump();
	/* Either never announced, or announced and then gone: never half. */
	while (recv_msg(good, &m) == 1) {
		if (m.fd >= 0)
			close(m.fd);
	}
	CHECK_EQ(rc_ivshmem_server_peers(srv), 1);

	/* Ids keep growing: a new peer never inherits a departed one's id. */
	g = client();
	pump();
	next_id = setup(g, &good_id, 1, g_own, NULL);
	CHECK(next_id > g_id);
	close(g);
	close(good);
	pump();
	close_all(good_own, VECTORS);
	close_all(g_own, VECTORS);
	server_stop();
}

static void peers_beyond_the_limit_are_refused(void)
{
	int own1[VECTORS], own2[VECTORS];
	int64_t id1;
	int c1, c2, c3;
	struct msg m;

	server_start();
	open_server(VECTORS, 2);
	c1 = client();
	pump();
	id1 = setup(c1, NULL, 0, own1, NULL);
	c2 = client();
	pump();
	setup(c2, &id1, 1, own2, NULL);
	c3 = client();
	pump();
	CHECK_EQ(recv_msg(c3, &m), 0); /* closed without a word */
	CHECK_EQ(rc_ivshmem_server_peers(srv), 2);
	close(c1);
	close(c2);
	close(c3);
	pump();
	close_all(own1, VECTORS);
	close_all(own2, VECTORS);
	server_stop();
}

static void a_client_that_never_reads_is_dropped(void)
{
	int lazy, c;
	struct msg m;
	int messages = 0;

	server_start();
	open_server(RC_IVSHMEM_SERVER_MAX_VECTORS, 0);
	lazy = client();
	pump();
	/* Every newcomer costs the lazy peer 64 messages with descriptors. */
	for (int i = 0; i < 200 && rc_ivshmem_server_peers(srv) > 0; i++) {
		c = client();
		pump();
		close(c);
		pump();
	}
	CHECK_EQ(rc_ivshmem_server_peers(srv), 0);
	/* What it got before being dropped ends in EOF, not in a half message. */
	while (recv_msg(lazy, &m) == 1) {
		messages++;
		if (m.fd >= 0)
			close(m.fd);
	}
	CHECK(messages > 3 + (int)RC_IVSHMEM_SERVER_MAX_VECTORS);
	CHECK_EQ(recv_msg(lazy, &m), 0);
	close(lazy);
	server_stop();
}

static void bad_configs_are_refused(void)
{
	struct rc_ivshmem_server_config cfg = { .vectors = 1 };
	uint64_t size;
	int fd;

	server_start();
	cfg.socket_path = sock_path;
	cfg.shm_fd = shm_of(3 * 4096); /* not a power of two */
	CHECK_EQ(rc_ivshmem_server_open(&cfg, &srv), -EINVAL);
	cfg.shm_fd = shm_of(2048); /* below a page */
	CHECK_EQ(rc_ivshmem_server_open(&cfg, &srv), -EINVAL);
	cfg.shm_fd = shm_of(4096);
	cfg.vectors = 0;
	CHECK_EQ(rc_ivshmem_server_open(&cfg, &srv), -EINVAL);
	cfg.shm_fd = shm_of(4096);
	cfg.vectors = RC_IVSHMEM_SERVER_MAX_VECTORS + 1;
	CHECK_EQ(rc_ivshmem_server_open(&cfg, &srv), -EINVAL);
	/* A regular file where the socket should go is not ours to remove. */
	fd = open(sock_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	cfg.shm_fd = shm_of(4096);
	cfg.vectors = 1;
	CHECK_EQ(rc_ivshmem_server_open(&cfg, &srv), -EEXIST);
	CHECK(access(sock_path, F_OK) == 0);
	unlink(sock_path);
	rmdir(dir);

	CHECK(rc_ivshmem_parse_size("64K", &size) == 0 && size == 65536);
	CHECK(rc_ivshmem_parse_size("4M", &size) == 0 && size == 4u << 20);
	CHECK(rc_ivshmem_parse_size("4096", &size) == 0 && size == 4096);
	CHECK_EQ(rc_ivshmem_parse_size("4MB", &size), -EINVAL);
	CHECK_EQ(rc_ivshmem_parse_size("-1", &size), -EINVAL);
	CHECK_EQ(rc_ivshmem_parse_size("99999999999999999999G", &size), -EINVAL);
	CHECK_EQ(rc_ivshmem_server_open_shm("12Q", 0), -EINVAL);
	fd = rc_ivshmem_server_open_shm("64K", 0);
	CHECK(fd >= 0);
	close(fd);
}

int main(void)
{
	RUN(setup_notifications_and_shared_eventfds);
	RUN(garbage_and_early_hangups_are_dropped);
	RUN(peers_beyond_the_limit_are_refused);
	RUN(a_client_that_never_reads_is_dropped);
	RUN(bad_configs_are_refused);
	return rc_test_done("test_ivshmem_server");
}
