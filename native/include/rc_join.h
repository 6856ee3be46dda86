/* SPDX-License-Identifier: MIT */
/*
 * The join, leave and death handshake through shared memory: the one
 * implementation, used by every region provider whose subscribers cannot
 * receive descriptors (ivshmem guests, Xen domains). Plain C, no Node, no
 * system calls: what differs between providers (ringing a doorbell, knowing
 * who a peer is, seeing that it is alive) comes in as callbacks.
 *
 * The memory involved (ringcast_layout.h):
 *   ack page line 3   subscriber -> publisher: join_request, join_peer_id,
 *                     mapped (hostile input to the publisher)
 *   join answer table publisher -> subscriber: one struct rc_join_answer per
 *                     slot in page 0 of the read-only ring
 * Barrier labels [V2] [V2a] [V3] [V4]: docs/memory-ordering.md. Normative
 * text: docs/protocol.md, "Attach through shared memory".
 *
 * Publisher side, per slot, whenever the slot's doorbell rang (or on a
 * timer: a ring may be lost):
 *
 *   struct rc_join_result res;
 *   rc_join_serve(pub, slot, ack_page, &my_slot.join, &provider, now_ms, &res);
 *   switch (res.outcome) { ... report ACCEPTED / REFUSED / LEFT / DEAD ... }
 *
 * and rc_join_death() when the provider itself learns that the slot's
 * subscriber died (ivshmem: its peer left the server; Xen: its domain's
 * XenStore node vanished, or its heartbeat stopped).
 *
 * Subscriber side: rc_join_ask() writes a request (a join, or a leave with
 * RC_JOIN_LEAVE), the caller rings the publisher, rc_join_answered() tells
 * when the answer is there, rc_join_attach() binds the subscriber after an
 * ACCEPTED verdict and checks the answer against the ring.
 */
#ifndef RC_JOIN_H
#define RC_JOIN_H

#include <stdbool.h>
#include <stdint.h>

#include "ringcast.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- publisher side ----------------------------------------------------- */

/* The publisher's private, authoritative view of one slot's handshake. Zero
 * it (rc_join_slot_reset) when the slot gets a new ack page: requests are
 * numbered per page. */
struct rc_join_slot {
	uint32_t last_seen_request; /* the join_request value last looked at      */
	uint32_t highest_answered;  /* a request must be above this: no replay    */
	uint64_t not_before_ms;     /* joins before then are refused BACKOFF
	                             * (rc_join_backoff; 0: none)                  */
	bool alive_at_join;         /* provider.alive was true for the request
	                             * accepted last: false later means death    */
	uint64_t joins;             /* stats: joins accepted                       */
	uint64_t rejected;          /* stats: requests refused                     */
};

/* What differs between providers. `ctx` is handed back to every callback. */
struct rc_join_provider {
	void *ctx;
	/* Wakes the subscriber behind `slot` so it reads its answer. `peer_id`
	 * is the one its request named (RC_JOIN_LEAVE for a leave: the peer
	 * bound to the slot, if any). Required. */
	void (*ring)(void *ctx, uint32_t slot, uint32_t peer_id);
	/* Whether `peer_id` may take `slot` (ivshmem: a live server peer
	 * configured or free for it; Xen: the slot's own domain). Required. */
	bool (*peer_acceptable)(void *ctx, uint32_t slot, uint32_t peer_id);
	/* The join is accepted: bind `peer_id` to `slot` and return the
	 * doorbell rc_pub_attach rings for it (an eventfd, a port). Required. */
	int (*bind)(void *ctx, uint32_t slot, uint32_t peer_id);
	/* The slot's subscriber left or died: forget what bind() bound (and
	 * the provider's hold on its ack page). May be NULL. */
	void (*unbind)(void *ctx, uint32_t slot);
	/* Whether the subscriber still maps its ack page (Xen: the `mapped`
	 * byte its kernel clears when the mapping goes away). Read after the
	 * acquire of join_request ([V2a]). false after true at the join: the
	 * subscriber died; a request beside false is a dead subscriber's and
	 * is never served. NULL: liveness is watched by the caller only. */
	bool (*alive)(void *ctx, uint32_t slot, const struct rc_ack_page *page);
	/* How long to put off judging a new join request of `peer_id`
	 * (ivshmem: a peer the server greeted but has not announced yet); 0:
	 * judge it now. The request is looked at again later. May be NULL. */
	uint32_t (*defer)(void *ctx, uint32_t slot, uint32_t peer_id, uint64_t now_ms);
};

