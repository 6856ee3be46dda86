// SPDX-License-Identifier: MIT
/*
 * The ivshmem provider without a VM or a server process: ring and ack pages
 * in real files, doorbells as real eventfds, and the ivshmem server played
 * by this test over socketpairs (it sends the protocol's 8-byte messages
 * and descriptors with the server's own encoder, and can lie). Covers the
 * attach handshake through shared memory, hostile join requests, a guest's
 * peer leaving the server (evicted DEAD), rejoin, and a broken server.
 */
#define _GNU_SOURCE
#include "rc_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rc_ivshmem.h"
#include "rc_ivshmem_server.h"
#include "ringcast_barrier.h"

#define CAP RC_TEST_CAPACITY
#define HOST_ID 0u
#define PEER_A 1u
#define PEER_B 2u

static char dir[] = "/tmp/rc_ivshmem_test.XXXXXX";
static char ring_path[128], ack_a_path[128], ack_b_path[128];

/* ---- the fake ivshmem server ------------------------------------------- */

static void srv_send(int sock, int64_t value, int fd)
{
	CHECK_EQ(rc_ivshmem_server_send(sock, value, fd), 0);
}

/* The greeting a real server sends a new peer `own`: version, id, shared
 * memory, then one eventfd per vector of every peer, own last. */
static void srv_greet(int sock, uint32_t own, const uint32_t *ids, const int *bells, int count)
{
	int shm = memfd_create("fake-ivshmem-shm", MFD_CLOEXEC);

	CHECK(shm >= 0);
	srv_send(sock, 0, -1);
	srv_send(sock, own, -1);
	srv_send(sock, -1, shm);
	close(shm);
	for (int i = 0; i < count; i++)
		if (ids[i] != own)
			srv_send(sock, ids[i], bells[i]);
	for (int i = 0; i < count; i++)
		if (ids[i] == own)
			srv_send(sock, ids[i], bells[i]);
}

static void socket_pair(int sv[2])
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
}

static int new_eventfd(void)
{
	int fd = rc_eventfd_create();

	CHECK(fd >= 0);
	return fd;
}

static uint64_t pending(int fd)
{
	return (uint64_t)rc_eventfd_drain(fd);
}

/* ---- fixture: one publisher host, guest A through the provider ---------- */

static struct rc_mapping ring_map;
static struct rc_publisher pub;
static struct rc_ivshmem_host host;
static int bell_host, bell_a, bell_b; /* the server's eventfds, vector 0 */
static int host_srv[2];
static uint64_t next_seq;
static uint8_t out[CAP];
static struct rc_entry e[64];

static const struct rc_join_answer *answer_of(uint32_t slot)
{
	return rc_ring_join_answer_const(ring_map.addr, slot);
}

static void setup(uint32_t peer_for_a, uint32_t peer_for_b)
{
	struct rc_ivshmem_guest_config guests[2] = {
		{ .ack_path = ack_a_path, .peer_id = peer_for_a },
		{ .ack_path = ack_b_path, .peer_id = peer_for_b },
	};
	uint32_t ids[3] = { HOST_ID, PEER_A, PEER_B };
	int bells[3];

	CHECK_EQ(rc_ivshmem_region_size(CAP), 128u * 1024u); /* 8 KiB descriptor + 64 KiB, rounded */
	CHECK_EQ(rc_ivshmem_ring_file_create(ring_path, rc_ivshmem_region_size(CAP), 0600, &ring_map), 0);
	CHECK_STATUS(rc_ring_format(ring_map.addr, CAP, 0, RC_POLICY_BLOCK, 0x5eed5eedULL, (uint32_t)getpid()), RC_OK);
	CHECK_STATUS(rc_pub_init(&pub, ring_map.addr, rc_ring_size(CAP)), RC_OK);
	CHECK_EQ(rc_ivshmem_host_init(&host, &pub, guests, 2, 0600), 0);
	host.unknown_peer_grace_ms = 0; /* refuse unknown ids at once; one case turns it on */
	bell_host = new_eventfd();
	bell_a = new_eventfd();
	bell_b = new_eventfd();
	bells[0] = bell_host;
	bells[1] = bell_a;
	bells[2] = bell_b;
	socket_pair(host_srv);
	srv_greet(host_srv[1], HOST_ID, ids, bells, 3);
	next_seq = 0;
}

