// SPDX-License-Identifier: MIT
/*
 * The shared join / leave / death handshake (rc_join.h), both sides in one
 * process over raw memory: a formatted ring, ack pages, and a fake provider
 * whose doorbells are counters. No provider, no system call: what ivshmem
 * and Xen add on top (peers, ports, XenStore) is theirs to test.
 */
#include "rc_join.h"
#include "rc_test.h"

#define PEER 41u         /* the peer id the fake provider accepts for slot 3 */
#define SLOT 3u
#define DOORBELL 103     /* what bind() hands rc_pub_attach for SLOT */

/* A fake provider: counts every call, decides from its fields. */
struct fake {
	uint32_t rings;            /* answers rung (provider.ring)           */
	uint32_t last_rung_peer;
	uint32_t binds, unbinds;
	uint32_t bound_peer;       /* 0: none                                 */
	bool acceptable_any;       /* else only PEER                          */
	bool use_alive;            /* install provider.alive (Xen's `mapped`) */
	uint32_t defer_ms;         /* provider.defer's answer                 */
	bool die_after_check;      /* alive() says yes, then the page unmaps  */
	uint32_t doorbell_rings[RC_MAX_SUBSCRIBERS]; /* the core rang a slot's doorbell */
};

static void fake_ring(void *ctx, uint32_t slot, uint32_t peer_id)
{
	struct fake *f = ctx;

	(void)slot;
	f->rings++;
	f->last_rung_peer = peer_id == RC_JOIN_LEAVE ? f->bound_peer : peer_id;
}

static bool fake_acceptable(void *ctx, uint32_t slot, uint32_t peer_id)
{
	struct fake *f = ctx;

	(void)slot;
	return f->acceptable_any || peer_id == PEER;
}

static int fake_bind(void *ctx, uint32_t slot, uint32_t peer_id)
{
	struct fake *f = ctx;

	f->binds++;
	f->bound_peer = peer_id;
	return 100 + (int)slot;
}

static void fake_unbind(void *ctx, uint32_t slot)
{
	struct fake *f = ctx;

	(void)slot;
	f->unbinds++;
	f->bound_peer = 0;
}

static bool fake_alive(void *ctx, uint32_t slot, const struct rc_ack_page *page)
{
	struct fake *f = ctx;
	bool alive = page->mapped == RC_ACK_MAPPED;

	(void)slot;
	if (f->die_after_check) {
		/* The subscriber dies right after the publisher looked: its
		 * kernel clears the byte (a page the test owns). */
		f->die_after_check = false;
		((struct rc_ack_page *)page)->mapped = 0;
	}
	return alive;
}

static uint32_t fake_defer(void *ctx, uint32_t slot, uint32_t peer_id, uint64_t now_ms)
{
	struct fake *f = ctx;

	(void)slot;
	(void)peer_id;
	(void)now_ms;
	return f->defer_ms;
}

/* The publisher's doorbell hook: a doorbell number is 100 + slot. */
static void count_doorbell(void *ctx, int doorbell)
{
	struct fake *f = ctx;

	CHECK(doorbell >= 100 && doorbell < 100 + (int)RC_MAX_SUBSCRIBERS);
	f->doorbell_rings[doorbell - 100]++;
}

static struct rc_join_provider provider_of(struct fake *f)
{
	return (struct rc_join_provider){
		.ctx = f,
		.ring = fake_ring,
		.peer_acceptable = fake_acceptable,
		.bind = fake_bind,
		.unbind = fake_unbind,
		.alive = f->use_alive ? fake_alive : NULL,
		.defer = fake_defer,
	};
}

/* One bus: the ring, the publisher, one ack page for SLOT formatted as a
 * provider formats it before any join (generation 0). */
struct bus {
	uint8_t *ring;
	struct rc_publisher pub;
	struct rc_ack_page *page;
	struct rc_join_slot js;
	struct fake fake;
	struct rc_join_provider provider;
	uint64_t now;
};

static void bus_open(struct bus *b)
{
	memset(b, 0, sizeof(*b));
	b->ring = rc_test_ring(RC_TEST_CAPACITY, 0, RC_POLICY_BLOCK);
	CHECK_STATUS(rc_pub_init(&b->pub, b->ring, rc_ring_size(RC_TEST_CAPACITY)), RC_OK);
	b->pub.ring_doorbell = count_doorbell;
	b->pub.ring_doorbell_ctx = &b->fake;
	b->page = rc_test_ack_page();
	rc_ack_page_format(b->page, &b->pub, SLOT, 0);
	b->provider = provider_of(&b->fake);
	b->now = 1000;
}

