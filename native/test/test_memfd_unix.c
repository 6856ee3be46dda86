// SPDX-License-Identifier: MIT
/*
 * rc_memfd and rc_unix: sealed memfds that subscribers can only map read-only, the
 * verification every received descriptor passes before it is mapped,
 * eventfd doorbells, and the SOCK_SEQPACKET control socket (SCM_RIGHTS,
 * SO_PEERCRED, truncation, stale and busy socket paths). A kernel without
 * memfd sealing or Unix sockets skips the cases that need them, runs the
 * rest, and exits 77 (skipped) with what it skipped on its last line.
 */
#define _GNU_SOURCE
#include "rc_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rc_memfd.h"
#include "rc_unix.h"

#define CAP RC_TEST_CAPACITY
#define RING_SIZE rc_ring_size(CAP)
#define ALL_RING_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)

static char dir[64];
static char path[128];

/* What this kernel lacks skips only the cases that need it: the others
 * still run (the socket and credential checks need no memfd sealing). */
static bool memfd_sealing = true;
static int skipped_cases;
static char skipped_why[160];

static void skip_case(const char *why, int err)
{
	printf("skip: %s (%s)\n", why, strerror(err < 0 ? -err : err));
	if (!skipped_cases++)
		snprintf(skipped_why, sizeof(skipped_why), "%s (%s)", why, strerror(err < 0 ? -err : err));
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	CHECK(d != NULL);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void ring_memfd_is_sealed(void)
{
	struct rc_mapping map = { 0 }, ro_map = { 0 }, other = { 0 };
	int fd, ro, r;
	void *p;

	r = rc_ring_memfd_create(RING_SIZE, &fd, &ro, &map);
	if (r == -ENOSYS || r == -EINVAL || r == -EPERM) {
		memfd_sealing = false;
		skip_case("memfd sealing unavailable", r);
		return;
	}
	CHECK_EQ(r, 0);
	CHECK(fd >= 0 && ro >= 0);
	CHECK_EQ(map.size, RING_SIZE);
	CHECK(fcntl(ro, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(fcntl(fd, F_GET_SEALS), ALL_RING_SEALS);

	/* what a subscriber checks before mapping */
	CHECK_EQ(rc_memfd_verify(ro, RING_SIZE, F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL), 0);
	CHECK_EQ(rc_memfd_verify(fd, RING_SIZE, 0), 0);
	CHECK_EQ(rc_memfd_verify(ro, RING_SIZE + RC_PAGE_SIZE, 0), -EMSGSIZE);
	CHECK_EQ(rc_memfd_verify(ro, RING_SIZE - 1, 0), -EMSGSIZE);
	CHECK_EQ(rc_memfd_verify(ro, 0, 0), -EMSGSIZE);

	/* the read-only descriptor cannot give a writable shared mapping */
	p = mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	CHECK(p == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	CHECK(rc_map(ro, RING_SIZE, 1, &other) < 0);
	/* nor can the writable one, any more (F_SEAL_FUTURE_WRITE) */
	CHECK_EQ(rc_map(fd, RING_SIZE, 1, &other), -EPERM);
	CHECK(other.addr == NULL);

	CHECK_EQ(rc_map(ro, RING_SIZE, 0, &ro_map), 0);
	CHECK(mprotect(ro_map.addr, RING_SIZE, PROT_READ | PROT_WRITE) != 0);
	/* the publisher's mapping from before the seal still writes */
	((uint8_t *)map.addr)[RING_SIZE - 1] = 0x5a;
	CHECK_EQ(((volatile uint8_t *)ro_map.addr)[RING_SIZE - 1], 0x5a);

	/* no shrinking (SIGBUS for readers), no growing, no more seals */
	CHECK(ftruncate(fd, RING_SIZE / 2) != 0);
	CHECK_EQ(errno, EPERM);
	CHECK(ftruncate(fd, RING_SIZE * 2) != 0);
	CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) != 0);

	rc_unmap(&ro_map);
	CHECK(ro_map.addr == NULL);
	rc_unmap(&map);
	rc_unmap(&map); /* twice is harmless */
	close(fd);
	close(ro);
}

static void verify_rejects_what_is_not_a_sealed_memfd(void)
{
	FILE *tmp = tmpfile();
	int pipefd[2], plain, unsealed, r;

	CHECK(tmp != NULL);
	CHECK_EQ(ftruncate(fileno(tmp), RING_SIZE), 0);
	r = rc_memfd_verify(fileno(tmp), RING_SIZE, 0);
	CHECK(r == -EBADF || r == -EPERM);
	fclose(tmp);

	CHECK_EQ(pipe(pipefd), 0);
	CHECK_EQ(rc_memfd_verify(pipefd[0], RING_SIZE, 0), -EBADF);
	close(pipefd[0]);
	close(pipefd[1]);
	CHECK_EQ(rc_memfd_verify(pipefd[0], RING_SIZE, 0), -EBADF); /* closed */

	/* a memfd without sealing: it could shrink under us */
	plain = memfd_create("rc-test-plain", MFD_CLOEXEC);
	CHECK(plain >= 0);
	CHECK_EQ(ftruncate(plain, RING_SIZE), 0);
	CHECK_EQ(rc_memfd_verify(plain, RING_SIZE, 0), -EPERM);
	close(plain);

	/* sealable but not sealed, then sealed too little */
	unsealed = memfd_create("rc-test-unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(unsealed >= 0);
	CHECK_EQ(ftruncate(unsealed, RING_SIZE), 0);
	CHECK_EQ(rc_memfd_verify(unsealed, RING_SIZE, 0), -EPERM);
	CHECK_EQ(fcntl(unsealed, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	CHECK_EQ(rc_memfd_verify(unsealed, RING_SIZE, 0), 0);
	CHECK_EQ(rc_memfd_verify(unsealed, RING_SIZE, F_SEAL_GROW), -EPERM);
	close(unsealed);
}

/* The whole same-host data path over real shared memory: the publisher
 * formats through its writable mapping, the subscriber maps the ring
 * read-only and its own ack page writable, the publisher sees the ack
 * page read-only. */
static void pub_sub_over_memfds(void)
{
	struct rc_mapping ring = { 0 }, sub_ring = { 0 }, ack = { 0 }, pub_ack = { 0 }, sub_ack = { 0 };
	struct rc_publisher pub;
	struct rc_subscriber sub;
	struct rc_entry e[8];
	uint8_t out[256];
	uint64_t generation;
	int ring_fd, ro_fd, ack_fd;

	CHECK_EQ(rc_ring_memfd_create(RING_SIZE, &ring_fd, &ro_fd, &ring), 0);
	CHECK_STATUS(rc_ring_format(ring.addr, CAP, 0, RC_POLICY_BLOCK, 99, (uint32_t)getpid()), RC_OK);
	CHECK_STATUS(rc_pub_init(&pub, ring.addr, ring.size), RC_OK);

	CHECK_EQ(rc_ack_memfd_create(RC_ACK_PAGE_SIZE, &ack_fd, &ack), 0);
	CHECK_EQ(rc_memfd_verify(ack_fd, RC_ACK_PAGE_SIZE, F_SEAL_GROW), 0);
	rc_ack_page_format(ack.addr, &pub, 0, 1);
	CHECK_EQ(rc_map_protect_readonly(&ack), 0);
	pub_ack = ack;
	CHECK_STATUS(rc_pub_attach(&pub, 0, pub_ack.addr, -1, 0, 0, &generation), RC_OK);

	/* the subscriber's side, from the descriptors alone */
	CHECK_EQ(rc_memfd_verify(ro_fd, RING_SIZE, F_SEAL_GROW | F_SEAL_FUTURE_WRITE), 0);
	CHECK_EQ(rc_map(ro_fd, RING_SIZE, 0, &sub_ring), 0);
	CHECK_EQ(rc_map(ack_fd, RC_ACK_PAGE_SIZE, 1, &sub_ack), 0);
	CHECK_STATUS(rc_sub_init(&sub, sub_ring.addr, sub_ring.size, sub_ack.addr, sub_ack.size, -1), RC_OK);

	for (uint64_t s = 0; s < 3; s++)
		rc_test_publish(&pub, s, 50 * s);
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 8), 3);
	CHECK(rc_test_matches(out + e[2].offset, 2, 0, 100));
	rc_pub_refresh(&pub);
	CHECK_EQ(pub.slots[0].acked, pub.head);
	CHECK_EQ(rc_test_mirror(&pub, 0)->ack, pub.head);

	rc_unmap(&sub_ring);
	rc_unmap(&sub_ack);
	rc_unmap(&pub_ack);
	rc_unmap(&ring);
	close(ring_fd);
	close(ro_fd);
	close(ack_fd);
}

static void eventfd_doorbell(void)
{
	int fd = rc_eventfd_create();

	CHECK(fd >= 0);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK_EQ(rc_eventfd_drain(fd), 0);
	CHECK_EQ(rc_eventfd_ring(fd), 0);
	CHECK_EQ(rc_eventfd_ring(fd), 0);
	CHECK_EQ(rc_eventfd_ring(fd), 0);
	CHECK_EQ(rc_eventfd_drain(fd), 3);
	CHECK_EQ(rc_eventfd_drain(fd), 0);
	close(fd);
}

static void socket_path(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/rc-test-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/bus.sock", dir);
}

static void unix_control_socket(void)
{
	struct rc_peer peer;
	struct rc_mapping ring = { 0 };
	int lfd, cfd, sfd, ring_fd, ro_fd, bell, fds[RC_MAX_FDS_PER_MESSAGE], nfds, r, before;
	char buf[128], big[100];
	int many[RC_MAX_FDS_PER_MESSAGE + 1];

	lfd = rc_unix_listen(path, 8);
	if (lfd == -EAFNOSUPPORT || lfd == -EPERM || lfd == -EACCES) {
		skip_case("unix sockets unavailable", lfd);
		return;
	}
	CHECK(lfd >= 0);
	CHECK_EQ(rc_unix_listen(path, 8), -EADDRINUSE); /* a live bus answers */
	/* the probe that found it live left a connection that is already
	 * closed: the bus sees an immediate end of stream */
	sfd = rc_unix_accept(lfd, &peer);
	CHECK(sfd >= 0);
	CHECK_EQ(rc_unix_recv(sfd, buf, sizeof(buf), fds, &nfds), 0);
	close(sfd);
	CHECK_EQ(rc_unix_accept(lfd, &peer), -EAGAIN);

	cfd = rc_unix_connect(path);
	CHECK(cfd >= 0);
	CHECK(fcntl(cfd, F_GETFL) & O_NONBLOCK);
	sfd = rc_unix_accept(lfd, &peer);
	CHECK(sfd >= 0);
	CHECK_EQ(peer.pid, getpid());
	CHECK_EQ(peer.uid, getuid());
	CHECK_EQ(peer.gid, getgid());
	memset(&peer, 0, sizeof(peer));
	CHECK_EQ(rc_peer_credentials(cfd, &peer), 0);
	CHECK_EQ(peer.pid, getpid());
	CHECK_EQ(peer.uid, getuid());

	CHECK_EQ(rc_unix_recv(cfd, buf, sizeof(buf), fds, &nfds), -EAGAIN);

	/* two descriptors: the read-only ring (without memfd sealing: another
	 * eventfd, and no ring checks) and a doorbell */
	if (memfd_sealing) {
		CHECK_EQ(rc_ring_memfd_create(RING_SIZE, &ring_fd, &ro_fd, &ring), 0);
	} else {
		ring_fd = -1;
		ro_fd = rc_eventfd_create();
		CHECK(ro_fd >= 0);
	}
	bell = rc_eventfd_create();
	CHECK(bell >= 0);
	{
		int pass[2] = { ro_fd, bell };

		CHECK_EQ(rc_unix_send(sfd, "hello", 5, pass, 2), 0);
	}
	nfds = -1;
	r = rc_unix_recv(cfd, buf, sizeof(buf), fds, &nfds);
	CHECK_EQ(r, 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(nfds, 2);
	CHECK(fds[0] != ro_fd && fds[1] != bell);
	CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	CHECK(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
	if (memfd_sealing) {
		CHECK_EQ(rc_memfd_verify(fds[0], RING_SIZE, F_SEAL_FUTURE_WRITE), 0);
		CHECK(mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0) == MAP_FAILED);
	}
	CHECK_EQ(rc_eventfd_ring(fds[1]), 0); /* the same doorbell */
	CHECK_EQ(rc_eventfd_drain(bell), 1);
	close(fds[0]);
	close(fds[1]);
	CHECK_EQ(rc_unix_recv(cfd, buf, sizeof(buf), fds, &nfds), -EAGAIN);

	/* no descriptors, other direction */
	CHECK_EQ(rc_unix_send(cfd, "x", 1, NULL, 0), 0);
	CHECK_EQ(rc_unix_recv(sfd, buf, sizeof(buf), fds, &nfds), 1);
	CHECK_EQ(nfds, 0);

	/* oversized: refused whole, its descriptors closed, not leaked */
	memset(big, 'b', sizeof(big));
	before = open_fds();
	CHECK_EQ(rc_unix_send(sfd, big, sizeof(big), &bell, 1), 0);
	nfds = -1;
	CHECK_EQ(rc_unix_recv(cfd, buf, 10, fds, &nfds), -EMSGSIZE);
	CHECK_EQ(nfds, 0);
	CHECK_EQ(open_fds(), before);
	/* and it does not linger: the next message is read normally */
	CHECK_EQ(rc_unix_send(sfd, "next", 4, NULL, 0), 0);
	CHECK_EQ(rc_unix_recv(cfd, buf, sizeof(buf), fds, &nfds), 4);

	/* at most RC_MAX_FDS_PER_MESSAGE per message */
	for (int i = 0; i <= RC_MAX_FDS_PER_MESSAGE; i++)
		many[i] = bell;
	CHECK_EQ(rc_unix_send(sfd, "m", 1, many, RC_MAX_FDS_PER_MESSAGE + 1), -EINVAL);
	CHECK_EQ(rc_unix_send(sfd, "m", 1, many, -1), -EINVAL);
	CHECK_EQ(rc_unix_send(sfd, "m", 1, many, RC_MAX_FDS_PER_MESSAGE), 0);
	CHECK_EQ(rc_unix_recv(cfd, buf, sizeof(buf), fds, &nfds), 1);
	CHECK_EQ(nfds, RC_MAX_FDS_PER_MESSAGE);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);

	/* peer gone: recv says 0, send says EPIPE (and no SIGPIPE) */
	close(cfd);
	CHECK_EQ(rc_unix_recv(sfd, buf, sizeof(buf), fds, &nfds), 0);
	CHECK(rc_unix_send(sfd, "z", 1, NULL, 0) < 0);
	close(sfd);

	/* the listener dies, its socket file stays: a new bus replaces it */
	close(lfd);
	lfd = rc_unix_listen(path, 8);
	CHECK(lfd >= 0);
	close(lfd);

	if (memfd_sealing) {
		rc_unmap(&ring);
		close(ring_fd);
	}
	close(ro_fd);
	close(bell);
	CHECK_EQ(unlink(path), 0);
}

static void unix_paths(void)
{
	char long_path[200];
	int fd;

	CHECK_EQ(rc_unix_connect(path), -ENOENT);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(rc_unix_listen(path, 8), -EEXIST); /* never unlinks a file */
	CHECK_EQ(access(path, F_OK), 0);
	CHECK_EQ(unlink(path), 0);
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = 0;
	CHECK_EQ(rc_unix_listen(long_path, 8), -ENAMETOOLONG);
	CHECK_EQ(rc_unix_connect(long_path), -ENAMETOOLONG);
}

static void on_alarm(int sig)
{
	static const char msg[] = "test_memfd_unix: a connect blocked on a full backlog\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* A live bus whose backlog is full (a connection flood) must neither hang
 * a connecting subscriber nor be mistaken for a stale socket and unlinked
 * by a second publisher. */
static void full_backlog_neither_hangs_nor_steals(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int lfd, flood[64], nflood = 0, fd;
	struct rc_peer peer;

	signal(SIGALRM, on_alarm);
	alarm(10);
	strcpy(addr.sun_path, path);
	lfd = rc_unix_listen(path, 1);
	CHECK(lfd >= 0);
	for (;;) {
		CHECK(nflood < 64);
		flood[nflood] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
		CHECK(flood[nflood] >= 0);
		if (connect(flood[nflood], (struct sockaddr *)&addr, sizeof(addr)) != 0) {
			CHECK_EQ(errno, EAGAIN);
			close(flood[nflood]);
			break;
		}
		nflood++;
	}
	CHECK(nflood >= 1);

	CHECK_EQ(rc_unix_connect(path), -EAGAIN);
	CHECK_EQ(rc_unix_listen(path, 8), -EADDRINUSE);
	/* still ours: the queued connections are still there to accept */
	fd = rc_unix_accept(lfd, &peer);
	CHECK(fd >= 0);
	close(fd);
	alarm(0);

	for (int i = 0; i < nflood; i++)
		close(flood[i]);
	while ((fd = rc_unix_accept(lfd, &peer)) >= 0)
		close(fd);
	close(lfd);
	CHECK_EQ(unlink(path), 0);
}

int main(void)
{
	RUN(ring_memfd_is_sealed);
	if (memfd_sealing) {
		RUN(verify_rejects_what_is_not_a_sealed_memfd);
		RUN(pub_sub_over_memfds);
	} else {
		skip_case("verify_rejects_what_is_not_a_sealed_memfd: memfd sealing unavailable", ENOSYS);
		skip_case("pub_sub_over_memfds: memfd sealing unavailable", ENOSYS);
		rc_test_cases += 2; /* counted as cases, and as skipped */
	}
	RUN(eventfd_doorbell);
	socket_path();
	RUN(unix_control_socket);
	RUN(unix_paths);
	RUN(full_backlog_neither_hangs_nor_steals);
	CHECK_EQ(rmdir(dir), 0);
	if (skipped_cases) {
		/* The runner counts exit 77 as a skip and shows this last line. */
		printf("test_memfd_unix: %d cases ran, %d skipped: %s\n", rc_test_cases - skipped_cases, skipped_cases,
		       skipped_why);
		return RC_TEST_SKIP;
	}
	return rc_test_done("test_memfd_unix");
}