static void teardown(void)
{
	rc_ivshmem_host_close(&host);
	rc_unmap(&ring_map);
	close(host_srv[1]);
	close(bell_host);
	close(bell_a);
	close(bell_b);
}

/* Guest A's view: the files, and its own connection to the server. */
static void open_guest(struct rc_ivshmem_guest *g, const char *ack_path, uint32_t own, int own_bell)
{
	uint32_t ids[2] = { HOST_ID, own };
	int bells[2] = { bell_host, own_bell };
	int sv[2];

	socket_pair(sv);
	srv_greet(sv[1], own, ids, bells, 2);
	close(sv[1]); /* the greeting stays queued; later reads see the end */
	CHECK_EQ(rc_ivshmem_guest_open_files(g, ring_path, ack_path, NULL, sv[0]), 0);
	CHECK_EQ(g->own_peer, own);
}

static uint64_t length_of(uint64_t seq) { return 100 + (seq * 37) % 3000; }

static void publish(uint32_t count)
{
	for (uint32_t i = 0; i < count; i++, next_seq++)
		rc_test_publish(&pub, next_seq, length_of(next_seq));
}

/* Reads everything committed; checks every byte and the sequence. */
static void read_all(struct rc_ivshmem_guest *g, uint64_t *expect_seq)
{
	int n;

	while ((n = rc_sub_read(&g->sub, out, sizeof(out), e, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			CHECK_EQ(e[i].seq, *expect_seq);
			CHECK_EQ(e[i].length, length_of(*expect_seq));
			CHECK(rc_test_matches(out + e[i].offset, e[i].seq, 0, e[i].length));
			(*expect_seq)++;
		}
	}
	CHECK_STATUS(n, 0);
}

static void service(uint64_t want_accepted, uint64_t want_rejected, uint64_t want_dead)
{
	struct rc_ivshmem_service_result res;

	CHECK_EQ(rc_ivshmem_host_service(&host, &res), 0);
	CHECK_EQ(res.accepted, want_accepted);
	CHECK_EQ(res.rejected, want_rejected);
	CHECK_EQ(res.dead, want_dead);
}

/* ---- cases ---------------------------------------------------------------- */

static void join_then_read_in_order(void)
{
	struct rc_ivshmem_guest a;
	uint64_t seq = 0;

	setup(RC_IVSHMEM_NO_PEER, RC_IVSHMEM_NO_PEER);
	open_guest(&a, ack_a_path, PEER_A, bell_a);
	/* The host is not on the server yet: nobody to ask. */
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_EAGAIN);
	CHECK_EQ(rc_ivshmem_host_connect(&host, NULL, host_srv[0], 1000), 0);
	CHECK_EQ(((struct rc_ring_desc *)ring_map.addr)->ivshmem_host_peer, HOST_ID);

	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_OK);
	CHECK_EQ(pending(bell_host), 1); /* the request rang the host */
	CHECK_STATUS(rc_ivshmem_guest_join_poll(&a), RC_EAGAIN);
	service(1u << 0, 0, 0);
	CHECK_EQ(pending(bell_a), 1); /* the answer rang the guest */
	CHECK_STATUS(rc_ivshmem_guest_join_poll(&a), RC_OK);
	CHECK_EQ(a.sub.slot, 0);
	CHECK_EQ(a.sub.generation, 1);
	CHECK_EQ(answer_of(0)->verdict, RC_JOIN_ACCEPTED);
	CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_ACTIVE);

	/* The normal protocol from here: in order, every byte, and the
	 * publisher is held back by A's ack. */
	for (int round = 0; round < 20; round++) {
		publish(7);
		read_all(&a, &seq);
	}
	CHECK_EQ(seq, 140);
	rc_pub_refresh(&pub);
	CHECK_EQ(pub.slots[0].acked, pub.head);

	/* The publisher's heartbeat tells a guest it lives; standing still
	 * while the bus is open, that it died; a closed bus is no death. */
	CHECK(!rc_ivshmem_guest_publisher_gone(&a, 1000, 500));
	CHECK(!rc_ivshmem_guest_publisher_gone(&a, 1400, 500));
	rc_ivshmem_host_heartbeat(&host);
	CHECK(!rc_ivshmem_guest_publisher_gone(&a, 1600, 500));
	CHECK(!rc_ivshmem_guest_publisher_gone(&a, 2000, 500));
	CHECK(rc_ivshmem_guest_publisher_gone(&a, 2100, 500));

	/* A sleeper is rung through the server's eventfd. */
	CHECK_EQ(rc_ivshmem_guest_wait(&a, 0), 0);
	CHECK(rc_sub_prepare_wait(&a.sub));
	publish(1);
	CHECK_EQ(pending(bell_a), 1);
	rc_sub_end_wait(&a.sub);
	read_all(&a, &seq);

	/* Asking again while attached is a rejoin: a new generation. */
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_OK);
	service(1u << 0, 0, 0);
	CHECK_STATUS(rc_ivshmem_guest_join_poll(&a), RC_OK);
	CHECK_EQ(a.sub.generation, 2); /* a rejoin: a new generation */

	/* Leaving frees the slot at once (reason CLOSED), as a detach does. */
	CHECK_STATUS(rc_ivshmem_guest_leave(&a), RC_OK);
	CHECK_EQ(pending(bell_host), 1);
	{
		struct rc_ivshmem_service_result res;

		CHECK_EQ(rc_ivshmem_host_service(&host, &res), 0);
		CHECK_EQ(res.left, 1u << 0);
	}
	CHECK_EQ(answer_of(0)->verdict, RC_JOIN_LEFT);
	CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&pub, 0)->evict_reason, RC_EVICT_CLOSED);
	CHECK_EQ(host.guest[0].bound_peer, RC_IVSHMEM_NO_PEER);
	CHECK_STATUS(rc_ivshmem_guest_leave(&a), RC_ESTATE);

	rc_ivshmem_guest_close(&a);
	teardown();
}

