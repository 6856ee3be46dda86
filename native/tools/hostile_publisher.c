// SPDX-License-Identifier: MIT
/*
 * A publisher that hands its one subscriber something it must refuse, or a
 * ring that goes bad after the attach.
 *
 *   hostile_publisher <socket> unsealed | short | not-memfd | blocking-doorbell | pipe-doorbell
 *       the welcome carries a region or doorbell the subscriber must refuse
 *       (blocking-doorbell: an eventfd without O_NONBLOCK; pipe-doorbell: a
 *       pipe, not an eventfd)
 *   hostile_publisher <socket> corrupt-frame | head-beyond | head-backwards
 *       a valid attach and one good message, then the ring breaks the rules
 *   hostile_publisher <socket> endless-fragments | huge-declared
 *       a valid attach and one good message, then a first fragment (declaring
 *       1 MiB, or 1 TiB) followed by middle fragments, 256 MiB of them: a
 *       reader that reassembles without a bound keeps allocating
 */
#include "hostile_common.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#define CAPACITY (64u * 1024u)

/* A formatted ring in a memfd; sealed or not. `claimed` is the capacity the
 * descriptor states, which a lying publisher makes larger than the memfd. */
static int make_ring(bool seal, uint64_t claimed, struct rc_mapping *map)
{
	int fd = memfd_create("hostile-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint64_t size = rc_ring_size(CAPACITY);

	if (fd < 0 || ftruncate(fd, (off_t)size) || rc_map(fd, size, 1, map) < 0)
		die("ring", errno);
	rc_ring_format(map->addr, CAPACITY, 0, RC_POLICY_BLOCK, 77, (uint32_t)getpid());
	((struct rc_ring_desc *)map->addr)->capacity = claimed;
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		die("seal", errno);
	return fd;
}

/* Appends one raw record as a lying publisher would, within flow control
 * (the subscriber's ack), and commits it. False when the subscriber stopped
 * making room for 10 s (it gave up on this bus). */
static bool append_record(struct rc_publisher *pub, const struct rc_ack_page *ack, int doorbell,
			  uint16_t flags, uint64_t seq, const void *lead, uint32_t lead_length, uint32_t length)
{
	uint64_t record = (RC_RECORD_HEADER_SIZE + length + RC_RECORD_ALIGN - 1) & ~(uint64_t)(RC_RECORD_ALIGN - 1);
	uint64_t to_end = pub->capacity - (pub->tail & pub->mask);
	uint64_t need = record > to_end ? to_end + record : record;
	struct rc_record_header h = { .length = length, .type = RC_RECORD_DATA, .flags = flags, .seq = seq };
	uint8_t *at;

	for (int i = 0; pub->tail + need - __atomic_load_n(&ack->ack, __ATOMIC_ACQUIRE) > pub->capacity; i++) {
		if (i == 10000)
			return false;
		sleep_ms(1);
	}
	__atomic_store_n(&pub->desc->tail_intent, pub->tail + need, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (record > to_end) {
		struct rc_record_header pad = { .length = (uint32_t)(to_end - RC_RECORD_HEADER_SIZE), .type = RC_RECORD_PAD };

		memcpy(pub->data + (pub->tail & pub->mask), &pad, sizeof(pad));
		pub->tail += to_end;
	}
	at = pub->data + (pub->tail & pub->mask);
	memcpy(at, &h, sizeof(h));
	memset(at + RC_RECORD_HEADER_SIZE, 0x5a, length);
	if (lead_length)
		memcpy(at + RC_RECORD_HEADER_SIZE, lead, lead_length);
	pub->tail += record;
	pub->head = pub->tail;
	__atomic_store_n(&pub->desc->head, pub->tail, __ATOMIC_RELEASE);
	rc_eventfd_ring(doorbell);
	return true;
}

int main(int argc, char **argv)
{
	struct rc_control_msg msg;
	int fds[RC_MAX_FDS_PER_MESSAGE], nfds, lfd, sock, ack_fd, doorbell, wake;
	struct rc_mapping ring = { 0 }, ack = { 0 };
	struct rc_publisher pub;
	struct rc_peer peer;
	const char *mode;
	int ring_fd, pipe_fds[2];
	uint64_t generation = 0, offset = 0;
	struct pollfd p;

	if (argc != 3)
		return 64;
	mode = argv[2];
	lfd = rc_unix_listen(argv[1], 4);
	if (lfd < 0)
		die("listen", lfd);
	printf("listening\n");
	fflush(stdout);
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	poll(&p, 1, 10000);
	sock = rc_unix_accept(lfd, &peer);
	if (sock < 0)
		die("accept", sock);
	recv_msg(sock, &msg, fds, &nfds);

	ring_fd = make_ring(strcmp(mode, "unsealed") != 0, !strcmp(mode, "short") ? 2 * CAPACITY : CAPACITY, &ring);
	if (!strcmp(mode, "short")) {
		/* The descriptor claims a ring twice the memfd's size. */
	} else if (rc_pub_init(&pub, ring.addr, ring.size) != RC_OK) {
		die("pub init", EINVAL);
	}
	if (rc_ack_memfd_create(RC_ACK_PAGE_SIZE, &ack_fd, &ack) < 0)
		die("ack", errno);
	if (!strcmp(mode, "short")) {
		struct rc_publisher fake = { 0 };

		fake.desc = ring.addr;
		rc_ack_page_format(ack.addr, &fake, 0, 1);
	} else {
		rc_ack_page_format(ack.addr, &pub, 0, 1);
		rc_pub_attach(&pub, 0, ack.addr, -1, 0, 0, &generation);
	}
	doorbell = rc_eventfd_create();
	wake = rc_eventfd_create();
	if (!strcmp(mode, "blocking-doorbell")) {
		doorbell = eventfd(0, EFD_CLOEXEC);
		if (doorbell < 0)
			die("eventfd", errno);
	}
	if (!strcmp(mode, "pipe-doorbell")) {
		if (pipe(pipe_fds))
			die("pipe", errno);
		doorbell = pipe_fds[0];
	}
	if (!strcmp(mode, "not-memfd")) {
		char path[] = "/tmp/hostile-ringXXXXXX";
		int plain = mkstemp(path);

		unlink(path);
		if (plain < 0 || ftruncate(plain, (off_t)rc_ring_size(CAPACITY)))
			die("tmpfile", errno);
		ring_fd = plain;
	}

	memset(&msg, 0, sizeof(msg));
	msg.type = RC_CONTROL_WELCOME;
	msg.u.welcome.version = 1;
	msg.u.welcome.slot = 0;
	msg.u.welcome.generation = generation ? generation : 1;
	send_msg(sock, &msg, (int[]){ ring_fd, ack_fd, doorbell, wake }, 4);
	printf("welcomed\n");
	fflush(stdout);

	if (!strcmp(mode, "endless-fragments") || !strcmp(mode, "huge-declared")) {
		struct rc_first_fragment first = {
			.message_length = !strcmp(mode, "huge-declared") ? 1ULL << 40 : 1u << 20,
		};
		const struct rc_ack_page *ack_page = ack.addr;
		uint8_t good[32] = "one good message";
		uint64_t sent = 0;

		rc_pub_write(&pub, good, sizeof(good), &offset);
		rc_pub_commit(&pub);
		rc_eventfd_ring(doorbell);
		/* Its first fragment, then middle fragments of the same message
		 * well past what it declared. */
		if (append_record(&pub, ack_page, doorbell, RC_FRAG_FIRST, 1, &first, sizeof(first), pub.max_payload)) {
			while (sent < (256u << 20) &&
			       append_record(&pub, ack_page, doorbell, 0, 1, NULL, 0, pub.max_payload))
				sent += pub.max_payload;
		}
		printf("sent %llu bytes of fragments\n", (unsigned long long)sent);
		fflush(stdout);
	}
	if (!strcmp(mode, "corrupt-frame") || !strcmp(mode, "head-beyond") || !strcmp(mode, "head-backwards")) {
		struct rc_ring_desc *desc = ring.addr;
		uint8_t good[32] = "one good message";

		rc_pub_write(&pub, good, sizeof(good), &offset);
		rc_pub_commit(&pub);
		rc_eventfd_ring(doorbell);
		/* Break the ring only once the subscriber has read the good message
		 * (its ack says so), so the test does not depend on timing. */
		for (int i = 0; i < 1000 && __atomic_load_n(&((struct rc_ack_page *)ack.addr)->ack, __ATOMIC_ACQUIRE) != pub.head; i++)
			sleep_ms(5);
		if (!strcmp(mode, "corrupt-frame")) {
			struct rc_record_header h = { .length = 0xfffffff0u, .type = RC_RECORD_DATA, .flags = 3 };

			memcpy(pub.data + (pub.tail & pub.mask), &h, sizeof(h));
			__atomic_store_n(&desc->head, pub.tail + 64, __ATOMIC_RELEASE);
		} else if (!strcmp(mode, "head-beyond")) {
			__atomic_store_n(&desc->head, pub.tail + 4 * (uint64_t)CAPACITY, __ATOMIC_RELEASE);
		} else {
			__atomic_store_n(&desc->head, 0, __ATOMIC_RELEASE);
		}
		rc_eventfd_ring(doorbell);
	}
	/* Stay until the subscriber hangs up (or 10 s). */
	{
		unsigned char buf[RC_CONTROL_MAX_SIZE];

		for (int i = 0; i < 1000; i++) {
			int r = rc_unix_recv(sock, buf, sizeof(buf), fds, &nfds);

			if (r == 0 || (r < 0 && r != -EAGAIN))
				break;
			sleep_ms(10);
		}
	}
	return 0;
}
