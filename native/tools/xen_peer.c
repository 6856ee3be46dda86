// SPDX-License-Identifier: MIT
/*
 * ringcast-xen: a publisher or subscriber of a Xen bus (rc_xen.h), static,
 * for test/xen/run.sh's domains and for trying a Xen deployment by hand.
 *
 *   ringcast-xen pub --bus NAME --receivers DOMID:sub|pub[,...] --messages N
 *                    [--wait-subscribers K] [--capacity BYTES] [--heartbeat-ms MS]
 *                    [--manual] [--linger-ms MS] [--hold-after K]
 *   ringcast-xen sub --bus NAME --publisher DOMID [--slot S] --messages N
 *                    [--pause-after K] [--manual "LINE"] [--join-late]
 *
 * Message i carries seq i, its length and an FNV-1a checksum of a body that
 * both sides derive from i, so a subscriber checks order, length, checksum
 * and content (--join-late: from the first message it sees, for a subscriber
 * that joins mid-stream at the head). Output: "RCX-PUB ..." / "RCX-SUB ..." lines (test markers).
 * A subscriber exits 0 after the publisher's orderly close, 3 when the
 * publisher died (its unmap notification), 1 on any error.
 * --manual (pub) prints each slot's rendezvous line instead of writing
 * XenStore; the subscriber takes that line with --manual.
 * --hold-after K (pub): after committing message K-1, print "RCX-PUB holding
 * after K messages committed" and stop until killed, so a test that kills
 * the publisher knows exactly what it had committed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rc_xen.h"

#define MAX_MESSAGE 4096u

struct message_header {
	uint64_t seq;
	uint32_t length;   /* body bytes */
	uint32_t checksum; /* FNV-1a of the body */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Message `seq` into `out`; returns its size. Lengths vary from 16 to ~2 KiB
 * so records pad and wrap at different places. */
static uint32_t make_message(uint64_t seq, uint8_t *out)
{
	struct message_header h = { .seq = seq, .length = (uint32_t)((seq * 7919u) % 2033u) };
	uint8_t *body = out + sizeof(h);
	uint64_t x = seq * 0x9e3779b97f4a7c15ULL + 1;

	for (uint32_t i = 0; i < h.length; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		body[i] = (uint8_t)x;
	}
	h.checksum = fnv1a(body, h.length);
	memcpy(out, &h, sizeof(h));
	return (uint32_t)sizeof(h) + h.length;
}

static const char *death_name(uint32_t d)
{
	switch (d) {
	case RC_XEN_DEATH_UNMAP: return "unmap-notification";
	case RC_XEN_DEATH_XENSTORE: return "xenstore-node-removed";
	case RC_XEN_DEATH_HEARTBEAT: return "heartbeat";
	default: return "none";
	}
}

static void report_events(struct rc_xen_pub *xp)
{
	static const char *kinds[] = { "?", "joined", "left", "evicted", "refused" };

	for (uint32_t i = 0; i < xp->events; i++) {
		const struct rc_xen_pub_event *e = &xp->event[i];
		const struct rc_xen_lane *l = xp->lane[e->lane];

		if (e->kind == RC_XEN_EVENT_DEAD)
			printf("RCX-PUB evicted domain %u slot %u reason dead via %s at head %llu\n", l->domid, e->slot,
			       death_name(e->death), (unsigned long long)l->pub.head);
		else
			printf("RCX-PUB %s domain %u slot %u\n", kinds[e->kind < 5 ? e->kind : 0], l->domid, e->slot);
	}
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr, "usage: ringcast-xen pub|sub ... (see the source's header)\n");
	return 2;
}