/* A hostile guest B writes whatever it likes in its own ack page. */
/* Host on the server, no ack file bound to a peer, guest A joined in slot 0. */
static void setup_with_guest_a_joined(struct rc_ivshmem_guest *a)
{
	setup(RC_IVSHMEM_NO_PEER, RC_IVSHMEM_NO_PEER);
	CHECK_EQ(rc_ivshmem_host_connect(&host, NULL, host_srv[0], 1000), 0);
	open_guest(a, ack_a_path, PEER_A, bell_a);
	CHECK_STATUS(rc_ivshmem_guest_join_begin(a), RC_OK);
	service(1u << 0, 0, 0);
	CHECK_STATUS(rc_ivshmem_guest_join_poll(a), RC_OK);
}

static void hostile_join_requests_are_refused(void)
{
	struct rc_ivshmem_guest a;
	struct rc_ack_page *b;
	struct rc_mapping b_map;
	uint64_t seq = 0;
	int fd;

	setup_with_guest_a_joined(&a);

	fd = open(ack_b_path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(rc_map(fd, RC_ACK_PAGE_SIZE, 1, &b_map), 0);
	close(fd);
	b = b_map.addr;

	struct {
		uint32_t request, peer, verdict;
	} cases[] = {
		{ 1, 99, RC_JOIN_BAD_PEER },            /* unknown to the server      */
		{ 2, HOST_ID, RC_JOIN_BAD_PEER },       /* the host itself            */
		{ 3, PEER_A, RC_JOIN_BAD_PEER },        /* bound to guest A           */
		{ 2, PEER_B, RC_JOIN_BAD_ORDER },       /* counter went backwards     */
		{ 3, PEER_B, RC_JOIN_BAD_ORDER },       /* ... and not past the mark  */
		{ 4, 0x10000, RC_JOIN_BAD_PEER },       /* beyond 16-bit peer ids     */
		{ 5, PEER_B, RC_JOIN_ACCEPTED },        /* finally a good one         */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b->join_peer_id = cases[i].peer;
		rc_store_release(&b->join_request, cases[i].request);
		publish(3);
		if (cases[i].verdict == RC_JOIN_ACCEPTED)
			service(1u << 1, 0, 0);
		else
			service(0, 1u << 1, 0);
		CHECK_EQ(answer_of(1)->request, cases[i].request);
		CHECK_EQ(answer_of(1)->verdict, cases[i].verdict);
		/* Whatever B does, A reads on, untouched. */
		read_all(&a, &seq);
		CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_ACTIVE);
	}
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_ACTIVE);
	CHECK_EQ(host.guest[1].join.rejected, 6);

	/* An unchanged request is not answered again. */
	service(0, 0, 0);

	/* Garbage over B's whole page: its own attach breaks (its ack is now
	 * past head: evicted PROTOCOL at the next refresh), its join request
	 * is refused, A goes on. */
	memset(b, 0xa5, RC_ACK_PAGE_SIZE);
	service(0, 1u << 1, 0);
	CHECK_EQ(answer_of(1)->verdict, RC_JOIN_BAD_PEER);
	publish(5);
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_EVICTED);
	CHECK_EQ(rc_test_mirror(&pub, 1)->evict_reason, RC_EVICT_PROTOCOL);
	read_all(&a, &seq);
	CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_ACTIVE);
	CHECK_EQ(seq, next_seq);

	rc_unmap(&b_map);
	rc_ivshmem_guest_close(&a);
	teardown();
}

