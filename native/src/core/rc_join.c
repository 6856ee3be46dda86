// SPDX-License-Identifier: MIT
/*
 * The join, leave and death handshake through shared memory, once for every
 * region provider (rc_join.h). The publisher side is a validator of hostile
 * input: every value read from an ack page is checked before it is used,
 * and every request gets exactly one answer, or none if its subscriber is
 * dead. docs/protocol.md, "Attach through shared memory", is the normative
 * text; the barrier labels are docs/memory-ordering.md's.
 */
#include "rc_join.h"

#include <string.h>

#include "ringcast_barrier.h"

/* ======================================================================== */
/* publisher side                                                            */

static void answer(struct rc_publisher *pub, uint32_t slot, uint32_t request, uint32_t verdict,
		   uint64_t generation, struct rc_join_result *res)
{
	struct rc_join_answer *a = rc_ring_join_answer(pub->ring, slot);

	rc_store_relaxed(&a->verdict, verdict);
	rc_store_relaxed(&a->generation, generation);
	/* [V3] verdict, generation, the slot mirror (rc_pub_attach's [P4]) and
	 * the ack page's line 0 + ack before the answered request; pairs with
	 * [V4], the subscriber's acquire load in rc_join_answered. */
	rc_store_release(&a->request, request);
	res->verdict = verdict;
	res->generation = generation;
}

static int refuse(struct rc_publisher *pub, uint32_t slot, uint32_t request, uint32_t verdict,
		  struct rc_join_slot *js, const struct rc_join_provider *provider, struct rc_join_result *res)
{
	answer(pub, slot, request, verdict, 0, res);
	js->rejected++;
	provider->ring(provider->ctx, slot, res->peer_id);
	return res->outcome = RC_JOIN_OUTCOME_REFUSED;
}

static bool slot_held(const struct rc_publisher *pub, uint32_t slot)
{
	return pub->slots[slot].state != RC_SLOT_FREE;
}

/* Whether the page holds a new request to leave (read after the acquire of
 * join_request, [V2a]). */
static bool leave_pending(const struct rc_ack_page *page, const struct rc_join_slot *js, uint32_t request)
{
	return request != 0 && request != js->last_seen_request &&
	       rc_load_relaxed(&page->join_peer_id) == RC_JOIN_LEAVE;
}

/* Evicted DEAD if still counted, then freed; see rc_join_death. */
static bool free_dead(struct rc_publisher *pub, uint32_t slot, struct rc_join_slot *js,
		      const struct rc_join_provider *provider)
{
	bool held = slot_held(pub, slot);

	if (held) {
		struct rc_pub_slot *s = &pub->slots[slot];

		/* Its doorbell went with it (an eventfd the server closed, a
		 * port whose other end is gone): never ring it again. */
		s->doorbell_fd = -1;
		/* Counted as an eviction (its lost range, an event), then
		 * reclaimed at once, as when a socket subscriber's connection
		 * closes. An earlier eviction keeps its own reason. */
		if (s->state == RC_SLOT_ACTIVE || s->state == RC_SLOT_LAGGING)
			rc_pub_evict(pub, slot, RC_EVICT_DEAD);
		rc_pub_detach(pub, slot, RC_EVICT_DEAD);
	}
	js->alive_at_join = false;
	if (provider->unbind)
		provider->unbind(provider->ctx, slot);
	return held;
}

int rc_join_death(struct rc_publisher *pub, uint32_t slot, struct rc_ack_page *page, struct rc_join_slot *js,
		  const struct rc_join_provider *provider, uint64_t now_ms, struct rc_join_result *res)
{
	memset(res, 0, sizeof(*res));
	if (slot >= RC_MAX_SUBSCRIBERS)
		return res->outcome;
	/* What it asked before it went comes first: a subscriber that left and
	 * then went away (its process exited, its VM stopped) has left, not
	 * died, whichever news the publisher reads first. [V2a] acquire,
	 * partner [V2]. */
	if (page && leave_pending(page, js, rc_load_acquire(&page->join_request))) {
		rc_join_serve(pub, slot, page, js, provider, now_ms, res);
		if (res->outcome == RC_JOIN_OUTCOME_LEFT || res->outcome == RC_JOIN_OUTCOME_ANSWERED)
			return res->outcome;
	}
	if (free_dead(pub, slot, js, provider))
		res->outcome = RC_JOIN_OUTCOME_DEAD;
	return res->outcome;
}