enum rc_join_outcome {
	RC_JOIN_OUTCOME_NONE = 0,     /* nothing new in the ack page               */
	RC_JOIN_OUTCOME_DEFERRED = 1, /* a request waits: look again after retry_ms */
	RC_JOIN_OUTCOME_ACCEPTED = 2, /* the slot is attached (generation)         */
	RC_JOIN_OUTCOME_REFUSED = 3,  /* answered with a refusal (verdict)         */
	RC_JOIN_OUTCOME_LEFT = 4,     /* a leave freed the slot (reason CLOSED)    */
	RC_JOIN_OUTCOME_ANSWERED = 5, /* a leave of a slot held by nobody: answered
	                               * LEFT, nothing changed                     */
	RC_JOIN_OUTCOME_DEAD = 6,     /* provider.alive went false: the slot was
	                               * freed, reason DEAD                       */
};

struct rc_join_result {
	uint32_t outcome;      /* enum rc_join_outcome                        */
	uint32_t verdict;      /* enum rc_join_verdict answered (0: none)     */
	uint32_t peer_id;      /* the peer id the request named               */
	uint32_t retry_ms;     /* DEFERRED: look again after this long        */
	uint64_t generation;   /* ACCEPTED: the slot's new generation         */
};

/* Looks at `slot`'s ack page `page` (mapped writable by the publisher) and
 * serves a new request in it: validates it (order, peer, bus closed,
 * back-off), attaches or frees the slot of `pub`, answers in the ring's join
 * answer table ([V3]) and rings the subscriber. `now_ms`: the caller's
 * monotonic clock. Returns res->outcome. */
int rc_join_serve(struct rc_publisher *pub, uint32_t slot, struct rc_ack_page *page, struct rc_join_slot *js,
		  const struct rc_join_provider *provider, uint64_t now_ms, struct rc_join_result *res);

/* The provider learned that the subscriber of `slot` died (ivshmem: its
 * peer left the server; Xen: its domain vanished, its heartbeat stopped).
 * A leave it asked for before (a new request in `page`, which may be NULL)
 * is served first: it left, it did not die (outcome LEFT or ANSWERED).
 * Otherwise, if the slot is held: its doorbell is forgotten (never rung
 * again), it is evicted DEAD if still counted, then freed, reason DEAD (an
 * earlier eviction keeps its own reason), provider.unbind is called, and
 * the outcome is DEAD; NONE if the slot was free. Returns res->outcome. */
int rc_join_death(struct rc_publisher *pub, uint32_t slot, struct rc_ack_page *page, struct rc_join_slot *js,
		  const struct rc_join_provider *provider, uint64_t now_ms, struct rc_join_result *res);

/* The slot's subscriber was evicted (slow, protocol) repeatedly: its joins
 * are answered RC_JOIN_BACKOFF until `now_ms + wait_ms`. */
void rc_join_backoff(struct rc_join_slot *js, uint64_t now_ms, uint32_t wait_ms);

/* A new ack page for the slot: its requests start again from 1. */
void rc_join_slot_reset(struct rc_join_slot *js);

/* ---- subscriber side ---------------------------------------------------- */

/* Writes a new request into our ack page `ack` for ring slot `slot`:
 * `peer_id` (our own id to join, RC_JOIN_LEAVE to give the slot back),
 * then the request number, release ([V2]). The number is above both the
 * page's last request and the last one answered for the slot, so it is new
 * to the publisher after a restart on either side. `mark_mapped`: store
 * RC_ACK_MAPPED first (Xen: the publisher serves no request beside a clear
 * `mapped`). Returns the request number (never 0); ringing the publisher is
 * the caller's, after this. */
uint32_t rc_join_ask(struct rc_ack_page *ack, const void *ring, uint32_t slot, uint32_t peer_id, bool mark_mapped);

/* RC_EAGAIN until the publisher answered `request` for `slot` (acquire,
 * [V4]); then RC_OK with the verdict (and, if ACCEPTED, the generation). */
int rc_join_answered(const void *ring, uint32_t slot, uint32_t request, uint32_t *verdict, uint64_t *generation);

/* After an ACCEPTED answer: rc_sub_init on the ring and our ack page, then
 * checks that the answer, the ack page and the slot mirror agree (same slot,
 * same generation, not evicted already). RC_OK, or RC_EINVAL / rc_sub_init's
 * status. `publisher_doorbell` as rc_sub_init's. */
int rc_join_attach(struct rc_subscriber *sub, const void *ring, uint64_t ring_size, void *ack, uint32_t slot,
		   uint64_t generation, int publisher_doorbell);

#ifdef __cplusplus
}
#endif

#endif /* RC_JOIN_H */