static void configured_peer_ids_bind_guests(void)
{
	struct rc_ivshmem_guest a;

	/* Guest 0's ack file belongs to peer B by configuration. */
	setup(PEER_B, RC_IVSHMEM_NO_PEER);
	CHECK_EQ(rc_ivshmem_host_connect(&host, NULL, host_srv[0], 1000), 0);
	open_guest(&a, ack_a_path, PEER_A, bell_a);
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_OK);
	service(0, 1u << 0, 0);
	CHECK_STATUS(rc_ivshmem_guest_join_poll(&a), RC_EINVAL);
	CHECK_EQ(a.last_verdict, RC_JOIN_BAD_PEER);
	rc_ivshmem_guest_close(&a);

	/* Nor can A claim guest 1's file with B's id: B is configured for 0. */
	open_guest(&a, ack_b_path, PEER_B, bell_b);
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_OK);
	service(0, 1u << 1, 0);
	CHECK_STATUS(rc_ivshmem_guest_join_poll(&a), RC_EINVAL);
	rc_ivshmem_guest_close(&a);

	/* The configured peer, through the configured file. */
	open_guest(&a, ack_a_path, PEER_B, bell_b);
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_OK);
	service(1u << 0, 0, 0);
	CHECK_STATUS(rc_ivshmem_guest_join_poll(&a), RC_OK);
	CHECK_EQ(host.guest[0].bound_peer, PEER_B);
	rc_ivshmem_guest_close(&a);
	teardown();
}

