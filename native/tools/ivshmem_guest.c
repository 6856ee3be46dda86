/* SPDX-License-Identifier: MIT */
/*
 * ringcast-ivshmem-guest: a subscriber that attaches through ivshmem with
 * the C entry point of native/include/rc_ivshmem.h (no Node). In a VM it
 * uses the kernel module's devices; on a host (tests) the ring and ack
 * files and the ivshmem server's eventfds.
 *
 *   ringcast-ivshmem-guest devices RING_DEV ACK_DEV DOORBELL_DEV count
 *   ringcast-ivshmem-guest files   RING_FILE ACK_FILE SERVER_SOCKET count
 *   ringcast-ivshmem-guest files   RING_FILE ACK_FILE SERVER_SOCKET hostile PEER REQUEST
 *   ringcast-ivshmem-guest files   RING_FILE ACK_FILE SERVER_SOCKET join-flood N
 *   ringcast-ivshmem-guest files|devices ... flap-ack CYCLES [PAUSE_MS]
 *
 * count: joins, prints "attached slot=S peer=P", reads whole messages until
 *   the publisher closes (one longer than a record reassembled with
 *   rc_sub_read_message), checking that message n starts with n and its own
 *   length (two u32 little-endian) and that byte i >= 8 is (n + 31 i) & 0xff
 *   (the tests' numbered messages); then prints one JSON line
 *   {"received":N,"inOrder":B,"intact":B,"fnv1a":"HEX","error":null|"NAME"}.
 *   Exit 0 when all was in order and intact.
 * hostile: writes a raw join request (peer id PEER, "self" for its own, and
 *   counter REQUEST) into the
 *   ack page, rings the host and prints {"request":R,"verdict":V} once the
 *   publisher answered (V: enum rc_join_verdict), or {"timeout":true}.
 * join-flood: N join requests as fast as it can write them, ringing the
 *   host after each, never waiting for an answer: every other one names
 *   another peer (refused), the rest its own (each a rejoin). Then one
 *   honest join; prints {"sent":N,"joined":B} and leaves.
 * flap-ack: joins, then CYCLES times: reads what there is, writes an ack
 *   that goes backwards (below where it joined; even cycles) or past head
 *   (odd), rings the host,
 *   waits to be evicted, waits PAUSE_MS (default 0) and joins again, asking
 *   again every 20 ms while the
 *   answer is BACKOFF. Prints {"cycles":C,"evicted":E,"rejoined":R,"held":H}
 *   (E: evictions it saw, H: joins answered BACKOFF).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_ivshmem.h"
#include "ringcast_barrier.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int usage(void)
{
	fprintf(stderr, "usage: ringcast-ivshmem-guest devices|files RING ACK DOORBELL|SERVER count\n"
			"       ringcast-ivshmem-guest files RING ACK SERVER hostile PEER REQUEST\n"
			"       ringcast-ivshmem-guest files RING ACK SERVER join-flood N | flap-ack CYCLES [PAUSE_MS]\n");
	return 2;
}

/* The host's doorbell: where our requests ring. */
static const struct rc_ivshmem_remote *host_of(struct rc_ivshmem_guest *g)
{
	const struct rc_ring_desc *desc = g->ring.addr;

	if (!(rc_load_acquire(&desc->ivshmem_flags) & RC_IVSHMEM_HOST_PEER_KNOWN))
		return NULL;
	return rc_ivshmem_peer_find(g->server, rc_load_relaxed(&desc->ivshmem_host_peer));
}

static int hostile(struct rc_ivshmem_guest *g, uint32_t peer, uint32_t request)
{
	struct rc_ack_page *page = g->ack.addr;
	const struct rc_join_answer *answer;
	const struct rc_ivshmem_remote *host;
	uint64_t deadline = now_ms() + 5000;

	if (page->slot >= RC_MAX_SUBSCRIBERS || !(host = host_of(g)))
		return 3;
	answer = rc_ring_join_answer_const(g->ring.addr, page->slot);
	rc_store_relaxed(&page->join_peer_id, peer);
	rc_store_release(&page->join_request, request);
	rc_eventfd_ring(host->fds[RC_IVSHMEM_VECTOR]);
	while (rc_load_acquire(&answer->request) != request) {
		struct pollfd pfd = { .fd = g->wait_fd, .events = POLLIN };
		uint64_t now = now_ms();

		if (now >= deadline) {
			printf("{\"timeout\":true}\n");
			return 1;
		}
		poll(&pfd, 1, 50);
		rc_eventfd_drain(g->wait_fd);
	}
	printf("{\"request\":%" PRIu32 ",\"verdict\":%" PRIu32 "}\n", request, rc_load_relaxed(&answer->verdict));
	return 0;
}