static int run_pub(int argc, char **argv)
{
	struct rc_xen_receiver rx[RC_XEN_MAX_LANES * RC_XEN_MAX_LANE_SLOTS];
	static struct rc_xen_pub xp;
	static uint8_t msg[MAX_MESSAGE];
	const char *bus = NULL, *receivers = NULL;
	uint64_t messages = 0, capacity = 64 * 1024, linger_ms = 20000, heartbeat_ms = 0, hold_after = UINT64_MAX;
	uint32_t count = 0, wait_subs = 0;
	bool manual = false;
	uint64_t t0;
	int r;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--manual")) { manual = true; continue; }
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--bus")) bus = v;
		else if (!strcmp(a, "--receivers")) receivers = v;
		else if (!strcmp(a, "--messages")) messages = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--capacity")) capacity = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--wait-subscribers")) wait_subs = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--heartbeat-ms")) heartbeat_ms = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--linger-ms")) linger_ms = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--hold-after")) hold_after = strtoull(v, NULL, 10);
		else return usage();
	}
	if (!bus || !receivers)
		return usage();
	for (const char *p = receivers; *p && count < sizeof(rx) / sizeof(rx[0]);) {
		char *end;
		unsigned long d = strtoul(p, &end, 10);

		if (end == p || *end != ':' || d > 0x7fef)
			return usage();
		rx[count].domid = (uint16_t)d;
		if (!strncmp(end + 1, "sub", 3)) rx[count].ack_grant = RC_XEN_ACK_BY_SUBSCRIBER;
		else if (!strncmp(end + 1, "pub", 3)) rx[count].ack_grant = RC_XEN_ACK_BY_PUBLISHER;
		else return usage();
		count++;
		p = end + 4;
		if (*p == ',')
			p++;
	}
	r = rc_xen_pub_open(&xp, bus, capacity, RC_POLICY_BLOCK, rx, count, !manual);
	if (r < 0) {
		printf("RCX-PUB FAIL open (%s): %s\n", xp.failed_step, strerror(-r));
		return 1;
	}
	xp.heartbeat_timeout_ms = heartbeat_ms;
	printf("RCX-PUB ready domain %u lanes %u capacity %llu\n", xp.own_domid, xp.lanes,
	       (unsigned long long)capacity);
	if (manual)
		for (uint32_t li = 0; li < xp.lanes; li++)
			for (uint32_t s = 0; s < xp.lane[li]->slots; s++) {
				char line[RC_XEN_MAX_RING_PAGES * 11 + 96];

				if (rc_xen_pub_manual_line(&xp, li, s, line, sizeof(line)) == 0)
					printf("RCX-PUB manual bus=%s %s\n", bus, line);
			}
	fflush(stdout);
	while (rc_xen_pub_attached(&xp) < wait_subs) {
		if ((r = rc_xen_pub_service(&xp, 1000)) < 0)
			break;
		report_events(&xp);
	}
	printf("RCX-PUB streaming %llu messages to %u subscribers\n", (unsigned long long)messages,
	       rc_xen_pub_attached(&xp));
	fflush(stdout);
	t0 = now_ms();
	for (uint64_t seq = 0; seq < messages; seq++) {
		uint32_t len = make_message(seq, msg), done = 0;

		while ((r = rc_xen_pub_send(&xp, msg, len, &done)) == RC_EAGAIN) {
			/* Sleep for room: announced first, so an ack's doorbell is
			 * not lost; deaths and joins are served meanwhile. */
			int timeout = rc_xen_pub_prepare_wait(&xp, len, done) ? 500 : 0;

			r = rc_xen_pub_service(&xp, timeout);
			rc_xen_pub_end_wait(&xp);
			if (r < 0)
				break;
			report_events(&xp);
		}
		if (r != RC_OK) {
			printf("RCX-PUB FAIL send %llu: %s\n", (unsigned long long)seq,
			       r < RC_ENOSLOT ? strerror(-r) : rc_status_name(r));
			return 1;
		}
		if ((seq & 1023) == 0 && (r = rc_xen_pub_service(&xp, 0)) > 0)
			report_events(&xp);
		if (seq + 1 == hold_after) {
			/* rc_xen_pub_send committed it: exactly hold_after messages
			 * are readable. Wait here for SIGKILL. */
			printf("RCX-PUB holding after %llu messages committed\n", (unsigned long long)hold_after);
			fflush(stdout);
			for (;;)
				pause();
		}
	}
	printf("RCX-PUB sent %llu messages in %llu ms\n", (unsigned long long)messages,
	       (unsigned long long)(now_ms() - t0));
	rc_xen_pub_close(&xp);
	/* Until every subscriber read the rest and left (or died). */
	t0 = now_ms();
	while (rc_xen_pub_attached(&xp) > 0 && now_ms() - t0 < linger_ms) {
		if (rc_xen_pub_service(&xp, 200) > 0)
			report_events(&xp);
	}
	printf("RCX-PUB done attached %u\n", rc_xen_pub_attached(&xp));
	fflush(stdout);
	rc_xen_pub_destroy(&xp);
	return 0;
}

