// SPDX-License-Identifier: MIT
/*
 * A subscriber that attaches properly, then attacks through the only memory
 * it may write (its ack page) or through its descriptors.
 *
 *   hostile_subscriber <socket> ack-backwards | ack-beyond | ack-random
 *       write a bad ack, then report the eviction it got: "evicted <reason>"
 *   hostile_subscriber <socket> resize
 *       try to grow/shrink/write/map-writable the ring; print what each got
 *   hostile_subscriber <socket> doorbell-storm
 *       ring the publisher's doorbell as fast as it can for 500 ms: prints
 *       "storming" first, then "storm over N rings" (N that succeeded)
 */
#include "hostile_common.h"

#include <fcntl.h>
#include <sys/mman.h>

#include "slot_mirror.h"

static const char *outcome(int r)
{
	return r == 0 ? "allowed" : strerror(errno);
}

int main(int argc, char **argv)
{
	struct rc_control_msg msg = { .type = RC_CONTROL_HELLO };
	int fds[RC_MAX_FDS_PER_MESSAGE], nfds = 0, sock;
	struct rc_mapping ring = { 0 }, ack = { 0 };
	const struct rc_ring_desc *desc;
	struct rc_ack_page *page;
	const char *mode;
	off_t size;
	int r;

	if (argc != 3)
		return 64;
	mode = argv[2];
	sock = rc_unix_connect(argv[1]);
	if (sock < 0)
		die("connect", sock);
	msg.u.hello.version = 1;
	msg.u.hello.role = RC_ROLE_SUBSCRIBE;
	send_msg(sock, &msg, NULL, 0);
	recv_msg(sock, &msg, fds, &nfds);
	if (msg.type != RC_CONTROL_WELCOME || nfds != 4)
		die("welcome", EPROTO);
	size = lseek(fds[0], 0, SEEK_END);
	if ((r = rc_map(fds[0], (uint64_t)size, 0, &ring)) < 0 || (r = rc_map(fds[1], RC_ACK_PAGE_SIZE, 1, &ack)) < 0)
		die("map", r);
	desc = ring.addr;
	page = ack.addr;
	printf("attached\n");
	fflush(stdout);

	if (!strcmp(mode, "resize")) {
		char byte = 1, proc_path[64];
		void *w;
		int rw;

		/* The descriptor we were given is read-only; a read-write reopen
		 * through /proc succeeds, so the seals are what must hold. */
		snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fds[0]);
		rw = open(proc_path, O_RDWR);
		printf("reopen-rw: %s\n", rw >= 0 ? "allowed" : strerror(errno));
		if (rw < 0)
			rw = fds[0];
		r = ftruncate(rw, size * 2);
		printf("grow: %s\n", outcome(r));
		r = ftruncate(rw, size / 2);
		printf("shrink: %s\n", outcome(r));
		r = (int)pwrite(rw, &byte, 1, RC_DESC_SIZE);
		printf("write: %s\n", r == 1 ? "allowed" : strerror(errno));
		w = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
		printf("map-writable: %s\n", w == MAP_FAILED ? strerror(errno) : "allowed");
		r = mprotect(ring.addr, ring.size, PROT_READ | PROT_WRITE);
		printf("mprotect-writable: %s\n", outcome(r));
		r = fcntl(rw, F_ADD_SEALS, F_SEAL_WRITE);
		printf("add-seal: %s\n", outcome(r));
		fflush(stdout);
		return 0;
	}
	if (!strcmp(mode, "doorbell-storm")) {
		struct timespec start, now;
		unsigned long long rung = 0;

		printf("storming\n");
		fflush(stdout);
		clock_gettime(CLOCK_MONOTONIC, &start);
		do {
			for (int i = 0; i < 1000; i++)
				rung += rc_eventfd_ring(fds[3]) == 0;
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 500);
		printf("storm over %llu rings\n", rung);
		fflush(stdout);
		return 0;
	}

	/* Wait until something was published so "backwards" has room to go. */
	while (__atomic_load_n(&desc->head, __ATOMIC_ACQUIRE) == 0)
		sleep_ms(5);
	if (!strcmp(mode, "ack-backwards")) {
		uint64_t forward = __atomic_load_n(&desc->head, __ATOMIC_ACQUIRE);

		/* Go forward, wait until the publisher has seen it (its mirror says
		 * so: a backwards step it never saw the start of is no step), then
		 * go back. */
		__atomic_store_n(&page->ack, forward, __ATOMIC_RELEASE);
		for (int i = 0; i < 1000 && __atomic_load_n(&mirror_of(ring.addr, page->slot)->ack, __ATOMIC_RELAXED) != forward; i++)
			sleep_ms(5);
		__atomic_store_n(&page->ack, 0, __ATOMIC_RELEASE);
	} else if (!strcmp(mode, "ack-beyond")) {
		__atomic_store_n(&page->ack, __atomic_load_n(&desc->head, __ATOMIC_ACQUIRE) + (1u << 20), __ATOMIC_RELEASE);
	} else if (!strcmp(mode, "ack-random")) {
		srand((unsigned)getpid());
		for (int i = 0; i < 1000 && __atomic_load_n(&mirror_of(ring.addr, page->slot)->state, __ATOMIC_ACQUIRE) != RC_SLOT_EVICTED; i++) {
			__atomic_store_n(&page->ack, ((uint64_t)rand() << 32) ^ (uint64_t)rand(), __ATOMIC_RELEASE);
			sleep_ms(1);
		}
	} else {
		return 64;
	}
	for (int i = 0; i < 1000; i++) {
		const struct rc_slot *m = mirror_of(ring.addr, page->slot);

		if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) == RC_SLOT_EVICTED) {
			printf("evicted %s\n", reason_name(m->evict_reason));
			fflush(stdout);
			return 0;
		}
		sleep_ms(10);
	}
	printf("not evicted\n");
	return 1;
}