static void bus_close(struct bus *b)
{
	free(b->page);
	free(b->ring);
}

static int serve(struct bus *b, struct rc_join_result *res)
{
	b->provider = provider_of(&b->fake); /* use_alive may have changed */
	return rc_join_serve(&b->pub, SLOT, b->page, &b->js, &b->provider, b->now, res);
}

/* The subscriber side: asks, the publisher serves, the answer is read. */
static uint32_t ask_and_serve(struct bus *b, uint32_t peer, uint32_t want_outcome, uint32_t want_verdict,
			      uint64_t *generation)
{
	struct rc_join_result res;
	uint32_t request = rc_join_ask(b->page, b->ring, SLOT, peer, b->fake.use_alive), verdict = 0;
	uint64_t gen = 0;

	CHECK(request != 0);
	CHECK_STATUS(rc_join_answered(b->ring, SLOT, request, &verdict, &gen), RC_EAGAIN);
	CHECK_EQ(serve(b, &res), want_outcome);
	if (want_verdict == RC_JOIN_NONE)
		return request;
	CHECK_STATUS(rc_join_answered(b->ring, SLOT, request, &verdict, &gen), RC_OK);
	CHECK_EQ(verdict, want_verdict);
	CHECK_EQ(res.verdict, want_verdict);
	if (generation)
		*generation = gen;
	return request;
}

/* A subscriber joined through the handshake and bound to the ring. */
static void join_and_attach(struct bus *b, struct rc_subscriber *sub, uint64_t *generation)
{
	ask_and_serve(b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, generation);
	CHECK_STATUS(rc_join_attach(sub, b->ring, rc_ring_size(RC_TEST_CAPACITY), b->page, SLOT, *generation, -1),
		     RC_OK);
}

static void join_attaches_at_head_and_the_subscriber_reads_from_there(void)
{
	struct bus b;
	struct rc_subscriber sub;
	struct rc_join_result res;
	uint8_t out[256];
	struct rc_entry e[8];
	uint64_t generation = 0;
	uint32_t rings;

	bus_open(&b);
	/* The slot served two subscribers before (generation 2 in its mirror). */
	for (int i = 0; i < 2; i++) {
		CHECK_STATUS(rc_pub_attach(&b.pub, SLOT, b.page, -1, 0, 0, NULL), RC_OK);
		rc_pub_detach(&b.pub, SLOT, RC_EVICT_CLOSED);
	}
	rc_test_publish(&b.pub, 0, 100); /* before the join: not for it */
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, &generation);
	/* Generation from the slot's mirror (+1), the same in the answer, the
	 * ack page and the mirror; the ack page rewritten at the live head. */
	CHECK_EQ(generation, 3);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->generation, 3);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->state, RC_SLOT_ACTIVE);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->join_position, b.pub.head);
	CHECK_EQ(b.page->generation, 3);
	CHECK_EQ(b.page->slot, SLOT);
	CHECK_EQ(b.page->ack, b.pub.head);
	CHECK_EQ(b.fake.binds, 1);
	CHECK_EQ(b.fake.rings, 1);
	CHECK_EQ(b.fake.last_rung_peer, PEER);
	CHECK_EQ(b.pub.slots[SLOT].doorbell_fd, DOORBELL);
	CHECK_EQ(b.js.joins, 1);
	CHECK_STATUS(rc_join_attach(&sub, b.ring, rc_ring_size(RC_TEST_CAPACITY), b.page, SLOT, generation, -1),
		     RC_OK);
	rc_test_publish(&b.pub, 1, 100);
	CHECK_EQ(rc_sub_read(&sub, out, sizeof(out), e, 8), 1);
	CHECK_EQ(e[0].seq, 1);
	CHECK(rc_test_matches(out + e[0].offset, 1, 0, 100));

	/* Nothing new in the page: nothing done, nobody rung. */
	rings = b.fake.rings;
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_NONE);
	CHECK_EQ(b.fake.rings, rings);
	bus_close(&b);
}