void rc_join_backoff(struct rc_join_slot *js, uint64_t now_ms, uint32_t wait_ms)
{
	js->not_before_ms = wait_ms ? now_ms + wait_ms : 0;
}

void rc_join_slot_reset(struct rc_join_slot *js)
{
	js->last_seen_request = 0;
	js->highest_answered = 0;
	js->alive_at_join = false;
}

static int accept(struct rc_publisher *pub, uint32_t slot, struct rc_ack_page *page, uint32_t request,
		  struct rc_join_slot *js, const struct rc_join_provider *provider, struct rc_join_result *res)
{
	uint64_t generation;
	int doorbell;

	/* A rejoin (after an eviction, or a subscriber process that
	 * restarted): the old attachment ends first, as on the socket path. */
	if (slot_held(pub, slot))
		rc_pub_detach(pub, slot, RC_EVICT_CLOSED);
	/* The generation rc_pub_attach gives the slot next: the mirror's + 1. */
	generation = rc_load_relaxed(&rc_ring_slot(pub->ring, slot)->generation) + 1;
	/* Line 0 and ack of the page are the publisher's to write at a join;
	 * the subscriber waits and writes neither now. A hostile one that does
	 * only spoils its own attach (its ack is validated from here on). */
	rc_store_relaxed(&page->generation, generation);
	rc_store_relaxed(&page->slot, slot);
	rc_store_relaxed(&page->ack, pub->head);
	rc_store_relaxed(&page->sleeping, 0u);
	doorbell = provider->bind(provider->ctx, slot, res->peer_id);
	rc_pub_attach(pub, slot, page, doorbell, 0, 0, &generation);
	/* It was alive when it asked (rc_join_serve checked): a clear mark
	 * from now on is its death. Not a fresh read: a death since the check
	 * would then read as "never alive" and never be seen (found by the
	 * model, model/README.md, F2). */
	js->alive_at_join = true;
	js->joins++;
	answer(pub, slot, request, RC_JOIN_ACCEPTED, generation, res);
	provider->ring(provider->ctx, slot, res->peer_id);
	return res->outcome = RC_JOIN_OUTCOME_ACCEPTED;
}

int rc_join_serve(struct rc_publisher *pub, uint32_t slot, struct rc_ack_page *page, struct rc_join_slot *js,
		  const struct rc_join_provider *provider, uint64_t now_ms, struct rc_join_result *res)
{
	uint32_t request;

	res->outcome = RC_JOIN_OUTCOME_NONE;
	res->verdict = RC_JOIN_NONE;
	res->peer_id = 0;
	res->retry_ms = 0;
	res->generation = 0;
	if (slot >= RC_MAX_SUBSCRIBERS || !page)
		return res->outcome;
	/* [V2a] acquire: the peer id (and `mapped`) were stored before the
	 * request; pairs with the subscriber's [V2] in rc_join_ask. Everything
	 * read from the page is hostile input. */
	request = rc_load_acquire(&page->join_request);
	/* Liveness after the acquire: a live subscriber marks its page before
	 * it asks, so a join request beside a clear mark is a dead one's last
	 * word (its page may be mapped again while its grant lives: that must
	 * not replay the join). A leave is served all the same: it was asked
	 * before the subscriber went, and it only gives back its own slot. */
	if (provider->alive && !provider->alive(provider->ctx, slot, page) && !leave_pending(page, js, request)) {
		if (request != 0)
			js->last_seen_request = request; /* never served */
		if (slot_held(pub, slot) && js->alive_at_join && free_dead(pub, slot, js, provider))
			res->outcome = RC_JOIN_OUTCOME_DEAD;
		return res->outcome;
	}
	if (request == 0 || request == js->last_seen_request)
		return res->outcome; /* never asked, or nothing new */
	js->last_seen_request = request;
	res->peer_id = rc_load_relaxed(&page->join_peer_id);
	if (request > js->highest_answered && res->peer_id != RC_JOIN_LEAVE && provider->defer) {
		uint32_t wait = provider->defer(provider->ctx, slot, res->peer_id, now_ms);

		if (wait > 0) {
			js->last_seen_request = request - 1; /* not seen: look again */
			res->retry_ms = wait;
			return res->outcome = RC_JOIN_OUTCOME_DEFERRED;
		}
	}
	if (request <= js->highest_answered) {
		/* Backwards or repeated: answered so the subscriber does not
		 * wait, but the high-water mark stays, so stepping back cannot
		 * replay an old request. */
		return refuse(pub, slot, request, RC_JOIN_BAD_ORDER, js, provider, res);
	}
	js->highest_answered = request;
	if (res->peer_id == RC_JOIN_LEAVE) {
		/* The ack page is the subscriber's credential: whoever writes it
		 * may give its slot back. */
		bool held = slot_held(pub, slot);

		if (held)
			rc_pub_detach(pub, slot, RC_EVICT_CLOSED);
		answer(pub, slot, request, RC_JOIN_LEFT, 0, res);
		provider->ring(provider->ctx, slot, RC_JOIN_LEAVE);
		js->alive_at_join = false;
		if (provider->unbind)
			provider->unbind(provider->ctx, slot);
		return res->outcome = held ? RC_JOIN_OUTCOME_LEFT : RC_JOIN_OUTCOME_ANSWERED;
	}
	if (pub->closed)
		return refuse(pub, slot, request, RC_JOIN_CLOSED, js, provider, res);
	if (!provider->peer_acceptable(provider->ctx, slot, res->peer_id))
		return refuse(pub, slot, request, RC_JOIN_BAD_PEER, js, provider, res);
	/* Its slot stays as it is (evicted); it asks again with a new request. */
	if (js->not_before_ms && now_ms < js->not_before_ms)
		return refuse(pub, slot, request, RC_JOIN_BACKOFF, js, provider, res);
	return accept(pub, slot, page, request, js, provider, res);
}