static int run_sub(int argc, char **argv)
{
	static struct rc_xen_sub xs;
	static struct rc_xen_manual manual;
	static uint8_t buf[64 * 1024];
	struct rc_entry entries[64];
	const char *bus = NULL, *manual_line = NULL;
	uint64_t messages = 0, pause_after = UINT64_MAX, expected = 0, t0, last_beat = 0;
	uint32_t slot = 0;
	uint16_t pub_domid = 0;
	uint64_t first = 0;
	bool have_pub = false, join_late = false, seen_first = false;
	int r;

	for (int i = 2; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--join-late")) { join_late = true; i--; continue; }
		if (!v)
			return usage();
		if (!strcmp(a, "--bus")) bus = v;
		else if (!strcmp(a, "--publisher")) { pub_domid = (uint16_t)strtoul(v, NULL, 10); have_pub = true; }
		else if (!strcmp(a, "--slot")) slot = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--messages")) messages = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--pause-after")) pause_after = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--manual")) manual_line = v;
		else return usage();
	}
	if (!bus || !have_pub)
		return usage();
	if (manual_line && (r = rc_xen_manual_parse(manual_line, &manual)) < 0) {
		printf("RCX-SUB FAIL manual line: %s\n", strerror(-r));
		return 1;
	}
	r = rc_xen_sub_open(&xs, bus, pub_domid, slot, manual_line ? &manual : NULL, 60000);
	if (r < 0) {
		printf("RCX-SUB FAIL open (%s): %s\n", xs.failed_step, strerror(-r));
		return 1;
	}
	r = rc_xen_sub_join(&xs, 30000);
	if (r != RC_OK) {
		printf("RCX-SUB FAIL join: %s verdict %u\n", r < RC_ENOSLOT ? strerror(-r) : rc_status_name(r),
		       xs.last_verdict);
		return 1;
	}
	printf("RCX-SUB joined publisher %u slot %u (ack page granted by %s)\n", pub_domid, xs.slot,
	       xs.ack_grant == RC_XEN_ACK_BY_SUBSCRIBER ? "subscriber" : "publisher");
	fflush(stdout);
	t0 = now_ms();
	for (;;) {
		int n;

		if (expected == pause_after) {
			/* A subscriber that stops reading but lives: it keeps
			 * beating, so only its death may evict it. */
			printf("RCX-SUB paused at %llu\n", (unsigned long long)expected);
			fflush(stdout);
			for (;;) {
				rc_sub_heartbeat(&xs.sub);
				usleep(200 * 1000);
			}
		}
		n = rc_sub_read(&xs.sub, buf, sizeof(buf), entries,
				pause_after - expected < 64 ? (uint32_t)(pause_after - expected) : 64);
		if (n == RC_ECLOSED)
			break;
		if (n < 0) {
			printf("RCX-SUB FAIL read at %llu: %s lost %llu..%llu\n", (unsigned long long)expected,
			       rc_status_name(n), (unsigned long long)xs.sub.lost_from,
			       (unsigned long long)xs.sub.lost_to);
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct message_header h;
			static uint8_t want[MAX_MESSAGE];
			uint32_t want_len;

			if (join_late && !seen_first && entries[i].length >= sizeof(h)) {
				memcpy(&h, buf + entries[i].offset, sizeof(h));
				expected = first = h.seq;
				if (pause_after != UINT64_MAX)
					pause_after += first;
			}
			seen_first = true;
			want_len = make_message(expected, want);

			if (entries[i].length < sizeof(h) || entries[i].flags != (RC_FRAG_FIRST | RC_FRAG_LAST)) {
				printf("RCX-SUB FAIL message %llu: length %u flags %u\n", (unsigned long long)expected,
				       entries[i].length, entries[i].flags);
				return 1;
			}
			memcpy(&h, buf + entries[i].offset, sizeof(h));
			if (h.seq != expected || entries[i].length != want_len ||
			    h.checksum != fnv1a(buf + entries[i].offset + sizeof(h), h.length) ||
			    memcmp(buf + entries[i].offset, want, want_len)) {
				printf("RCX-SUB FAIL message %llu: got seq %llu length %u\n", (unsigned long long)expected,
				       (unsigned long long)h.seq, entries[i].length);
				return 1;
			}
			expected++;
		}
		if (now_ms() - last_beat >= 200) {
			rc_sub_heartbeat(&xs.sub);
			last_beat = now_ms();
		}
		if (n == 0 && (r = rc_xen_sub_wait(&xs, 500)) == -EPIPE) {
			printf("RCX-SUB publisher gone after %llu messages, all read\n", (unsigned long long)expected);
			rc_xen_sub_close(&xs);
			return 3;
		}
		if (n == 0 && r < 0) {
			printf("RCX-SUB FAIL wait at %llu: %s\n", (unsigned long long)expected, strerror(-r));
			return 1;
		}
	}
	printf("RCX-SUB done received %llu of %llu in order, checksums ok, from seq %llu, in %llu ms\n",
	       (unsigned long long)(expected - first), (unsigned long long)(messages - first),
	       (unsigned long long)first, (unsigned long long)(now_ms() - t0));
	fflush(stdout);
	if ((r = rc_xen_sub_leave(&xs, 5000)) != RC_OK)
		printf("RCX-SUB leave: %s\n", r < RC_ENOSLOT ? strerror(-r) : rc_status_name(r));
	rc_xen_sub_close(&xs);
	return expected == messages ? 0 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "pub"))
		return run_pub(argc, argv);
	if (!strcmp(argv[1], "sub"))
		return run_sub(argc, argv);
	return usage();
}