static void leave_frees_the_slot_closed_and_unbinds(void)
{
	struct bus b;
	struct rc_subscriber sub;
	uint8_t out[256];
	struct rc_entry e[8];
	uint64_t generation = 0;

	bus_open(&b);
	join_and_attach(&b, &sub, &generation);
	ask_and_serve(&b, RC_JOIN_LEAVE, RC_JOIN_OUTCOME_LEFT, RC_JOIN_LEFT, NULL);
	CHECK_EQ(b.pub.slots[SLOT].state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evict_reason, RC_EVICT_CLOSED);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evictions, 0);
	CHECK_EQ(b.pub.attached, 0);
	CHECK_EQ(b.fake.unbinds, 1);
	CHECK_EQ(b.fake.last_rung_peer, PEER); /* the leaver, woken for its answer */
	CHECK(rc_pub_refresh(&b.pub) == UINT64_MAX); /* nobody holds the publisher back */
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 8), RC_EEVICTED);

	/* A leave of a slot nobody holds: answered, nothing freed. */
	ask_and_serve(&b, RC_JOIN_LEAVE, RC_JOIN_OUTCOME_ANSWERED, RC_JOIN_LEFT, NULL);
	/* And the slot can be joined again, with the next generation. */
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, &generation);
	CHECK_EQ(generation, 2);
	bus_close(&b);
}

static void death_evicts_dead_frees_and_never_rings_the_dead(void)
{
	struct bus b;
	struct rc_subscriber sub;
	struct rc_join_result res;
	uint8_t out[256];
	struct rc_entry e[8];
	uint64_t generation = 0;

	bus_open(&b);
	join_and_attach(&b, &sub, &generation);
	rc_test_publish(&b.pub, 0, 100);
	rc_test_publish(&b.pub, 1, 100); /* unread when it dies */
	CHECK_EQ(rc_join_death(&b.pub, SLOT, b.page, &b.js, &b.provider, b.now, &res), RC_JOIN_OUTCOME_DEAD);
	/* Counted as an eviction with its lost range, then reclaimed. */
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evict_reason, RC_EVICT_DEAD);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evictions, 1);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->lost_messages, 2);
	CHECK_EQ(b.pub.slots[SLOT].last_eviction.reason, RC_EVICT_DEAD);
	CHECK_EQ(b.pub.slots[SLOT].doorbell_fd, -1);
	CHECK_EQ(b.pub.attached, 0);
	CHECK_EQ(b.fake.unbinds, 1);
	/* Its doorbell is gone: the eviction did not ring it. */
	CHECK_EQ(b.fake.doorbell_rings[SLOT], 0);
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 8), RC_EEVICTED);
	/* Once is enough: a second death of a free slot changes nothing. */
	CHECK_EQ(rc_join_death(&b.pub, SLOT, b.page, &b.js, &b.provider, b.now, &res), RC_JOIN_OUTCOME_NONE);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evictions, 1);

	/* Evicted slow first, then dead: the eviction keeps its reason. */
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, &generation);
	rc_pub_evict(&b.pub, SLOT, RC_EVICT_SLOW);
	CHECK_EQ(rc_join_death(&b.pub, SLOT, b.page, &b.js, &b.provider, b.now, &res), RC_JOIN_OUTCOME_DEAD);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evict_reason, RC_EVICT_SLOW);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evictions, 2);
	bus_close(&b);
}

static void a_leave_asked_before_the_death_is_a_leave(void)
{
	struct bus b;
	struct rc_join_result res;
	uint32_t request;

	bus_open(&b);
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, NULL);
	/* The subscriber asks to leave, then its peer goes; the publisher
	 * hears of the death first. */
	request = rc_join_ask(b.page, b.ring, SLOT, RC_JOIN_LEAVE, false);
	CHECK_EQ(rc_join_death(&b.pub, SLOT, b.page, &b.js, &b.provider, b.now, &res), RC_JOIN_OUTCOME_LEFT);
	CHECK_EQ(res.verdict, RC_JOIN_LEFT);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evict_reason, RC_EVICT_CLOSED);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evictions, 0);
	CHECK_EQ(rc_ring_join_answer(b.ring, SLOT)->request, request);
	bus_close(&b);
}

