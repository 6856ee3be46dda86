// SPDX-License-Identifier: MIT
/*
 * The two limits the Node-level figures are measured against:
 *
 *   limits memcpy <size> <seconds>
 *       memcpy of <size>-byte blocks through a 64 MiB buffer: GB/s
 *   limits core <size> <subscribers> <seconds>
 *       the C core alone, no Node: a publisher and N subscriber processes
 *       over a sealed memfd ring (4 MiB), batches of 256 messages per head
 *       store, subscribers copying every message out (rc_sub_read) and
 *       polling (yielding the CPU after a while with nothing to do, since
 *       there may be more runnable processes than cores); per-subscriber
 *       messages/s, MB/s,
 *       and the publisher's CPU time per message
 *
 * Prints one JSON object per run on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rc_os.h"
#include "ringcast.h"

#define CAPACITY (4u << 20)
#define BATCH 256
#define MAX_SUBS 16

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_memcpy(size_t size, double seconds)
{
	size_t span = 64u << 20;
	uint8_t *src = malloc(span), *dst = malloc(span);
	uint64_t bytes = 0;
	size_t off = 0;
	double start, end;

	if (!src || !dst)
		return 1;
	memset(src, 1, span);
	memset(dst, 0, span);
	start = now_s();
	do {
		for (int i = 0; i < 64; i++) {
			if (off + size > span)
				off = 0;
			memcpy(dst + off, src + off, size);
			off += size;
			bytes += size;
		}
		end = now_s();
	} while (end - start < seconds);
	printf("{\"transport\":\"memcpy\",\"size\":%zu,\"mbPerSec\":%.1f,\"msgsPerSec\":%.0f}\n", size,
	       (double)bytes / (end - start) / 1e6, (double)(bytes / size) / (end - start));
	free(src);
	free(dst);
	return 0;
}

/* This process's CPU time (user + system), for the publisher's cost per message. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Shared between the processes of one run (a MAP_SHARED anonymous page). */
struct control {
	volatile int ready;
	volatile int go;
	volatile uint64_t received[MAX_SUBS];
	volatile double finished[MAX_SUBS];
};

static int run_core(size_t size, int subs, double seconds)
{
	struct rc_mapping ring = { 0 };
	struct rc_publisher pub;
	struct control *ctl;
	struct rc_mapping acks[MAX_SUBS];
	int ack_fds[MAX_SUBS];
	int ring_fd, ro_fd, r;
	uint8_t *msg;
	uint64_t sent = 0;
	double start, end, last = 0, cpu0, cpu;
	pid_t pids[MAX_SUBS];

	if (subs < 1 || subs > MAX_SUBS)
		return 64;
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED)
		return 1;
	memset((void *)ctl, 0, sizeof(*ctl));
	if ((r = rc_ring_memfd_create(rc_ring_size(CAPACITY), &ring_fd, &ro_fd, &ring)) < 0 ||
	    rc_ring_format(ring.addr, CAPACITY, 0, RC_POLICY_BLOCK, 1, (uint32_t)getpid()) != RC_OK ||
	    rc_pub_init(&pub, ring.addr, ring.size) != RC_OK)
		return 1;
	if (size > pub.max_payload)
		return 64;
	for (int i = 0; i < subs; i++) {
		uint64_t generation;

		if (rc_ack_memfd_create(RC_ACK_PAGE_SIZE, &ack_fds[i], &acks[i]) < 0)
			return 1;
		rc_ack_page_format(acks[i].addr, &pub, (uint32_t)i, 1);
		rc_pub_attach(&pub, (uint32_t)i, acks[i].addr, -1, 0, 0, &generation);
	}
	for (int i = 0; i < subs; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct rc_subscriber sub;
			struct rc_mapping mine = { 0 }, ack = { 0 };
			static struct rc_entry entries[4096];
			static uint8_t out[1u << 20];
			uint64_t got = 0;
			unsigned idle = 0;

			if (rc_map(ro_fd, rc_ring_size(CAPACITY), 0, &mine) < 0 || rc_map(ack_fds[i], RC_ACK_PAGE_SIZE, 1, &ack) < 0 ||
			    rc_sub_init(&sub, mine.addr, mine.size, ack.addr, ack.size, -1) != RC_OK)
				_exit(1);
			__atomic_add_fetch(&ctl->ready, 1, __ATOMIC_SEQ_CST);
			for (;;) {
				int n = rc_sub_read(&sub, out, sizeof(out), entries, 4096);

				if (n == RC_ECLOSED)
					break;
				if (n < 0)
					_exit(2);
				/* Spin a while, then give the CPU away: there may be
				 * more runnable processes than cores (ours, or other
				 * work on a shared machine, which pure spinning turned
				 * into timeslice-long stalls). With nothing else to
				 * run, sched_yield returns at once. */
				idle = n == 0 ? idle + 1 : 0;
				if (idle > 1024)
					sched_yield();
				got += (uint64_t)n;
			}
			ctl->received[i] = got;
			ctl->finished[i] = now_s();
			_exit(0);
		}
	}
	while (__atomic_load_n(&ctl->ready, __ATOMIC_SEQ_CST) < subs)
		usleep(1000);
	msg = calloc(1, size ? size : 1);
	cpu0 = cpu_s();
	start = now_s();
	do {
		int written = 0;
		unsigned full = 0;

		while (written < BATCH) {
			if (rc_pub_offer(&pub, msg, size) == RC_OK)
				written++;
			else if (written) /* publish what fits, then keep trying */
				break;
			else if (++full > 1024)
				sched_yield(); /* ring full for a while: let the subscribers run */
		}
		rc_pub_commit(&pub);
		sent += (uint64_t)written;
		end = now_s();
	} while (end - start < seconds);
	rc_pub_close(&pub);
	cpu = cpu_s() - cpu0;
	for (int i = 0; i < subs; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || ctl->received[i] != sent) {
			fprintf(stderr, "subscriber %d: status %d, received %" PRIu64 " of %" PRIu64 "\n", i, status,
				(uint64_t)ctl->received[i], sent);
			return 1;
		}
		if (ctl->finished[i] > last)
			last = ctl->finished[i];
	}
	printf("{\"transport\":\"c-core\",\"size\":%zu,\"subscribers\":%d,\"messages\":%" PRIu64
	       ",\"seconds\":%.3f,\"msgsPerSec\":%.0f,\"mbPerSec\":%.1f,\"publisherCpuNsPerMsg\":%.1f}\n",
	       size, subs, sent, last - start, (double)sent / (last - start), (double)sent * (double)size / (last - start) / 1e6,
	       sent ? cpu * 1e9 / (double)sent : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "memcpy"))
		return run_memcpy(strtoull(argv[2], NULL, 0), atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "core"))
		return run_core(strtoull(argv[2], NULL, 0), atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: limits memcpy <size> <seconds> | limits core <size> <subscribers> <seconds>\n");
	return 64;
}
