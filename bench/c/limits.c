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
 *   limits latency <size> <iterations> <warmup> <doorbell|spin>
 *       the C core alone, no Node: ping-pong round trips of one <size>-byte
 *       message over two memfd rings of 1 MiB (ping: parent to child, pong:
 *       child to parent, echoing each message), <warmup> untimed first;
 *       doorbell: the waiting side sleeps in read() on its eventfd with the
 *       core's sleep protocol (rc_sub_prepare_wait / rc_sub_end_wait), the
 *       publishing side's core rings it; spin: both sides poll rc_sub_read
 *       and never sleep. p50/p99/p99.9 and a CDF of the round trips
 *   limits publish-path <size> <subscribers> <messages>
 *       the publish path alone, for an instruction count that the machine's
 *       load cannot change: one process, a 4 MiB ring with N subscribers
 *       reading in the same process between batches; publish_batch (offers
 *       of up to 256 messages, one commit) is the function to count, e.g.
 *       valgrind --tool=callgrind --toggle-collect=publish_batch
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rc_memfd.h"
#include "ringcast.h"

#define CAPACITY (4u << 20)
#define BATCH 256
#define MAX_SUBS 16

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double now_s(void)
{
	return (double)now_ns() / 1e9;
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
	size_t distinct, next = 0;
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
	/* The publisher cycles through as many distinct messages as one batch
	 * holds, as the Node cases do (bench/lib.mjs messagePool): one buffer
	 * copied over and over would be a copy from L1 that no publisher of
	 * real messages gets. */
	distinct = CAPACITY / (size ? size : 1);
	distinct = distinct > BATCH ? BATCH : distinct < 1 ? 1 : distinct;
	msg = malloc(distinct * (size ? size : 1));
	if (!msg)
		return 1;
	for (size_t i = 0; i < distinct * size; i++)
		msg[i] = (uint8_t)(i * 2654435761u >> 24);
	cpu0 = cpu_s();
	start = now_s();
	do {
		int written = 0;
		unsigned full = 0;

		while (written < BATCH) {
			if (rc_pub_offer(&pub, msg + next * size, size) == RC_OK) {
				written++;
				next = next + 1 == distinct ? 0 : next + 1;
			} else if (written) /* publish what fits, then keep trying */
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

#define LATENCY_CAPACITY (1u << 20) /* what the Node latency buses use */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least p% of them at or below it. */
static uint64_t at_percentile(const uint64_t *sorted, long n, double p)
{
	double x = p / 100.0 * (double)n - 1e-6;
	long rank = (long)x;

	if ((double)rank < x)
		rank++;
	rank = rank < 1 ? 1 : rank > n ? n : rank;
	return sorted[rank - 1];
}

/* Set (and the parent's doorbell rung) when the child exits, so a parent
 * waiting for an echo that will never come wakes up. */
static volatile sig_atomic_t child_gone;
static int parent_doorbell = -1;

static void on_sigchld(int sig)
{
	uint64_t one = 1;
	int saved = errno;

	(void)sig;
	child_gone = 1;
	if (write(parent_doorbell, &one, sizeof(one)) < 0) {
		/* nothing more to do: the flag is set */
	}
	errno = saved;
}

/* The next message: polls rc_sub_read, and with a doorbell sleeps the way
 * the core's protocol says (announce, re-check, block, end the sleep). */
static int next_message(struct rc_subscriber *sub, int doorbell, bool use_doorbell, uint8_t *out, uint64_t cap,
			struct rc_entry *entry, bool parent)
{
	for (;;) {
		int n = rc_sub_read(sub, out, cap, entry, 1);
		uint64_t count;
		ssize_t r;

		if (n != 0)
			return n;
		if (parent && child_gone)
			return RC_ECLOSED;
		if (!use_doorbell || !rc_sub_prepare_wait(sub))
			continue;
		r = read(doorbell, &count, sizeof(count));
		rc_sub_end_wait(sub);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "latency: read from eventfd: %s\n", strerror(errno));
			return RC_EINVAL;
		}
	}
}

/*
 * RINGCAST_BENCH_PIN=cross|same (the Node latency cases read it too): the
 * pinger on CPU 0, the echo side on CPU 1 or also on 0. Unset, the scheduler
 * places them, and a woken round trip's p50 depends on how often it put
 * both on one CPU (a context switch) rather than two (a wake-up from halt).
 */
static void pin_for_latency(bool echo_side)
{
	const char *pin = getenv("RINGCAST_BENCH_PIN");
	cpu_set_t cpus;

	if (!pin || (strcmp(pin, "cross") && strcmp(pin, "same")))
		return;
	CPU_ZERO(&cpus);
	CPU_SET(echo_side && !strcmp(pin, "cross") ? 1 : 0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
		fprintf(stderr, "latency: cannot pin to a CPU: %s\n", strerror(errno));
}

static int run_latency(size_t size, long iterations, long warmup, const char *wake)
{
	struct rc_mapping ping = { 0 }, pong = { 0 }, ping_ack, pong_ack, mine = { 0 }, ack = { 0 };
	struct rc_publisher pub;
	struct rc_subscriber sub;
	struct rc_entry entry;
	struct control *ctl;
	bool use_doorbell = !strcmp(wake, "doorbell");
	int ping_fd, ping_ro, pong_fd, pong_ro, ping_ack_fd, pong_ack_fd, parent_efd, child_efd, n, status;
	uint64_t generation, *rtt, sum = 0;
	uint8_t *msg, *out;
	struct sigaction sa;
	pid_t pid;
	static const double percentiles[] = { 0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100 };

	if ((!use_doorbell && strcmp(wake, "spin")) || iterations < 1 || warmup < 0) {
		fprintf(stderr, "latency: wake-up is doorbell or spin, iterations >= 1, warmup >= 0\n");
		return 64;
	}
	if (size > rc_default_max_payload(LATENCY_CAPACITY))
		return 64; /* larger than one record */
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	rtt = malloc((size_t)iterations * sizeof(*rtt));
	msg = calloc(1, size ? size : 1);
	out = malloc(rc_default_max_payload(LATENCY_CAPACITY));
	if (ctl == MAP_FAILED || !rtt || !msg || !out)
		return 1;
	memset((void *)ctl, 0, sizeof(*ctl));
	memset(msg, 0x5a, size);
	/* Blocking eventfds: a sleeper blocks in read() itself. */
	parent_efd = eventfd(0, EFD_CLOEXEC);
	child_efd = eventfd(0, EFD_CLOEXEC);
	if (parent_efd < 0 || child_efd < 0 ||
	    rc_ring_memfd_create(rc_ring_size(LATENCY_CAPACITY), &ping_fd, &ping_ro, &ping) < 0 ||
	    rc_ring_memfd_create(rc_ring_size(LATENCY_CAPACITY), &pong_fd, &pong_ro, &pong) < 0 ||
	    rc_ack_memfd_create(RC_ACK_PAGE_SIZE, &ping_ack_fd, &ping_ack) < 0 ||
	    rc_ack_memfd_create(RC_ACK_PAGE_SIZE, &pong_ack_fd, &pong_ack) < 0) {
		fprintf(stderr, "latency: cannot create the rings, ack pages or eventfds\n");
		return 1;
	}
	parent_doorbell = parent_efd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	/* ping: the parent publishes, rings the child's doorbell. */
	if (rc_ring_format(ping.addr, LATENCY_CAPACITY, 0, RC_POLICY_BLOCK, 1, (uint32_t)getpid()) != RC_OK ||
	    rc_pub_init(&pub, ping.addr, ping.size) != RC_OK)
		return 1;
	rc_ack_page_format(ping_ack.addr, &pub, 0, 1);
	rc_pub_attach(&pub, 0, ping_ack.addr, child_efd, 0, 0, &generation);

	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		/* The echo side: publishes pong (ringing the parent's doorbell),
		 * subscribes to ping; dies with the parent. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		pin_for_latency(true);
		rc_unmap(&ping);
		if (rc_ring_format(pong.addr, LATENCY_CAPACITY, 0, RC_POLICY_BLOCK, 2, (uint32_t)getpid()) != RC_OK ||
		    rc_pub_init(&pub, pong.addr, pong.size) != RC_OK)
			_exit(1);
		rc_ack_page_format(pong_ack.addr, &pub, 0, 1);
		rc_pub_attach(&pub, 0, pong_ack.addr, parent_efd, 0, 0, &generation);
		if (rc_map(ping_ro, rc_ring_size(LATENCY_CAPACITY), 0, &mine) < 0 ||
		    rc_map(ping_ack_fd, RC_ACK_PAGE_SIZE, 1, &ack) < 0 ||
		    rc_sub_init(&sub, mine.addr, mine.size, ack.addr, ack.size, parent_efd) != RC_OK)
			_exit(1);
		__atomic_store_n(&ctl->ready, 1, __ATOMIC_SEQ_CST);
		for (;;) {
			n = next_message(&sub, child_efd, use_doorbell, out, rc_default_max_payload(LATENCY_CAPACITY), &entry, false);
			if (n == RC_ECLOSED)
				break;
			if (n != 1) {
				fprintf(stderr, "latency: echo side read %d (%s)\n", n, n < 0 ? rc_status_name(n) : "records");
				_exit(2);
			}
			if (rc_pub_offer(&pub, out + entry.offset, entry.length) != RC_OK) {
				fprintf(stderr, "latency: no room for the echo\n");
				_exit(2);
			}
			rc_pub_commit(&pub);
		}
		rc_pub_close(&pub);
		_exit(0);
	}
	rc_unmap(&pong);
	pin_for_latency(false);
	while (!__atomic_load_n(&ctl->ready, __ATOMIC_SEQ_CST)) {
		if (child_gone)
			goto child_failed;
		usleep(1000);
	}
	/* pong: the parent subscribes; the child's core rings parent_efd. */
	if (rc_map(pong_ro, rc_ring_size(LATENCY_CAPACITY), 0, &mine) < 0 || rc_map(pong_ack_fd, RC_ACK_PAGE_SIZE, 1, &ack) < 0 ||
	    rc_sub_init(&sub, mine.addr, mine.size, ack.addr, ack.size, child_efd) != RC_OK) {
		fprintf(stderr, "latency: cannot subscribe to the echoes\n");
		kill(pid, SIGKILL);
		return 1;
	}
	for (long i = -warmup; i < iterations; i++) {
		uint64_t t0 = now_ns();

		if (rc_pub_offer(&pub, msg, size) != RC_OK) {
			fprintf(stderr, "latency: no room for the ping\n");
			kill(pid, SIGKILL);
			return 1;
		}
		rc_pub_commit(&pub);
		n = next_message(&sub, parent_efd, use_doorbell, out, rc_default_max_payload(LATENCY_CAPACITY), &entry, true);
		if (n != 1 || entry.length != size) {
			if (child_gone)
				goto child_failed;
			fprintf(stderr, "latency: bad echo (%d, %s)\n", n, n < 0 ? rc_status_name(n) : "length");
			kill(pid, SIGKILL);
			return 1;
		}
		if (i >= 0)
			rtt[i] = now_ns() - t0;
	}
	rc_pub_close(&pub);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "latency: echo side: status %d\n", status);
		return 1;
	}
	qsort(rtt, (size_t)iterations, sizeof(*rtt), cmp_u64);
	for (long i = 0; i < iterations; i++)
		sum += rtt[i];
	printf("{\"transport\":\"c-core\",\"scenario\":\"latency\",\"wake\":\"%s\",\"size\":%zu,\"iterations\":%ld,\"samples\":%ld,"
	       "\"p50Ns\":%" PRIu64 ",\"p99Ns\":%" PRIu64 ",\"p999Ns\":%" PRIu64 ",\"meanNs\":%.0f,\"maxNs\":%" PRIu64 ",\"cdf\":[",
	       wake, size, iterations, iterations, at_percentile(rtt, iterations, 50), at_percentile(rtt, iterations, 99),
	       at_percentile(rtt, iterations, 99.9), (double)sum / (double)iterations, rtt[iterations - 1]);
	for (size_t i = 0; i < sizeof(percentiles) / sizeof(percentiles[0]); i++)
		printf("%s[%g,%" PRIu64 "]", i ? "," : "", percentiles[i], at_percentile(rtt, iterations, percentiles[i]));
	printf("]}\n");
	return 0;

child_failed:
	waitpid(pid, &status, 0);
	fprintf(stderr, "latency: echo side exited early: status %d\n", status);
	return 1;
}