/* Xen's liveness: the `mapped` byte its kernel clears with the mapping. */
static void unmapped_page_is_a_death_and_its_join_is_never_served(void)
{
	struct bus b;
	struct rc_join_result res;
	uint32_t request, binds;

	bus_open(&b);
	b.fake.use_alive = true;
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, NULL);
	CHECK(b.js.alive_at_join);
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_NONE); /* still mapped */
	b.page->mapped = 0; /* its process died: the kernel cleared it */
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_DEAD);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evict_reason, RC_EVICT_DEAD);
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_NONE); /* once */

	/* A join request beside a clear byte is a dead subscriber's last word
	 * (here: written after the kernel cleared it, as a replay would look):
	 * never served, and not served later either. */
	binds = b.fake.binds;
	request = rc_join_ask(b.page, b.ring, SLOT, PEER, false);
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_NONE);
	CHECK_EQ(b.fake.binds, binds);
	CHECK(rc_ring_join_answer(b.ring, SLOT)->request != request);
	CHECK_EQ(b.pub.slots[SLOT].state, RC_SLOT_FREE);

	/* A new subscriber marks the page, then asks: served. */
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, NULL);

	/* A death between the liveness check and the accept: the next look
	 * sees it (the slot does not stay held by the dead). */
	ask_and_serve(&b, RC_JOIN_LEAVE, RC_JOIN_OUTCOME_LEFT, RC_JOIN_LEFT, NULL);
	b.fake.die_after_check = true;
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, NULL);
	CHECK_EQ(b.page->mapped, 0);
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_DEAD);
	CHECK_EQ(b.pub.slots[SLOT].state, RC_SLOT_FREE);
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, NULL);

	/* A leave beside a clear byte (it left, then unmapped before the
	 * publisher looked) is a leave, not a death. */
	rc_join_ask(b.page, b.ring, SLOT, RC_JOIN_LEAVE, true);
	b.page->mapped = 0;
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_LEFT);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evict_reason, RC_EVICT_CLOSED);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->evictions, 2); /* the two deaths above only */
	bus_close(&b);
}

static void hostile_joins_are_refused_and_change_nothing(void)
{
	struct bus b;
	struct rc_join_result res;
	struct rc_subscriber sub;
	uint64_t generation = 0;
	uint32_t request, verdict;

	bus_open(&b);
	/* Not the peer this slot is for. */
	ask_and_serve(&b, PEER + 1, RC_JOIN_OUTCOME_REFUSED, RC_JOIN_BAD_PEER, NULL);
	CHECK_EQ(b.pub.slots[SLOT].state, RC_SLOT_FREE);
	CHECK_EQ(b.js.rejected, 1);

	/* Bad slot and bad generation written into its own page before
	 * asking: the publisher uses its own slot index and the mirror's
	 * generation, and rewrites both. */
	b.page->slot = 60;
	b.page->generation = 999;
	request = rc_join_ask(b.page, b.ring, SLOT, PEER, false);
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_ACCEPTED);
	CHECK_EQ(b.page->slot, SLOT);
	CHECK_EQ(b.page->generation, 1);
	CHECK_EQ(rc_test_mirror(&b.pub, 60)->state, RC_SLOT_FREE);
	CHECK_EQ(b.pub.slots[60].state, RC_SLOT_FREE);
	CHECK_STATUS(rc_join_answered(b.ring, SLOT, request, &verdict, &generation), RC_OK);
	/* A generation that disagrees with the ack page and the mirror (a
	 * page rewritten after the answer, or a lying answer): not attached. */
	b.page->generation = 7;
	CHECK_STATUS(rc_join_attach(&sub, b.ring, rc_ring_size(RC_TEST_CAPACITY), b.page, SLOT, generation, -1),
		     RC_EINVAL);
	b.page->generation = generation;
	CHECK_STATUS(rc_join_attach(&sub, b.ring, rc_ring_size(RC_TEST_CAPACITY), b.page, SLOT, generation + 1, -1),
		     RC_EINVAL);
	/* A slot beyond the table: refused on both sides, nothing read. */
	CHECK_STATUS(rc_join_answered(b.ring, RC_MAX_SUBSCRIBERS, request, &verdict, &generation), RC_EINVAL);
	CHECK_EQ(rc_join_serve(&b.pub, RC_MAX_SUBSCRIBERS, b.page, &b.js, &b.provider, b.now, &res),
		 RC_JOIN_OUTCOME_NONE);

	/* Replay: a request number that does not move forward is refused
	 * BAD_ORDER and the attachment stays; stepping back further cannot
	 * replay an old request either (the high-water mark stays). */
	generation = rc_test_mirror(&b.pub, SLOT)->generation;
	b.page->join_peer_id = PEER;
	__atomic_store_n(&b.page->join_request, request - 1, __ATOMIC_RELEASE);
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_REFUSED);
	CHECK_EQ(res.verdict, RC_JOIN_BAD_ORDER);
	__atomic_store_n(&b.page->join_request, request, __ATOMIC_RELEASE);
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_REFUSED);
	CHECK_EQ(res.verdict, RC_JOIN_BAD_ORDER);
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->generation, generation);
	CHECK_EQ(b.pub.slots[SLOT].state, RC_SLOT_ACTIVE);
	CHECK_EQ(b.js.joins, 1);

	/* A closed bus takes nobody. */
	rc_pub_close(&b.pub);
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_REFUSED, RC_JOIN_CLOSED, NULL);
	bus_close(&b);
}