static void peer_leaving_the_server_evicts_dead_and_rejoin_works(void)
{
	struct rc_ivshmem_guest a, again;
	uint64_t seq = 0;
	int bell_new = new_eventfd();
	const uint32_t new_id = 7;

	setup_with_guest_a_joined(&a);
	publish(10);
	read_all(&a, &seq);
	publish(4); /* unread when its VM dies */

	/* The server says peer A left (its QEMU exited): evicted DEAD at once
	 * (its lost range counted), the slot reclaimed, never rung again, and
	 * the publisher no longer waits for it. */
	srv_send(host_srv[1], PEER_A, -1);
	service(0, 0, 1u << 0);
	CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&pub, 0)->evict_reason, RC_EVICT_DEAD);
	CHECK_EQ(rc_test_mirror(&pub, 0)->evictions, 1);
	CHECK_EQ(host.guest[0].bound_peer, RC_IVSHMEM_NO_PEER);
	CHECK_EQ(rc_test_mirror(&pub, 0)->lost_messages, 4);
	CHECK_EQ(pub.slots[0].doorbell_fd, -1);
	CHECK(rc_ivshmem_peer_find(&host.server, PEER_A) == NULL);
	CHECK_STATUS(rc_sub_read(&a.sub, out, sizeof(out), e, 64), RC_EEVICTED);
	rc_ivshmem_guest_close(&a);
	CHECK(rc_pub_refresh(&pub) == UINT64_MAX); /* nobody counted: unbounded */

	/* The VM restarts: a new peer id, the same ack file; it rejoins at
	 * the live head with a new generation and reads on from there. It asks
	 * before the server announced it to us (the server greets first): the
	 * request waits for the announcement instead of being refused. */
	host.unknown_peer_grace_ms = 60000;
	open_guest(&again, ack_a_path, new_id, bell_new);
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&again), RC_OK);
	{
		struct rc_ivshmem_service_result res;

		CHECK_EQ(rc_ivshmem_host_service(&host, &res), 0);
		CHECK_EQ(res.accepted | res.rejected, 0);
		CHECK(res.retry_ms > 0 && res.retry_ms <= 60000);
	}
	srv_send(host_srv[1], new_id, bell_new);
	service(1u << 0, 0, 0);
	CHECK_STATUS(rc_ivshmem_guest_join_poll(&again), RC_OK);
	CHECK_EQ(again.sub.generation, 2);
	CHECK_EQ(rc_test_mirror(&pub, 0)->join_position, pub.head);
	seq = next_seq;
	publish(6);
	read_all(&again, &seq);
	CHECK_EQ(seq, next_seq);
	rc_ivshmem_guest_close(&again);
	close(bell_new);
	teardown();
}