/* The publish path: offers while they fit, at most BATCH, then one commit.
 * Not inlined, so that callgrind can count exactly this. */
__attribute__((noinline)) static int publish_batch(struct rc_publisher *pub, const uint8_t *msgs, size_t size,
						    size_t distinct, size_t *next)
{
	int written = 0;

	while (written < BATCH && rc_pub_offer(pub, msgs + *next * size, size) == RC_OK) {
		written++;
		*next = *next + 1 == distinct ? 0 : *next + 1;
	}
	rc_pub_commit(pub);
	return written;
}

static int run_publish_path(size_t size, int subs, uint64_t messages)
{
	static struct rc_entry entries[4096];
	static uint8_t out[1u << 20];
	struct rc_subscriber readers[MAX_SUBS];
	uint8_t *ring = aligned_alloc(RC_PAGE_SIZE, rc_ring_size(CAPACITY));
	uint8_t *acks = aligned_alloc(RC_PAGE_SIZE, (size_t)MAX_SUBS * RC_ACK_PAGE_SIZE);
	size_t distinct = BATCH, next = 0;
	uint8_t *msgs = malloc(distinct * (size ? size : 1));
	struct rc_publisher pub;
	uint64_t sent = 0;

	if (subs < 1 || subs > MAX_SUBS || !ring || !acks || !msgs)
		return 64;
	memset(ring, 0, rc_ring_size(CAPACITY));
	if (rc_ring_format(ring, CAPACITY, 0, RC_POLICY_BLOCK, 1, (uint32_t)getpid()) != RC_OK ||
	    rc_pub_init(&pub, ring, rc_ring_size(CAPACITY)) != RC_OK)
		return 1;
	if (size > pub.max_payload)
		return 64;
	for (size_t i = 0; i < distinct * size; i++)
		msgs[i] = (uint8_t)(i * 2654435761u >> 24);
	for (int i = 0; i < subs; i++) {
		uint8_t *ack = acks + (size_t)i * RC_ACK_PAGE_SIZE;
		uint64_t generation;

		rc_ack_page_format(ack, &pub, (uint32_t)i, 1);
		rc_pub_attach(&pub, (uint32_t)i, (struct rc_ack_page *)ack, -1, 0, 0, &generation);
		if (rc_sub_init(&readers[i], ring, rc_ring_size(CAPACITY), ack, RC_ACK_PAGE_SIZE, -1) != RC_OK)
			return 1;
	}
	while (sent < messages) {
		sent += (uint64_t)publish_batch(&pub, msgs, size, distinct, &next);
		for (int i = 0; i < subs; i++)
			while (rc_sub_read(&readers[i], out, sizeof(out), entries, 4096) > 0)
				;
	}
	printf("{\"transport\":\"c-core\",\"size\":%zu,\"subscribers\":%d,\"messages\":%" PRIu64 "}\n", size, subs, sent);
	free(msgs);
	free(acks);
	free(ring);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "memcpy"))
		return run_memcpy(strtoull(argv[2], NULL, 0), atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "core"))
		return run_core(strtoull(argv[2], NULL, 0), atoi(argv[3]), atof(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "latency"))
		return run_latency(strtoull(argv[2], NULL, 0), atol(argv[3]), atol(argv[4]), argv[5]);
	if (argc == 5 && !strcmp(argv[1], "publish-path"))
		return run_publish_path(strtoull(argv[2], NULL, 0), atoi(argv[3]), strtoull(argv[4], NULL, 0));
	fprintf(stderr, "usage: limits memcpy <size> <seconds> | limits core <size> <subscribers> <seconds> |\n"
			"       limits latency <size> <iterations> <warmup> <doorbell|spin> |\n"
			"       limits publish-path <size> <subscribers> <messages>\n");
	return 64;
}