static int join_flood(struct rc_ivshmem_guest *g, uint32_t n)
{
	struct rc_ack_page *page = g->ack.addr;
	const struct rc_ivshmem_remote *host = host_of(g);
	bool joined;

	if (!host)
		return 3;
	for (uint32_t i = 1; i <= n; i++) {
		rc_store_relaxed(&page->join_peer_id, (i & 1) ? g->own_peer + 1000 : g->own_peer);
		rc_store_release(&page->join_request, i); /* [V2] */
		rc_eventfd_ring(host->fds[RC_IVSHMEM_VECTOR]);
	}
	joined = rc_ivshmem_guest_join(g, 10000) == RC_OK;
	printf("{\"sent\":%" PRIu32 ",\"joined\":%s}\n", n, joined ? "true" : "false");
	return joined ? 0 : 1;
}

static int flap_ack(struct rc_ivshmem_guest *g, uint32_t cycles, int pause_ms)
{
	static uint8_t buf[1 << 16];
	struct rc_entry entries[64];
	int r;
	uint32_t evicted = 0, rejoined = 0, held = 0, c;

	/* After a join g->host_fd rings the publisher, with files or devices. */
	if (rc_ivshmem_guest_join(g, 10000) != RC_OK)
		return 3;
	printf("attached slot=%" PRIu32 " peer=%" PRIu32 "\n", g->sub.slot, g->own_peer);
	for (c = 0; c < cycles; c++) {
		uint64_t deadline = now_ms() + 10000;
		/* Below where it joined is backwards whatever ack the publisher saw last. */
		uint64_t joined_at = g->sub.pos;
		bool backwards = !(c & 1) && joined_at > 0;

		rc_sub_read(&g->sub, buf, sizeof(buf), entries, 64);
		rc_store_release(&g->sub.ack_page->ack, backwards ? joined_at - 1 : UINT64_MAX);
		rc_eventfd_ring(g->host_fd);
		while (rc_sub_slot_state(&g->sub) != RC_SLOT_EVICTED) {
			if (now_ms() >= deadline)
				goto out;
			rc_ivshmem_guest_wait(g, 50);
		}
		evicted++;
		if (pause_ms > 0)
			poll(NULL, 0, pause_ms);
		while ((r = rc_ivshmem_guest_join(g, 10000)) == RC_EINVAL && g->last_verdict == RC_JOIN_BACKOFF &&
		       now_ms() < deadline + 120000) {
			held++;
			poll(NULL, 0, 20);
		}
		if (r != RC_OK)
			goto out;
		rejoined++;
	}
out:
	printf("{\"cycles\":%" PRIu32 ",\"evicted\":%" PRIu32 ",\"rejoined\":%" PRIu32 ",\"held\":%" PRIu32 "}\n", c, evicted,
	       rejoined, held);
	return c == cycles ? 0 : 1;
}

/* What count found so far: the tests' numbered messages, checked one by one. */
struct count_state {
	uint64_t received, fnv;
	bool in_order, intact;
};

/* Message n starts with n and its own length (two u32 little-endian); byte
 * i >= 8 is (n + 31 i) & 0xff (test/fixtures/numbered.mjs). */
static void count_message(struct count_state *cs, const uint8_t *m, uint64_t len)
{
	uint32_t seq, stated_len;

	if (len < 8) {
		cs->intact = false;
		return;
	}
	memcpy(&seq, m, 4);
	memcpy(&stated_len, m + 4, 4);
	if (seq != (uint32_t)cs->received)
		cs->in_order = false;
	if (stated_len != len)
		cs->intact = false;
	for (uint64_t k = 8; k < len; k++)
		if (m[k] != (uint8_t)((seq + k * 31) & 0xff))
			cs->intact = false;
	for (uint64_t k = 0; k < len; k++)
		cs->fnv = (cs->fnv ^ m[k]) * 0x100000001b3ULL;
	cs->received++;
}

/* The fragmented message that RC_EMESSAGE announced, reassembled by the core
 * (rc_sub_read_message) into one buffer: 0, or the status that ended it
 * (*error set when the publisher died in the middle of it). */