static void broken_server_and_bad_regions(void)
{
	struct rc_ivshmem_peer peer;
	struct rc_ivshmem_guest a;
	struct rc_ring_desc *desc;
	int sv[2];

	/* A version this side does not speak. */
	socket_pair(sv);
	srv_send(sv[1], 7, -1);
	CHECK_EQ(rc_ivshmem_peer_adopt(&peer, sv[0], 1000), -EPROTO);
	close(sv[1]);

	/* A peer id beyond 16 bits. */
	socket_pair(sv);
	srv_send(sv[1], 0, -1);
	srv_send(sv[1], 70000, -1);
	CHECK_EQ(rc_ivshmem_peer_adopt(&peer, sv[0], 1000), -EPROTO);
	close(sv[1]);

	/* A doorbell that is not an eventfd. */
	socket_pair(sv);
	srv_send(sv[1], 0, -1);
	srv_send(sv[1], 3, -1);
	srv_send(sv[1], -1, sv[1]);
	srv_send(sv[1], 3, sv[1]);
	CHECK_EQ(rc_ivshmem_peer_adopt(&peer, sv[0], 1000), -EPROTO);
	close(sv[1]);

	/* Half a message, then silence: a timeout, never a hang. */
	socket_pair(sv);
	CHECK_EQ(write(sv[1], "\0\0\0\0", 4), 4);
	CHECK_EQ(rc_ivshmem_peer_adopt(&peer, sv[0], 50), -ETIMEDOUT);
	close(sv[1]);

	/* The server goes away mid-greeting. */
	socket_pair(sv);
	srv_send(sv[1], 0, -1);
	close(sv[1]);
	CHECK_EQ(rc_ivshmem_peer_adopt(&peer, sv[0], 1000), -ECONNRESET);

	/* A descriptor claiming more than the guest mapped is refused before
	 * any pointer is derived from it. */
	setup(RC_IVSHMEM_NO_PEER, RC_IVSHMEM_NO_PEER);
	CHECK_EQ(rc_ivshmem_host_connect(&host, NULL, host_srv[0], 1000), 0);
	open_guest(&a, ack_a_path, PEER_A, bell_a);
	desc = ring_map.addr;
	desc->capacity = 1u << 20;
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_EINVAL);
	desc->capacity = CAP;
	((struct rc_ack_page *)host.guest[0].ack.addr)->bus_id ^= 1; /* an ack file of another bus */
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_EINVAL);
	((struct rc_ack_page *)host.guest[0].ack.addr)->bus_id ^= 1;
	CHECK_STATUS(rc_ivshmem_guest_join_begin(&a), RC_OK);

	/* The server connection breaks: every bound guest is dead. */
	service(1u << 0, 0, 0);
	CHECK_STATUS(rc_ivshmem_guest_join_poll(&a), RC_OK);
	close(host_srv[1]);
	host_srv[1] = open("/dev/null", O_RDONLY | O_CLOEXEC); /* for teardown */
	{
		struct rc_ivshmem_service_result res;

		CHECK_EQ(rc_ivshmem_host_service(&host, &res), -ECONNRESET);
		CHECK_EQ(res.dead, 1u << 0);
		CHECK(host.server.lost);
		CHECK_EQ(pub.slots[0].doorbell_fd, -1);
		CHECK_EQ(rc_ivshmem_host_service(&host, &res), 0); /* reported once; the bus goes on */
		CHECK_EQ(res.dead, 0);
	}
	rc_ivshmem_guest_close(&a);
	teardown();

	/* Bad host configuration. */
	{
		struct rc_ivshmem_guest_config twice[2] = {
			{ .ack_path = ack_a_path, .peer_id = 3 },
			{ .ack_path = ack_b_path, .peer_id = 3 },
		};

		CHECK_EQ(rc_ivshmem_ring_file_create(ring_path, 3 * 65536, 0600, &ring_map), -EINVAL);
		CHECK_EQ(rc_ivshmem_region_size(1000), 0);
		CHECK_EQ(rc_ivshmem_ring_file_create(ring_path, rc_ivshmem_region_size(CAP), 0600, &ring_map), 0);
		CHECK_STATUS(rc_ring_format(ring_map.addr, CAP, 0, RC_POLICY_BLOCK, 1, 1), RC_OK);
		CHECK_STATUS(rc_pub_init(&pub, ring_map.addr, rc_ring_size(CAP)), RC_OK);
		CHECK_EQ(rc_ivshmem_host_init(&host, &pub, twice, 2, 0600), -EINVAL);
		CHECK_EQ(rc_ivshmem_host_init(&host, &pub, twice, 0, 0600), -EINVAL);
		CHECK_EQ(host.failed_guest, 0u); /* not one file's failure: == count */
		{
			/* The caller names the file that failed, not "ack files". */
			struct rc_ivshmem_guest_config second_missing[2] = {
				{ .ack_path = ack_a_path, .peer_id = RC_IVSHMEM_NO_PEER },
				{ .ack_path = "/nonexistent/ringcast.ack", .peer_id = RC_IVSHMEM_NO_PEER },
			};

			CHECK_EQ(rc_ivshmem_host_init(&host, &pub, second_missing, 2, 0600), -ENOENT);
			CHECK_EQ(host.failed_guest, 1u);
			CHECK_EQ(host.guests, 0u);
			CHECK_EQ(pub.reserved_slots, 0u);
		}
		rc_unmap(&ring_map);
	}
}

/* A mixed bus: the ring is the publisher's sealed memfd, sized for a PCI
 * BAR; local processes get it over the socket, QEMU opens it through a link
 * to /proc/PID/fd/N. The guests' slots are kept from local attaches. */
