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
 *
 *   ringcast-xen hostile --bus NAME --publisher DOMID --slot S
 *                        --attack ack-beyond|ack-backwards|flap|join-flood [--cycles K]
 *
 * A receiver domain that attacks the publisher through the only page it may
 * write, its ack page (issue 16; docs/xen.md, "Trust model"): ack-beyond
 * stores an ack past head, ack-backwards one below what the publisher
 * already validated, flap does ack-beyond and rejoins, K times (default 5),
 * join-flood writes K (default 5000) join requests as fast as it can,
 * every other one naming a domain it is not. Each prints "RCX-HOSTILE ..."
 * lines saying what the publisher did; the publisher prints, at its end,
 * "RCX-PUB slot domain D slot S evictions N last-reason R" for every slot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rc_xen.h"
#include "ringcast_barrier.h"
#include "slot_mirror.h"

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
		const struct rc_xen_domain *d = xp->domain[e->domain];

		if (e->kind == RC_XEN_EVENT_DEAD)
			printf("RCX-PUB evicted domain %u slot %u reason dead via %s at head %llu\n", d->domid, e->slot,
			       death_name(e->death), (unsigned long long)xp->pub.head);
		else
			printf("RCX-PUB %s domain %u slot %u\n", kinds[e->kind < 5 ? e->kind : 0], d->domid, e->slot);
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
	struct rc_xen_receiver rx[RC_MAX_SUBSCRIBERS];
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
	r = rc_xen_pub_open(&xp, bus, capacity, RC_POLICY_BLOCK, 0, rx, count, !manual);
	if (r < 0) {
		printf("RCX-PUB FAIL open (%s): %s\n", xp.failed_step, strerror(-r));
		return 1;
	}
	xp.heartbeat_timeout_ms = heartbeat_ms;
	printf("RCX-PUB ready domain %u receiver-domains %u capacity %llu\n", xp.own_domid, xp.domains,
	       (unsigned long long)capacity);
	if (manual)
		for (uint32_t di = 0; di < xp.domains; di++)
			for (uint32_t s = 0; s < xp.domain[di]->slots; s++) {
				char line[RC_XEN_MANUAL_LINE_MAX];

				if (rc_xen_pub_manual_line(&xp, di, s, line, sizeof(line)) == 0)
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
	/* Write-once, checked: the bytes this publisher wrote into shared
	 * memory (the one ring's head: records and pads), whatever the number
	 * of receiver domains reading it. */
	printf("RCX-PUB sent %llu messages in %llu ms, ring bytes written %llu to %u receiver domains\n",
	       (unsigned long long)messages, (unsigned long long)(now_ms() - t0), (unsigned long long)xp.pub.head,
	       xp.domains);
	/* What every slot went through, for the hostile receivers' checks:
	 * the mirror's eviction count survives rejoins. */
	for (uint32_t di = 0; di < xp.domains; di++)
		for (uint32_t sl = 0; sl < xp.domain[di]->slots; sl++) {
			const struct rc_slot *m = mirror_of(xp.ring, xp.domain[di]->slot[sl].ring_slot);

			printf("RCX-PUB slot domain %u slot %u evictions %u last-reason %s\n", xp.domain[di]->domid, sl,
			       rc_load_relaxed(&m->evictions), reason_name(rc_load_relaxed(&m->evict_reason)));
		}
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

/* Forges our ack: the one store the publisher must treat as hostile. */
static void forge_ack(struct rc_xen_sub *xs, uint64_t ack)
{
	rc_store_release(&((struct rc_ack_page *)xs->ack)->ack, ack);
	rc_xen_evtchn_notify(&xs->dev, xs->port);
}

/* Waits until the publisher marks our slot EVICTED (the mirror's state is
 * stored last, with release); rings its port meanwhile so that it looks.
 * Returns the reason, or 0 on timeout. */
static uint32_t wait_evicted(struct rc_xen_sub *xs, uint64_t generation, int timeout_ms)
{
	const struct rc_slot *m = mirror_of(xs->ring, xs->ring_slot);
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	while (now_ms() < deadline) {
		if (rc_load_acquire(&m->state) == RC_SLOT_EVICTED && rc_load_relaxed(&m->generation) == generation)
			return rc_load_relaxed(&m->evict_reason);
		rc_xen_evtchn_notify(&xs->dev, xs->port);
		usleep(20 * 1000);
	}
	return 0;
}

/* Reads (and so acks) until the publisher has validated an ack past where
 * we joined: only then does an ack below its validated one go backwards. */
static int read_until_validated(struct rc_xen_sub *xs, int timeout_ms)
{
	static uint8_t buf[64 * 1024];
	struct rc_entry entries[64];
	const struct rc_slot *m = mirror_of(xs->ring, xs->ring_slot);
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	while (now_ms() < deadline) {
		int n = rc_sub_read(&xs->sub, buf, sizeof(buf), entries, 64);

		if (n < 0)
			return n;
		if (rc_load_relaxed(&m->ack) > rc_load_relaxed(&m->join_position))
			return 0;
		if (n == 0)
			rc_xen_sub_wait(xs, 100);
	}
	return -ETIMEDOUT;
}

static int run_hostile(int argc, char **argv)
{
	static struct rc_xen_sub xs;
	const char *bus = NULL, *attack = NULL;
	uint32_t slot = 0, cycles = 0, reason;
	uint16_t pub_domid = 0;
	bool have_pub = false;
	int r;

	for (int i = 2; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--bus")) bus = v;
		else if (!strcmp(a, "--publisher")) { pub_domid = (uint16_t)strtoul(v, NULL, 10); have_pub = true; }
		else if (!strcmp(a, "--slot")) slot = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--attack")) attack = v;
		else if (!strcmp(a, "--cycles")) cycles = (uint32_t)strtoul(v, NULL, 10);
		else return usage();
	}
	if (!bus || !have_pub || !attack)
		return usage();
	r = rc_xen_sub_open(&xs, bus, pub_domid, slot, NULL, 60000);
	if (r < 0) {
		printf("RCX-HOSTILE FAIL open (%s): %s\n", xs.failed_step, strerror(-r));
		return 1;
	}
	if ((r = rc_xen_sub_join(&xs, 30000)) != RC_OK) {
		printf("RCX-HOSTILE FAIL join: %s verdict %u\n", r < RC_ENOSLOT ? strerror(-r) : rc_status_name(r),
		       xs.last_verdict);
		return 1;
	}
	printf("RCX-HOSTILE %s joined publisher %u slot %u\n", attack, pub_domid, slot);
	/* Attack while the publisher streams (it waits for every slot first). */
	for (int i = 0; i < 12000 && rc_load_acquire(&((const struct rc_ring_desc *)xs.ring)->head) == 0; i++)
		usleep(10 * 1000);
	if (!strcmp(attack, "ack-beyond") || !strcmp(attack, "ack-backwards")) {
		bool beyond = attack[4] == 'b' && attack[5] == 'e';
		const struct rc_slot *m = mirror_of(xs.ring, xs.ring_slot);
		uint64_t forged;

		/* A subscriber that behaved first: it read, and was acked. */
		if ((r = read_until_validated(&xs, 60000)) < 0) {
			printf("RCX-HOSTILE FAIL %s: no validated ack (%d)\n", attack, r);
			return 1;
		}
		forged = beyond ? rc_load_acquire(&((const struct rc_ring_desc *)xs.ring)->head) + xs.ring_size
				: rc_load_relaxed(&m->ack) - 1;
		forge_ack(&xs, forged);
		reason = wait_evicted(&xs, xs.sub.generation, 60000);
		printf("RCX-HOSTILE %s forged ack %llu: %s reason %s\n", attack, (unsigned long long)forged,
		       reason ? "evicted" : "NOT evicted", reason_name(reason));
		return reason == RC_EVICT_PROTOCOL ? 0 : 1;
	}
	if (!strcmp(attack, "flap")) {
		uint32_t evicted = 0, accepted = 1;

		cycles = cycles ? cycles : 5;
		for (uint32_t c = 0; c < cycles; c++) {
			if (c > 0) {
				r = rc_xen_sub_join(&xs, 30000);
				printf("RCX-HOSTILE flap rejoin %u: %s verdict %u\n", c,
				       r == RC_OK ? "accepted" : "refused", xs.last_verdict);
				if (r != RC_OK)
					break;
				accepted++;
			}
			forge_ack(&xs, rc_load_acquire(&((const struct rc_ring_desc *)xs.ring)->head) + 2 * xs.ring_size);
			reason = wait_evicted(&xs, xs.sub.generation, 60000);
			if (reason != RC_EVICT_PROTOCOL) {
				printf("RCX-HOSTILE FAIL flap cycle %u: reason %s\n", c, reason_name(reason));
				break;
			}
			evicted++;
		}
		printf("RCX-HOSTILE flap evicted protocol %u of %u cycles, joins accepted %u\n", evicted, cycles,
		       accepted);
		return evicted == cycles ? 0 : 1;
	}
	if (!strcmp(attack, "join-flood")) {
		struct rc_ack_page *page = xs.ack;
		const struct rc_join_answer *a = rc_ring_join_answer_const(xs.ring, xs.ring_slot);
		uint32_t request = rc_load_relaxed(&page->join_request);
		uint64_t t0 = now_ms();

		cycles = cycles ? cycles : 5000;
		for (uint32_t c = 0; c < cycles; c++) {
			/* Every other request names a domain we are not. */
			rc_store_relaxed(&page->join_peer_id, c & 1 ? (uint32_t)xs.own_domid + 100u : xs.own_domid);
			rc_store_release(&page->join_request, ++request);
			rc_xen_evtchn_notify(&xs.dev, xs.port);
		}
		/* The publisher serves the latest request of a slot per wake-up. */
		for (int i = 0; i < 300 && rc_load_acquire(&a->request) != request; i++) {
			rc_xen_evtchn_notify(&xs.dev, xs.port);
			usleep(20 * 1000);
		}
		printf("RCX-HOSTILE join-flood wrote %u requests in %llu ms; last answered %s, verdict %u\n", cycles,
		       (unsigned long long)(now_ms() - t0), rc_load_acquire(&a->request) == request ? "yes" : "no",
		       rc_load_relaxed(&a->verdict));
		r = rc_xen_sub_leave(&xs, 10000);
		printf("RCX-HOSTILE join-flood leave: %s\n", r == RC_OK ? "left" : "not left");
		return r == RC_OK ? 0 : 1;
	}
	return usage();
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
	if (!strcmp(argv[1], "hostile"))
		return run_hostile(argc, argv);
	return usage();
}