static int count_fragmented(struct rc_ivshmem_guest *g, struct count_state *cs, uint64_t *last_beat,
			    const char **error)
{
	uint64_t length = g->sub.frag.message_length, filled = 0;
	uint8_t *message = malloc(length ? length : 1);
	int r;

	if (!message)
		return RC_EINVAL;
	while ((r = rc_sub_read_message(&g->sub, message, length, &filled)) == 0) {
		if (now_ms() - *last_beat >= 200) {
			rc_sub_heartbeat(&g->sub);
			*last_beat = now_ms();
		}
		if (rc_ivshmem_guest_publisher_gone(g, now_ms(), 5000) && rc_sub_available(&g->sub) == 0) {
			*error = "PUBLISHER_GONE"; /* cut short: the message is not counted */
			r = RC_ECLOSED;
			break;
		}
		if (rc_ivshmem_guest_wait(g, 200) < 0) {
			*error = "wait";
			r = RC_ECLOSED;
			break;
		}
	}
	if (r == 1) {
		count_message(cs, message, length);
		r = 0;
	}
	free(message);
	return r;
}

static int count(struct rc_ivshmem_guest *g)
{
	static uint8_t buf[1 << 20];
	struct rc_entry entries[256];
	struct count_state cs = { .fnv = 0xcbf29ce484222325ULL, .in_order = true, .intact = true };
	uint64_t last_beat = now_ms();
	const char *error = NULL;
	int r;

	if ((r = rc_ivshmem_guest_join(g, 10000)) != RC_OK) {
		printf("{\"joinError\":%d,\"verdict\":%" PRIu32 "}\n", r, g->last_verdict);
		return 3;
	}
	/* A message longer than one record comes as RC_EMESSAGE, not as fragments. */
	rc_sub_hand_out_whole_messages(&g->sub);
	printf("attached slot=%" PRIu32 " peer=%" PRIu32 "\n", g->sub.slot, g->own_peer);
	fflush(stdout);
	for (;;) {
		int n = rc_sub_read(&g->sub, buf, sizeof(buf), entries, 256);

		if (now_ms() - last_beat >= 200) {
			rc_sub_heartbeat(&g->sub);
			last_beat = now_ms();
		}
		if (n == RC_EMESSAGE && (n = count_fragmented(g, &cs, &last_beat, &error)) == 0)
			continue; /* read on: more may be there already */
		if (n == 0) {
			/* No socket tells a guest that the publisher died. */
			if (rc_ivshmem_guest_publisher_gone(g, now_ms(), 5000) && rc_sub_available(&g->sub) == 0) {
				error = "PUBLISHER_GONE";
				break;
			}
			if (rc_ivshmem_guest_wait(g, 200) < 0) {
				error = "wait";
				break;
			}
			continue;
		}
		if (n < 0) {
			if (!error)
				error = n == RC_ECLOSED ? NULL : rc_status_name(n);
			break;
		}
		for (int i = 0; i < n; i++) {
			if (entries[i].flags != (RC_FRAG_FIRST | RC_FRAG_LAST)) {
				cs.intact = false; /* whole messages only, as asked */
				continue;
			}
			count_message(&cs, buf + entries[i].offset, entries[i].length);
		}
	}
	printf("{\"received\":%" PRIu64 ",\"inOrder\":%s,\"intact\":%s,\"fnv1a\":\"%016" PRIx64 "\",\"error\":%s%s%s}\n",
	       cs.received, cs.in_order ? "true" : "false", cs.intact ? "true" : "false", cs.fnv, error ? "\"" : "",
	       error ? error : "null", error ? "\"" : "");
	return cs.in_order && cs.intact && !error ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct rc_ivshmem_guest g;
	int r;

	if (argc < 6)
		return usage();
	if (strcmp(argv[1], "devices") == 0)
		r = rc_ivshmem_guest_open_devices(&g, argv[2], argv[3], argv[4]);
	else if (strcmp(argv[1], "files") == 0)
		r = rc_ivshmem_guest_open_files(&g, argv[2], argv[3], argv[4], -1);
	else
		return usage();
	if (r < 0) {
		fprintf(stderr, "ringcast-ivshmem-guest: open: %s\n", strerror(-r));
		return 3;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[5], "count") == 0)
		r = count(&g);
	else if (strcmp(argv[5], "hostile") == 0 && argc == 8 && g.files)
		r = hostile(&g, strcmp(argv[6], "self") == 0 ? g.own_peer : (uint32_t)strtoul(argv[6], NULL, 0),
			    (uint32_t)strtoul(argv[7], NULL, 0));
	else if (strcmp(argv[5], "join-flood") == 0 && argc == 7 && g.files)
		r = join_flood(&g, (uint32_t)strtoul(argv[6], NULL, 0));
	else if (strcmp(argv[5], "flap-ack") == 0 && (argc == 7 || argc == 8))
		r = flap_ack(&g, (uint32_t)strtoul(argv[6], NULL, 0), argc == 8 ? atoi(argv[7]) : 0);
	else
		r = usage();
	if (r == 0 && g.joined)
		rc_ivshmem_guest_leave(&g);
	rc_ivshmem_guest_close(&g);
	return r;
}
