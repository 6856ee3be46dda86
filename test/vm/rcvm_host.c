/* SPDX-License-Identifier: MIT */
/*
 * Host side of the VM test, phase 1: prepares the shared files, pokes the
 * ivshmem server with hostile clients, becomes a server peer (with the
 * minimal client of QEMU's ivshmem protocol in native/test/
 * ivshmem_spec_client.h, written from the spec so the server is checked
 * against an independent reading), then drives the guests through the
 * steps of rcvm_shared.h.
 *
 *   rcvm-host phase1 SERVER_SOCKET RING_FILE ACK1 ACK2 DOORBELL_SHM_FILE
 *
 * Prints "ok - NAME" / "FAIL - NAME: why" lines, and "HOST READY" once the
 * guests may boot. Exit 0 when every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem_spec_client.h"

#define RCVM_REPORT_OK "ok - "
#define RCVM_REPORT_FAIL "FAIL - "
#include "rcvm_shared.h"

#define WAIT_MS 120000 /* fail-safe; boots take seconds */
#define RING_SIZE (4u << 20)
#define MAX_PEER_ID 0x10000


static void die(const char *what)
{
	printf("FAIL - %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int connect_server(const char *path)
{
	int fd = ivshmem_spec_connect(path);

	if (fd < 0)
		die("connect to the ivshmem server");
	return fd;
}

/* One server message: 1 with *value (and *fd, or -1), 0 at EOF, -1 when
 * nothing came within timeout_ms. */
static int recv_message(int sock, int64_t *value, int *fd, int timeout_ms)
{
	int r = ivshmem_spec_recv(sock, value, fd, timeout_ms);

	if (r == IVSHMEM_SPEC_BROKEN)
		die("a short or failed message from the server");
	return r;
}

struct host_peer {
	int sock;
	int64_t own_id;
	int shm_fd;
	int own[RCVM_VECTORS];              /* readable when rung */
	int *remote[MAX_PEER_ID];           /* remote[id][v]: rings id on v */
	uint32_t remote_vectors[MAX_PEER_ID];
	bool left[MAX_PEER_ID];
};

static struct host_peer host;

/* Handles one message after the setup: connect (with fd) or leave. */
static void peer_message(int64_t value, int fd)
{
	if (value < 0 || value >= MAX_PEER_ID) {
		check(false, "server-message-range", "peer id %lld", (long long)value);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd < 0) {
		host.left[value] = true;
		return;
	}
	if (value == host.own_id) {
		if (host.remote_vectors[value] < RCVM_VECTORS)
			host.own[host.remote_vectors[value]] = fd;
		else
			close(fd);
		host.remote_vectors[value]++;
		return;
	}
	if (!host.remote[value])
		host.remote[value] = calloc(RCVM_VECTORS, sizeof(int));
	if (host.remote_vectors[value] < RCVM_VECTORS)
		host.remote[value][host.remote_vectors[value]] = fd;
	else
		close(fd);
	host.remote_vectors[value]++;
	host.left[value] = false;
}

static void drain_server(int timeout_ms)
{
	int64_t value;
	int fd, r;

	while ((r = recv_message(host.sock, &value, &fd, timeout_ms)) == 1) {
		peer_message(value, fd);
		timeout_ms = 0;
	}
	if (r == 0)
		die("the ivshmem server closed our connection");
}

static void *map_file(const char *path, size_t size)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	void *p;

	if (fd < 0)
		die(path);
	if (ftruncate(fd, (off_t)size) < 0)
		die(path);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		die(path);
	return p;
}

static void hostile_clients(const char *server)
{
	int64_t value;
	int fd, r, s;
	bool closed = false;

	/* Garbage: the server must drop us (the protocol is one way). */
	s = connect_server(server);
	(void)!write(s, "GET / HTTP/1.0\r\n\r\n", 18);
	for (int i = 0; i < 1000 && !closed; i++) {
		r = recv_message(s, &value, &fd, 10000);
		if (fd >= 0)
			close(fd);
		if (r == 0)
			closed = true;
		if (r < 0)
			break;
	}
	check(closed, "server-drops-garbage-client", "still connected");
	close(s);
	/* Gone before reading anything. */
	close(connect_server(server));
}

int main(int argc, char **argv)
{
	struct rcvm_control *ctl;
	struct rcvm_ack *acks[RCVM_GUESTS];
	uint8_t *ring;
	uint64_t deadline;
	int64_t value = 0;
	int fd, r;
	struct stat st;

	if (argc != 7 || strcmp(argv[1], "phase1")) {
		fprintf(stderr, "usage: rcvm-host phase1 SERVER RING ACK1 ACK2 DOORBELL_SHM\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	hostile_clients(argv[2]);

	/* ---- become a peer, reading the protocol as the spec says ---- */
	for (int i = 0; i < RCVM_VECTORS; i++)
		host.own[i] = -1;
	host.sock = connect_server(argv[2]);
	r = recv_message(host.sock, &value, &fd, 10000);
	check(r == 1 && value == 0 && fd < 0, "server-sends-version-0", "%lld", (long long)value);
	r = recv_message(host.sock, &host.own_id, &fd, 10000);
	check(r == 1 && host.own_id >= 0 && host.own_id < MAX_PEER_ID && fd < 0, "server-sends-own-id", "%lld",
	      (long long)host.own_id);
	if (r != 1 || host.own_id < 0 || host.own_id >= MAX_PEER_ID)
		return 1;
	r = recv_message(host.sock, &value, &host.shm_fd, 10000);
	check(r == 1 && value == -1 && host.shm_fd >= 0 && fstat(host.shm_fd, &st) == 0 && st.st_size == 64 * 1024,
	      "server-sends-shm-fd", "value %lld fd %d", (long long)value, host.shm_fd);
	/* The setup ends with our own vectors. */
	deadline = now_ms() + 10000;
	while (host.remote_vectors[host.own_id] < RCVM_VECTORS && now_ms() < deadline)
		drain_server(1000);
	check(host.remote_vectors[host.own_id] == RCVM_VECTORS && host.own[RCVM_VECTORS - 1] >= 0,
	      "server-sends-own-vectors", "%u", host.remote_vectors[host.own_id]);
	check(host.own_id == 2, "server-ids-not-reused-at-once",
	      "id %lld after two hostile clients (0, 1)", (long long)host.own_id);

	/* ---- the files the guests will see ---- */
	ring = map_file(argv[3], RING_SIZE);
	acks[0] = map_file(argv[4], 4096);
	acks[1] = map_file(argv[5], 4096);
	memset(acks[0], 0, 4096);
	memset(acks[1], 0, 4096);
	memset(ring, 0, RING_SIZE);
	ctl = (struct rcvm_control *)ring;
	ctl->host_peer = (uint32_t)host.own_id;
	ctl->pattern_seed = (uint32_t)now_ms();
	for (uint64_t i = 0; i < RCVM_PATTERN_LEN; i++)
		ring[RCVM_PATTERN_OFFSET + i] = (uint8_t)rcvm_pattern_byte(ctl->pattern_seed, i);
	ctl->pattern_sum = rcvm_sum(ring + RCVM_PATTERN_OFFSET, RCVM_PATTERN_LEN);
	rcvm_store(&ctl->magic, RCVM_MAGIC);
	(void)argv[6]; /* the doorbell shm is the server's: the guests use it */
	printf("HOST READY peer %lld\n", (long long)host.own_id);

	/* ---- both guests ready: their driver enabled MSI-X ---- */
	deadline = now_ms() + WAIT_MS;
	while ((rcvm_load(&acks[0]->step) < RCVM_STEP_READY || rcvm_load(&acks[1]->step) < RCVM_STEP_READY) &&
	       now_ms() < deadline)
		drain_server(20);
	drain_server(0);
	for (int g = 0; g < RCVM_GUESTS; g++) {
		uint32_t peer = rcvm_load(&acks[g]->peer_id);
		char name[64];

		snprintf(name, sizeof(name), "guest-%d-ready", g + 1);
		check(rcvm_load(&acks[g]->step) >= RCVM_STEP_READY, name, "step %u", acks[g]->step);
		snprintf(name, sizeof(name), "guest-%d-peer-known-to-server", g + 1);
		check(peer < MAX_PEER_ID && host.remote[peer] && host.remote_vectors[peer] == RCVM_VECTORS, name,
		      "peer %u", peer);
		if (rcvm_load(&acks[g]->step) < RCVM_STEP_READY || peer >= MAX_PEER_ID || !host.remote[peer]) {
			printf("FAIL - giving up: guest %d never became ready\n", g + 1);
			return 1;
		}
		ctl->guest_peer[g] = peer;
	}
	rcvm_store(&ctl->round, 1u);

	/* ---- host -> guest g on vector g-1, then wait for guest -> host ---- */
	for (int g = 0; g < RCVM_GUESTS; g++) {
		uint64_t one = 1;
		char name[64];

		snprintf(name, sizeof(name), "host-rings-guest-%d", g + 1);
		check(write(host.remote[ctl->guest_peer[g]][g], &one, 8) == 8, name, "%s", strerror(errno));
	}
	for (int g = 0; g < RCVM_GUESTS; g++) {
		struct pollfd p = { .fd = host.own[g], .events = POLLIN };
		uint64_t count = 0;
		int polled = poll(&p, 1, WAIT_MS);
		ssize_t n = polled == 1 ? read(host.own[g], &count, 8) : -1;
		char name[64];

		/* The guest rings, then raises its flag: the flag may trail. */
		deadline = now_ms() + WAIT_MS;
		while (rcvm_load(&acks[g]->step) < RCVM_STEP_RANG_HOST && now_ms() < deadline)
			drain_server(20);
		snprintf(name, sizeof(name), "guest-%d-rings-host", g + 1);
		check(polled == 1 && n == 8 && count >= 1 && rcvm_load(&acks[g]->step) >= RCVM_STEP_RANG_HOST, name,
		      "poll %d read %zd count %llu step %u", polled, n, (unsigned long long)count, acks[g]->step);
	}

	/* ---- the guests finish their own checks ---- */
	deadline = now_ms() + WAIT_MS;
	while ((rcvm_load(&acks[0]->step) < RCVM_STEP_DONE || rcvm_load(&acks[1]->step) < RCVM_STEP_DONE) &&
	       now_ms() < deadline)
		drain_server(20);
	for (int g = 0; g < RCVM_GUESTS; g++) {
		char name[64];

		snprintf(name, sizeof(name), "guest-%d-finished-clean", g + 1);
		check(rcvm_load(&acks[g]->step) == RCVM_STEP_DONE && acks[g]->failures == 0, name,
		      "step %u failures %u", acks[g]->step, acks[g]->failures);
		printf("note - guest %d ring write: %s\n", g + 1,
		       acks[g]->ring_write == RCVM_RING_WRITE_IGNORED ? "ignored"
		       : acks[g]->ring_write == RCVM_RING_WRITE_VISIBLE ? "VISIBLE" : "not tried");
	}
	{
		uint64_t scratch = *(volatile uint64_t *)(ring + RCVM_SCRATCH_OFFSET);

		printf("note - ring file scratch after the guests' write attempts: %#llx\n",
		       (unsigned long long)scratch);
		if (getenv("RCVM_RING_READONLY") && !strcmp(getenv("RCVM_RING_READONLY"), "1"))
			check(scratch == 0 && acks[0]->ring_write == RCVM_RING_WRITE_IGNORED &&
			      acks[1]->ring_write == RCVM_RING_WRITE_IGNORED, "readonly-ring-holds-against-guest-writes",
			      "scratch %#llx", (unsigned long long)scratch);
	}

	/* ---- the guests power off: the server reports both gone ---- */
	deadline = now_ms() + WAIT_MS;
	while (!(host.left[ctl->guest_peer[0]] && host.left[ctl->guest_peer[1]]) && now_ms() < deadline)
		drain_server(100);
	check(host.left[ctl->guest_peer[0]] && host.left[ctl->guest_peer[1]], "server-reports-guests-gone",
	      "left: %d %d", host.left[ctl->guest_peer[0]], host.left[ctl->guest_peer[1]]);
	printf("host: %d failures\n", failures);
	return failures ? 1 : 0;
}