static void a_deferred_request_is_looked_at_again(void)
{
	struct bus b;
	struct rc_join_result res;

	bus_open(&b);
	b.fake.defer_ms = 250;
	rc_join_ask(b.page, b.ring, SLOT, PEER, false);
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_DEFERRED);
	CHECK_EQ(res.retry_ms, 250);
	CHECK_EQ(b.fake.rings, 0);
	b.fake.defer_ms = 0;
	CHECK_EQ(serve(&b, &res), RC_JOIN_OUTCOME_ACCEPTED);
	bus_close(&b);
}

static void backoff_refuses_joins_until_it_expires(void)
{
	struct bus b;
	uint64_t generation = 0;

	bus_open(&b);
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, NULL);
	rc_pub_evict(&b.pub, SLOT, RC_EVICT_SLOW);
	rc_join_backoff(&b.js, b.now, 500);
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_REFUSED, RC_JOIN_BACKOFF, NULL);
	/* Its slot stays as it was: evicted, with its lost range. */
	CHECK_EQ(rc_test_mirror(&b.pub, SLOT)->state, RC_SLOT_EVICTED);
	b.now += 499;
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_REFUSED, RC_JOIN_BACKOFF, NULL);
	b.now += 1;
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, &generation);
	CHECK_EQ(generation, 2);
	CHECK_EQ(b.js.rejected, 2);
	/* 0 lifts a back-off. */
	rc_join_backoff(&b.js, b.now, 500);
	rc_join_backoff(&b.js, b.now, 0);
	ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, &generation);
	bus_close(&b);
}

static void requests_are_numbered_above_the_page_and_the_answer(void)
{
	struct bus b;
	uint32_t first, second;

	bus_open(&b);
	first = ask_and_serve(&b, PEER, RC_JOIN_OUTCOME_ACCEPTED, RC_JOIN_ACCEPTED, NULL);
	CHECK_EQ(first, 1);
	/* A restarted subscriber on a fresh page (request 0) still asks above
	 * the answered one, so its request is new to the publisher. */
	b.page->join_request = 0;
	second = rc_join_ask(b.page, b.ring, SLOT, PEER, false);
	CHECK_EQ(second, 2);
	/* Wrap-around: never 0 (0 means "never asked"). */
	b.page->join_request = UINT32_MAX;
	rc_ring_join_answer(b.ring, SLOT)->request = 0;
	CHECK_EQ(rc_join_ask(b.page, b.ring, SLOT, PEER, false), 1);
	bus_close(&b);
}

int main(void)
{
	RUN(join_attaches_at_head_and_the_subscriber_reads_from_there);
	RUN(leave_frees_the_slot_closed_and_unbinds);
	RUN(death_evicts_dead_frees_and_never_rings_the_dead);
	RUN(a_leave_asked_before_the_death_is_a_leave);
	RUN(unmapped_page_is_a_death_and_its_join_is_never_served);
	RUN(hostile_joins_are_refused_and_change_nothing);
	RUN(a_deferred_request_is_looked_at_again);
	RUN(backoff_refuses_joins_until_it_expires);
	RUN(requests_are_numbered_above_the_page_and_the_answer);
	return rc_test_done("join handshake");
}