/* ======================================================================== */
/* subscriber side                                                           */

uint32_t rc_join_ask(struct rc_ack_page *ack, const void *ring, uint32_t slot, uint32_t peer_id, bool mark_mapped)
{
	/* [V4] acquire (partner [V3]): only the number matters here. */
	uint32_t answered = slot < RC_MAX_SUBSCRIBERS
		? rc_load_acquire(&rc_ring_join_answer_const(ring, slot)->request) : 0;
	uint32_t request = rc_load_relaxed(&ack->join_request);

	request = (answered > request ? answered : request) + 1;
	if (request == 0)
		request = 1; /* after 2^32 requests; the publisher answers BAD_ORDER */
	if (mark_mapped)
		rc_store_relaxed(&ack->mapped, RC_ACK_MAPPED);
	rc_store_relaxed(&ack->join_peer_id, peer_id);
	/* [V2] mapped and peer id before the request; pairs with the
	 * publisher's acquire load [V2a] in rc_join_serve. */
	rc_store_release(&ack->join_request, request);
	return request;
}

int rc_join_answered(const void *ring, uint32_t slot, uint32_t request, uint32_t *verdict, uint64_t *generation)
{
	const struct rc_join_answer *a;

	if (slot >= RC_MAX_SUBSCRIBERS)
		return RC_EINVAL;
	a = rc_ring_join_answer_const(ring, slot);
	/* [V4] acquire: verdict, generation, the slot mirror and our ack
	 * page's line 0 were stored before; pairs with the publisher's [V3]. */
	if (rc_load_acquire(&a->request) != request)
		return RC_EAGAIN;
	*verdict = rc_load_relaxed(&a->verdict);
	*generation = *verdict == RC_JOIN_ACCEPTED ? rc_load_relaxed(&a->generation) : 0;
	return RC_OK;
}

int rc_join_attach(struct rc_subscriber *sub, const void *ring, uint64_t ring_size, void *ack, uint32_t slot,
		   uint64_t generation, int publisher_doorbell)
{
	int r = rc_sub_init(sub, ring, ring_size, ack, RC_ACK_PAGE_SIZE, publisher_doorbell);

	if (r != RC_OK)
		return r;
	/* The answer, the ack page (rc_sub_init read it) and the slot mirror
	 * must agree: a publisher that says otherwise is not believed. */
	if (sub->generation != generation || sub->slot != slot || rc_sub_slot_state(sub) == RC_SLOT_EVICTED)
		return RC_EINVAL;
	return RC_OK;
}