static void mixed_bus_ring_link_and_reserved_slots(void)
{
	struct rc_ivshmem_guest_config guests[2] = {
		{ .ack_path = ack_a_path, .peer_id = RC_IVSHMEM_NO_PEER },
		{ .ack_path = ack_b_path, .peer_id = RC_IVSHMEM_NO_PEER },
	};
	uint64_t region = rc_ivshmem_region_size(CAP);
	struct rc_mapping old_file = { 0 };
	char elsewhere[160];
	int fd, ro_fd, qemu_fd;
	void *view;

	CHECK_EQ(rc_ring_memfd_create(region, &fd, &ro_fd, &ring_map), 0);
	CHECK_STATUS(rc_ring_format(ring_map.addr, CAP, 0, RC_POLICY_BLOCK, 0x5eed5eedULL, (uint32_t)getpid()), RC_OK);
	CHECK_STATUS(rc_pub_init(&pub, ring_map.addr, rc_ring_size(CAP)), RC_OK);
	/* What a local subscriber maps (the whole region) holds the ring; less does not. */
	CHECK_EQ(rc_ring_size_in(ring_map.addr, region), rc_ring_size(CAP));
	CHECK_EQ(rc_ring_size_in(ring_map.addr, rc_ring_size(CAP) - 1), 0);
	CHECK_EQ(rc_memfd_verify(ro_fd, region, F_SEAL_GROW), 0);

	/* The link replaces a plain file that an earlier VM bus left. */
	CHECK_EQ(rc_ivshmem_ring_file_create(ring_path, region, 0600, &old_file), 0);
	rc_unmap(&old_file);
	CHECK_EQ(rc_ivshmem_ring_link(ring_path, ro_fd), 0);
	qemu_fd = open(ring_path, O_RDWR | O_CLOEXEC); /* QEMU without readonly=on */
	CHECK(qemu_fd >= 0);
	errno = 0;
	CHECK(mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_SHARED, qemu_fd, 0) == MAP_FAILED);
	CHECK_EQ(errno, EPERM); /* the seal: QEMU fails to start rather than share a writable ring */
	close(qemu_fd);
	qemu_fd = open(ring_path, O_RDONLY | O_CLOEXEC); /* readonly=on */
	CHECK(qemu_fd >= 0);
	view = mmap(NULL, region, PROT_READ, MAP_SHARED, qemu_fd, 0);
	CHECK(view != MAP_FAILED);
	close(qemu_fd);
	rc_test_publish(&pub, 0, 100);
	CHECK_EQ(((const struct rc_ring_desc *)view)->head, pub.head); /* the same pages */
	munmap(view, region);

	CHECK_EQ(rc_ivshmem_host_init(&host, &pub, guests, 2, 0600), 0);
	CHECK_EQ(rc_pub_free_slot(&pub), 2); /* slots 0 and 1 wait for their guests */
	rc_ivshmem_host_close(&host);
	CHECK_EQ(rc_pub_free_slot(&pub), 0);

	/* Unlinked only while it is still ours. */
	snprintf(elsewhere, sizeof(elsewhere), "%s/other", dir);
	CHECK_EQ(rc_ivshmem_ring_link(elsewhere, ro_fd + 100), 0);
	rc_ivshmem_ring_unlink(elsewhere, ro_fd);
	CHECK_EQ(unlink(elsewhere), 0); /* it was still there: not ours, not removed */
	rc_ivshmem_ring_unlink(ring_path, ro_fd);
	CHECK(access(ring_path, F_OK) != 0 && errno == ENOENT);
	rc_unmap(&ring_map);
	close(fd);
	close(ro_fd);
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	snprintf(ring_path, sizeof(ring_path), "%s/bus.ring", dir);
	snprintf(ack_a_path, sizeof(ack_a_path), "%s/bus.ack.a", dir);
	snprintf(ack_b_path, sizeof(ack_b_path), "%s/bus.ack.b", dir);
	RUN(join_then_read_in_order);
	RUN(hostile_join_requests_are_refused);
	RUN(configured_peer_ids_bind_guests);
	RUN(peer_leaving_the_server_evicts_dead_and_rejoin_works);
	RUN(broken_server_and_bad_regions);
	RUN(mixed_bus_ring_link_and_reserved_slots);
	unlink(ring_path);
	unlink(ack_a_path);
	unlink(ack_b_path);
	rmdir(dir);
	return rc_test_done("ivshmem");
}
